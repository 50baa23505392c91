"""Chat data: ``{"messages": [{"role": ..., "content": ...}, ...]}`` records rendered with the base
tokenizer's chat template, with the loss on the assistant turns only.

An assistant turn's span is found by rendering: the conversation up to that turn with the
generation prompt (where the reply starts) and up to and including it (where the turn, its
end-of-turn token included, ends). A base token is in the loss when it starts inside such a span;
a hypertoken when any of its base tokens is (it writes part of a reply).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from zip2zip_tokenizers._core import LZWCompressor
from zip2zip_tokenizers.data.errors import InputError
from zip2zip_tokenizers.data.formats import Task, expand_inputs, file_format
from zip2zip_tokenizers.data.readers import BadRecord, BadRecords, check_text, read_json_objects
from zip2zip_tokenizers.data.windowing import DEFAULT_WINDOW, Hypertokenizer
from zip2zip_tokenizers.slot_reads import id_spans
from zip2zip_tokenizers.tokenizer import Zip2ZipTokenizer
from zip2zip_tokenizers.torch.training.errors import TrainingError
from zip2zip_tokenizers.torch.training.text_data import described
from zip2zip_tokenizers.torch.training.windows import WindowDataset

Conversation = list[dict[str, Any]]
#: A rendered conversation: its base ids and their 0/1 loss mask.
Rendered = tuple[list[int], npt.NDArray[np.int8]]


def _render(tokenizer: Any, messages: Conversation, prompt: bool) -> str:
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=prompt)
    return str(text)


def assistant_spans(tokenizer: Any, messages: Conversation) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of its assistant turns."""
    text = _render(tokenizer, messages, False)
    spans = []
    for index, message in enumerate(messages):
        if message.get("role") != "assistant":
            continue
        start = len(_render(tokenizer, messages[:index], True)) if index else 0
        stop = len(_render(tokenizer, messages[: index + 1], False))
        if not text.startswith(_render(tokenizer, messages[: index + 1], False)):
            raise TrainingError(
                "the chat template renders a conversation differently from its prefixes "
                f"(turn {index}); assistant turns cannot be located"
            )
        spans.append((start, stop))
    return text, spans


def base_ids_and_mask(
    tokenizer: Any, messages: Conversation
) -> tuple[list[int], npt.NDArray[np.int8]]:
    """Base ids of the rendered conversation and a 0/1 loss mask over them."""
    text, spans = assistant_spans(tokenizer, messages)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    starts = np.asarray([start for start, _ in encoded["offset_mapping"]], dtype=np.int64)
    mask = np.zeros(len(starts), dtype=np.int8)
    for start, stop in spans:
        mask[(starts >= start) & (starts < stop)] = 1
    return list(encoded["input_ids"]), mask


def hyper_mask(
    compressor: LZWCompressor, ids: npt.NDArray[np.int64], base_mask: npt.NDArray[np.int8]
) -> npt.NDArray[np.int8]:
    """The loss mask of a window's ids from its base tokens' mask: 1 where any is 1."""
    spans = id_spans(compressor.config, ids)
    starts = np.concatenate([[0], np.cumsum(spans)[:-1]])
    return np.maximum.reduceat(base_mask, starts).astype(np.int8) if len(ids) else base_mask[:0]


def conversation(messages: object, location: str) -> Conversation | BadRecord:
    """``messages`` when it is a conversation to train on: a non-empty list of objects, each
    with a string ``role`` and ``content``; else why not, at ``location``."""
    if not isinstance(messages, list):
        return BadRecord(location, f"field 'messages' is not a list ({type(messages).__name__})")
    if not messages:
        return BadRecord(location, "field 'messages' is empty")
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            return BadRecord(location, f"messages[{index}] is not an object")
        for key in ("role", "content"):
            checked = check_text(message.get(key), f"messages[{index}].{key}", location)
            if isinstance(checked, BadRecord):
                return checked
    return messages


def _rendered(base_tokenizer: Any, messages: object, location: str) -> Rendered | BadRecord:
    from jinja2 import TemplateError  # transformers' chat templates need it; torch does not

    checked = conversation(messages, location)
    if isinstance(checked, BadRecord):
        return checked
    try:
        return base_ids_and_mask(base_tokenizer, checked)
    except TemplateError as error:  # the template's own raise_exception(...), an undefined name
        return BadRecord(location, f"the chat template refuses it ({error})")


