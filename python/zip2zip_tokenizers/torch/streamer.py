"""Streaming generated text exactly: every increment is final, and together they are the text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

REPLACEMENT = "\ufffd"


class TextStreamer:
    """Receives the base ids a generation produces and emits text increments as they become
    final: a byte-level token that ends in the middle of a UTF-8 character is held back until
    the character is complete, so the increments concatenate to exactly the decoded text.

    ``on_text`` is called with each increment (default: print it). ``text`` is everything
    emitted so far.
    """

    def __init__(
        self,
        tokenizer: Any,
        *,
        skip_special_tokens: bool = True,
        on_text: Callable[[str], None] | None = None,
    ) -> None:
        self.tokenizer = getattr(tokenizer, "base_tokenizer", tokenizer)
        self.skip_special_tokens = skip_special_tokens
        self.on_text = on_text or (lambda text: print(text, end="", flush=True))
        self._ids: list[int] = []
        self.text = ""

    def put(self, base_ids: list[int]) -> None:
        """Adds the base ids of one generated id (a base token or a hypertoken)."""
        ids = base_ids.tolist() if hasattr(base_ids, "tolist") else list(base_ids)
        if any(isinstance(i, bool) or not isinstance(i, int) for i in ids):
            raise TypeError(f"put takes a flat sequence of base ids, got {base_ids!r}")
        self._ids.extend(ids)
        decoded = self._decode()
        stable = decoded.rstrip(REPLACEMENT) if decoded.endswith(REPLACEMENT) else decoded
        self._emit(stable)

    def end(self) -> None:
        """Flushes whatever is held back (a generation that stopped mid-character)."""
        self._emit(self._decode())

    def _decode(self) -> str:
        text: str = self.tokenizer.decode(self._ids, skip_special_tokens=self.skip_special_tokens)
        return text

    def _emit(self, decoded: str) -> None:
        if len(decoded) > len(self.text) and decoded.startswith(self.text):
            increment = decoded[len(self.text) :]
            self.text = decoded
            self.on_text(increment)
