"""Raw text to training windows on the fly (no preprocessing step): ``.txt`` (one document per
file), ``.jsonl[.gz|.zst]`` and ``.parquet`` through the data pipeline's own readers, then the
same native windowing ``preprocess`` uses, so the windows equal the shards it would write."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from zip2zip_tokenizers.data.windowing import DEFAULT_WINDOW, Hypertokenizer, WindowColumns
from zip2zip_tokenizers.tokenizer import Zip2ZipTokenizer
from zip2zip_tokenizers.torch.training.windows import WindowDataset

BATCH_DOCUMENTS = 256


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
) -> WindowDataset:
    """Lossless windows of at most ``window`` ids of each text (every position in the loss),
    each document ending with the EOS token when ``append_eos``."""
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
        source=f"{source} ({documents} documents)",
    )


def file_texts(paths: Sequence[str], text_field: str = "text") -> Iterable[str]:
    """The documents of input files (as ``preprocess`` reads them); bad records are skipped
    here (``preprocess`` reports them with their location)."""
    from zip2zip_tokenizers.data.formats import expand_inputs, plan_tasks
    from zip2zip_tokenizers.data.readers import read_task

    for task in plan_tasks(expand_inputs(list(paths)), 1 << 62, text_field):
        for _, value in read_task(task, text_field):
            if isinstance(value, str):
                yield value


def file_dataset(
    paths: Sequence[str],
    tokenizer: Zip2ZipTokenizer,
    *,
    window: int = DEFAULT_WINDOW,
    text_field: str = "text",
    append_eos: bool = True,
) -> WindowDataset:
    """Windows of the documents in ``paths`` (files, directories or globs)."""
    return text_dataset(
        file_texts(paths, text_field),
        tokenizer,
        window=window,
        append_eos=append_eos,
        source=f"the text of {', '.join(map(str, paths))}",
    )
