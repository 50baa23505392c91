"""Chat data: ``{"messages": [{"role": ..., "content": ...}, ...]}`` records rendered with the base
tokenizer's chat template, with the loss on the assistant turns only.

An assistant turn's span is found by rendering: the conversation up to that turn with the
generation prompt (where the reply starts) and up to and including it (where the turn, its
end-of-turn token included, ends). A base token is in the loss when it starts inside such a span;
a hypertoken when any of its base tokens is (it writes part of a reply).
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, Any, cast

import numpy as np
import numpy.typing as npt

from zip2zip_tokenizers._core import LZWCompressor
from zip2zip_tokenizers.data.windowing import DEFAULT_WINDOW, Hypertokenizer
from zip2zip_tokenizers.tokenizer import Zip2ZipTokenizer
from zip2zip_tokenizers.torch.training.errors import TrainingError
from zip2zip_tokenizers.torch.training.windows import WindowDataset

Conversation = list[dict[str, Any]]


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
    vocab = compressor.config.initial_vocab_size
    _, codebook = compressor.decode_with_codebook(ids)
    entries = codebook.to_array()
    lengths = (entries >= 0).sum(1) if len(entries) else np.zeros(0, dtype=np.int64)
    hyper = ids >= vocab
    spans = np.ones(len(ids), dtype=np.int64)
    spans[hyper] = lengths[ids[hyper] - vocab]
    starts = np.concatenate([[0], np.cumsum(spans)[:-1]])
    return np.maximum.reduceat(base_mask, starts).astype(np.int8) if len(ids) else base_mask[:0]


def chat_dataset(
    conversations: Iterable[Conversation],
    tokenizer: Zip2ZipTokenizer,
    *,
    window: int = DEFAULT_WINDOW,
    source: str = "the conversations",
) -> WindowDataset:
    """Lossless windows of the rendered conversations, the loss on assistant turns only."""
    base_tokenizer = tokenizer.base_tokenizer
    if getattr(base_tokenizer, "chat_template", None) is None:
        raise TrainingError(f"{type(base_tokenizer).__name__} has no chat template")
    hypertokenizer = Hypertokenizer.from_tokenizer(tokenizer, window, append_eos=False)
    rows, masks = [], []
    for messages in conversations:
        ids, mask = base_ids_and_mask(base_tokenizer, messages)
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
        source=f"{source} ({len(rows)} conversations)",
    )


def _open(path: str) -> IO[bytes]:
    if path.endswith(".gz"):
        return cast(IO[bytes], gzip.open(path, "rb"))
    if path.endswith(".zst"):
        import zstandard

        raw = open(path, "rb")  # noqa: SIM115 (closed with the wrapper)
        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw, closefd=True))
    return open(path, "rb")


def read_conversations(paths: Sequence[str]) -> Iterator[Conversation]:
    """The ``messages`` of every record of ``.jsonl[.gz|.zst]`` files; a record without a list
    of messages is an error naming its line."""
    from zip2zip_tokenizers.data.formats import expand_inputs

    for path in expand_inputs(list(paths)):
        with _open(path) as file:
            for line, raw in enumerate(file, 1):
                if not raw.strip():
                    continue
                record = json.loads(raw)
                messages = record.get("messages") if isinstance(record, dict) else None
                if not isinstance(messages, list):
                    raise TrainingError(f"{path}:{line}: no 'messages' list")
                yield messages


def is_chat_file(path: str) -> bool:
    """Whether the first record of a JSONL file is a conversation."""
    from zip2zip_tokenizers.data.formats import expand_inputs

    for name in expand_inputs([path]):
        if ".jsonl" not in name:
            return False
        with _open(name) as file:
            for raw in file:
                if raw.strip():
                    record = json.loads(raw)
                    return isinstance(record, dict) and isinstance(record.get("messages"), list)
    return False
