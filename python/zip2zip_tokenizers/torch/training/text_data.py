"""Raw text to training windows on the fly (no preprocessing step): ``.txt`` (one document per
file), ``.jsonl[.gz|.zst]`` and ``.parquet`` through the data pipeline's own readers, then the
same native windowing ``preprocess`` uses, so the windows equal the shards it would write."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import numpy as np

from zip2zip_tokenizers.data.readers import BadRecords
from zip2zip_tokenizers.data.windowing import DEFAULT_WINDOW, Hypertokenizer, WindowColumns
from zip2zip_tokenizers.tokenizer import Zip2ZipTokenizer
from zip2zip_tokenizers.torch.training.windows import WindowDataset

BATCH_DOCUMENTS = 256

logger = logging.getLogger(__name__)


def described(source: str, items: str, bad: BadRecords | None) -> str:
    """A dataset's source with what it holds (``items``) and, when records were skipped, their
    count; their locations are logged then (a warning: ``preprocess`` puts the same tally in its
    report)."""
    if bad is None or not bad.count:
        return f"{source} ({items})"
    logger.warning("%s: %s", source, bad.summary())
    return f"{source} ({items}, {bad.counted()} skipped)"


def _windows(
    hypertokenizer: Hypertokenizer, texts: Iterable[str]
) -> tuple[list[WindowColumns], int]:
    parts: list[WindowColumns] = []
    batch: list[str] = []
    documents = 0
    for text in texts:
        batch.append(text)
        if len(batch) == BATCH_DOCUMENTS:
            parts.append(hypertokenizer.windows(batch)[0])
            documents, batch = documents + len(batch), []
    if batch:
        parts.append(hypertokenizer.windows(batch)[0])
        documents += len(batch)
    return parts, documents


def text_dataset(
    texts: Iterable[str],
    tokenizer: Zip2ZipTokenizer,
    *,
    window: int = DEFAULT_WINDOW,
    append_eos: bool = True,
    source: str = "the training texts",
    bad: BadRecords | None = None,
) -> WindowDataset:
    """Lossless windows of at most ``window`` ids of each text (every position in the loss),
    each document ending with the EOS token when ``append_eos``. ``bad`` is the tally of the
    records that ``texts`` skipped, logged once they are read."""
    if isinstance(texts, str):
        raise TypeError("texts must be an iterable of documents, not one str")
    hypertokenizer = Hypertokenizer.from_tokenizer(tokenizer, window, append_eos)
    parts, documents = _windows(hypertokenizer, texts)
    columns = WindowColumns.concat(parts, [0] * len(parts))
    return WindowDataset(
        columns.ids,
        columns.offsets,
        np.ones(len(columns.ids), dtype=np.int8),
        columns.base_lengths,
        tokenizer.config,
        source=described(source, f"{documents} documents", bad),
    )


def file_texts(paths: Sequence[str], bad: BadRecords, text_field: str = "text") -> Iterable[str]:
    """The documents of input files, read as ``preprocess`` reads them; every bad record is
    added to ``bad`` (which raises ``BadRecordError`` at the first when strict)."""
    from zip2zip_tokenizers.data.formats import expand_inputs, plan_tasks
    from zip2zip_tokenizers.data.readers import read_task

    for task in plan_tasks(expand_inputs(list(paths)), 1 << 62, text_field):
        yield from bad.good(read_task(task, text_field))


def file_dataset(
    paths: Sequence[str],
    tokenizer: Zip2ZipTokenizer,
    *,
    window: int = DEFAULT_WINDOW,
    text_field: str = "text",
    append_eos: bool = True,
    strict: bool = False,
) -> WindowDataset:
    """Windows of the documents in ``paths`` (files, directories or globs). Bad records are
    skipped and logged with their ``file:line`` (a warning), or with ``strict`` the first one
    raises ``BadRecordError``."""
    bad = BadRecords(strict)
    return text_dataset(
        file_texts(paths, bad, text_field),
        tokenizer,
        window=window,
        append_eos=append_eos,
        source=f"the text of {', '.join(map(str, paths))}",
        bad=bad,
    )
