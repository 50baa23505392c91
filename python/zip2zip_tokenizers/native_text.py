"""Chooses the native text encoder for a Hugging Face tokenizer when it reproduces it exactly.

``TextTokenizer`` (Rust) reads the tokenizer's ``tokenizer.json`` and gives the same ids as
Hugging Face ``tokenizers`` for byte-level BPE families (GPT-2, Llama-3, DeepSeek, Qwen,
SmolLM); it refuses anything else at load. When it refuses, or when ``transformers`` adds ids
of its own around the backend (checked on a probe text), callers keep the Hugging Face
tokenizer, and one log line says so: results are never different, only slower.
See docs/text-encoding.md.
"""

from __future__ import annotations

import logging
from typing import Any

from zip2zip_tokenizers._core import TextTokenizer, UnsupportedTokenizerError

logger = logging.getLogger("zip2zip_tokenizers")

#: Text whose ids both paths must agree on before the native one is used: scripts, digits,
#: whitespace runs, contractions, and every special token (appended by ``_probe``).
PROBE = "Hello,  world! It's 2026: 12345 apples\n\n\tcafé 中文 日本語 한국어 👩‍👩‍👧 e\u0301  "


def _probe(special_tokens: list[str]) -> str:
    return PROBE + " ".join(special_tokens) + " end"


def from_json(tokenizer_json: str, what: str) -> TextTokenizer | None:
    """The native encoder of ``tokenizer_json``, or ``None`` (logged) if it is not supported."""
    try:
        return TextTokenizer(tokenizer_json)
    except UnsupportedTokenizerError as error:
        logger.info("%s: Hugging Face tokenizers used for text (%s)", what, error)
        return None


def for_hf_tokenizer(tokenizer: Any) -> TextTokenizer | None:
    """The native encoder for a ``transformers`` tokenizer, or ``None`` (logged) when it is
    not a fast tokenizer, its ``tokenizer.json`` is not supported, or ``transformers`` would
    give other ids than its backend (checked on a probe text, with and without special
    tokens)."""
    name = type(tokenizer).__name__
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or getattr(tokenizer, "split_special_tokens", False):
        logger.info("%s: Hugging Face tokenizer used for text (no native equivalent)", name)
        return None
    native = from_json(backend.to_str(), name)
    if native is None:
        return None
    probe = _probe([str(t) for t in getattr(tokenizer, "all_special_tokens", [])])
    for add in (False, True):
        expected = tokenizer(probe, add_special_tokens=add, verbose=False)["input_ids"]
        if native.encode(probe, add).tolist() != list(expected):
            logger.info(
                "%s: Hugging Face tokenizer used for text (transformers adds ids of its own)",
                name,
            )
            return None
    return native