def _template_tokenizer(tokenizer: Zip2ZipTokenizer) -> Any:
    base_tokenizer = tokenizer.base_tokenizer
    if getattr(base_tokenizer, "chat_template", None) is None:
        raise TrainingError(f"{type(base_tokenizer).__name__} has no chat template")
    return base_tokenizer


def chat_dataset(
    conversations: Iterable[Conversation],
    tokenizer: Zip2ZipTokenizer,
    *,
    window: int = DEFAULT_WINDOW,
    source: str = "the conversations",
) -> WindowDataset:
    """Lossless windows of the rendered conversations, the loss on assistant turns only. A
    conversation that is not one (see ``conversation``) or that the chat template refuses
    raises ``BadRecordError`` naming its index."""
    base_tokenizer = _template_tokenizer(tokenizer)
    rendered = (
        (index, _rendered(base_tokenizer, messages, f"conversation {index}"))
        for index, messages in enumerate(conversations)
    )
    return _dataset(BadRecords(strict=True).good(rendered), tokenizer, window, source, None)


def chat_file_dataset(
    paths: Sequence[str],
    tokenizer: Zip2ZipTokenizer,
    *,
    window: int = DEFAULT_WINDOW,
    strict: bool = False,
) -> WindowDataset:
    """``chat_dataset`` of the ``messages`` of every record of ``.jsonl[.gz|.zst]`` files
    (files, directories or globs). A bad record (not JSON, no valid ``messages``, refused by
    the chat template) is skipped and logged with its ``file:line`` (a warning), or with
    ``strict`` the first one raises ``BadRecordError``."""
    base_tokenizer = _template_tokenizer(tokenizer)
    bad = BadRecords(strict)

    def rendered(record: dict[str, Any], location: str) -> Rendered | BadRecord:
        if "messages" not in record:
            return BadRecord(location, "missing field 'messages'")
        return _rendered(base_tokenizer, record["messages"], location)

    rows = (
        row for task in _chat_tasks(paths) for row in bad.good(read_json_objects(task, rendered))
    )
    return _dataset(rows, tokenizer, window, f"the conversations of {', '.join(paths)}", bad)


def _dataset(
    rendered: Iterator[Rendered],
    tokenizer: Zip2ZipTokenizer,
    window: int,
    source: str,
    bad: BadRecords | None,
) -> WindowDataset:
    hypertokenizer = Hypertokenizer.from_tokenizer(tokenizer, window, append_eos=False)
    rows, masks = [], []
    for ids, mask in rendered:
        rows.append(ids)
        masks.append(mask)
    columns, _ = hypertokenizer.windows_of_ids(rows)
    loss_mask = np.zeros(len(columns.ids), dtype=np.int8)
    for k in range(len(columns)):
        span = slice(int(columns.offsets[k]), int(columns.offsets[k + 1]))
        start = int(columns.base_starts[k])
        base = masks[int(columns.documents[k])][start : start + int(columns.base_lengths[k])]
        loss_mask[span] = hyper_mask(tokenizer.compressor, columns.ids[span].astype(np.int64), base)
    return WindowDataset(
        columns.ids,
        columns.offsets,
        loss_mask,
        columns.base_lengths,
        tokenizer.config,
        source=described(source, f"{len(rows)} conversations", bad),
    )


def _whole_file(path: str) -> Task | None:
    """The task of reading all of a JSONL file (any compression); ``None`` for other formats."""
    fmt = file_format(path)
    return Task(path, path, fmt) if fmt.startswith("jsonl") else None


def _chat_tasks(paths: Sequence[str]) -> list[Task]:
    tasks = []
    for path in expand_inputs(list(paths)):
        task = _whole_file(path)
        if task is None:
            raise InputError(f"{path}: chat records are read from .jsonl[.gz|.zst] files only")
        tasks.append(task)
    return tasks


def is_chat_file(path: str) -> bool:
    """Whether the first JSON object of the first JSONL file ``path`` names has a
    ``messages`` field (lines that are no JSON object are passed over: they are bad records
    either way, reported when the data is read)."""
    task = _whole_file(expand_inputs([path])[0])
    if task is None:
        return False
    for _, value in read_json_objects(task, lambda record, _: "messages" in record):
        if not isinstance(value, BadRecord):
            return value
    return False
