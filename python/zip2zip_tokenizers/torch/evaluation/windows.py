"""Rolling windows over a document's base tokens, as lm-eval's ``loglikelihood_rolling`` cuts
them: every base token is a target of exactly one window, each window is scored on its own
(here: with its own codebook), and each window's bytes are the UTF-8 bytes of the text its
targets cover."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from zip2zip_tokenizers._core import CompressionConfig
from zip2zip_tokenizers.torch.evaluation.errors import EvaluationError


@dataclass(frozen=True)
class Window:
    """Window ``index`` of a document: ``base`` is the prefix id followed by the targets, base
    tokens ``base_start`` up to ``base_start + len(base) - 1`` of the document; it covers bytes
    ``byte_start`` up to ``byte_stop`` of the text."""

    index: int
    base: np.ndarray
    base_start: int
    byte_start: int
    byte_stop: int

    @property
    def targets(self) -> int:
        return len(self.base) - 1

    @property
    def bytes(self) -> int:
        return self.byte_stop - self.byte_start


@dataclass(frozen=True)
class TokenizedText:
    """A text's base ids, the UTF-8 offset where each token starts, and the text's byte size."""

    ids: np.ndarray
    byte_starts: np.ndarray
    total_bytes: int


def char_to_byte_offsets(text: str) -> np.ndarray:
    """``[len(text) + 1]``: the UTF-8 byte offset of each character and of the end."""
    points = np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype=np.uint32)
    widths = 1 + (points >= 0x80) + (points >= 0x800) + (points >= 0x10000)
    offsets = np.zeros(len(points) + 1, dtype=np.int64)
    np.cumsum(widths, out=offsets[1:])
    return offsets


def tokenize(tokenizer: Any, text: str) -> TokenizedText:
    """Base ids of ``text`` (no special tokens) with the byte offset where each one starts.

    Offsets come from a fast tokenizer's offset mapping; a slow tokenizer's are found by
    decoding prefixes. Offsets are made non-decreasing (byte-level tokens that split one
    character share its start)."""
    total = len(text.encode("utf-8", errors="surrogatepass"))
    try:
        encoded = tokenizer(
            text, add_special_tokens=False, return_offsets_mapping=True, verbose=False
        )
        ids = np.asarray(encoded["input_ids"], dtype=np.int64)
        chars = np.asarray([start for start, _ in encoded["offset_mapping"]], dtype=np.int64)
        starts = char_to_byte_offsets(text)[np.minimum(chars, len(text))]
    except NotImplementedError:
        ids = np.asarray(tokenizer.encode(text, add_special_tokens=False), dtype=np.int64)
        starts = np.asarray(
            [len(tokenizer.decode(ids[:i].tolist()).encode("utf-8")) for i in range(len(ids))],
            dtype=np.int64,
        )
    if len(starts):
        starts[0] = 0
        starts = np.minimum(np.maximum.accumulate(starts), total)
    return TokenizedText(ids=ids, byte_starts=starts, total_bytes=total)


def prefix_token_id(tokenizer: Any, config: CompressionConfig) -> int:
    """The id every window starts with (BOS, else EOS, as lm-eval); it must be a disabled id, so
    that it is emitted alone and every window's codebook starts empty."""
    prefix = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else None
    if prefix is None:
        prefix = tokenizer.eos_token_id
    if prefix is None:
        raise EvaluationError("the tokenizer has neither a BOS nor an EOS token to start windows")
    if not config.is_disabled(int(prefix)):
        raise EvaluationError(
            f"the window prefix token {prefix} is not a disabled id of the codec: it would merge "
            "with the first target"
        )
    return int(prefix)


def rolling_windows(text: TokenizedText, window: int, prefix: int) -> list[Window]:
    """Consecutive windows of at most ``window`` targets each, every one preceded by ``prefix``
    (lm-eval's first rolling window, repeated: no token of a previous window is context)."""
    if window < 2:
        raise EvaluationError(f"window must be at least 2 base tokens, got {window}")
    out = []
    count = len(text.ids)
    for index, start in enumerate(range(0, count, window)):
        stop = min(start + window, count)
        byte_start = 0 if start == 0 else int(text.byte_starts[start])
        byte_stop = text.total_bytes if stop == count else int(text.byte_starts[stop])
        base = np.concatenate([[prefix], text.ids[start:stop]]).astype(np.int64)
        out.append(Window(index, base, start, byte_start, byte_stop))
    return out
