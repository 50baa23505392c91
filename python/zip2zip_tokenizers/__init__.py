"""LZW hypertokens for any Hugging Face tokenizer (the zip2zip method).

The codec lives in the native module ``zip2zip_tokenizers._core``; ``Zip2ZipTokenizer`` (which
needs ``transformers``) is imported on first use, so ``import zip2zip_tokenizers`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zip2zip_tokenizers._core import (
    Alternatives,
    BatchCodebookState,
    BatchNewEntries,
    Codebook,
    CodebookState,
    CompressionConfig,
    Edges,
    IdsWithCodebook,
    InvalidArgumentError,
    InvalidCodebookError,
    InvalidConfigError,
    InvalidTokenError,
    InvalidTokenizerError,
    Lattice,
    LimitExceededError,
    LZWCompressor,
    NewEntries,
    TextTokenizer,
    TracedUpdate,
    UnsupportedTokenizerError,
    WindowBatch,
    Zip2ZipError,
    __version__,
    num_threads,
    parallelism_enabled,
    set_parallelism,
)

if TYPE_CHECKING:
    from zip2zip_tokenizers.tokenizer import Zip2ZipTokenizer

__all__ = [
    "Alternatives",
    "BatchCodebookState",
    "BatchNewEntries",
    "Codebook",
    "CodebookState",
    "CompressionConfig",
    "Edges",
    "IdsWithCodebook",
    "InvalidArgumentError",
    "InvalidCodebookError",
    "InvalidConfigError",
    "InvalidTokenError",
    "InvalidTokenizerError",
    "LZWCompressor",
    "Lattice",
    "LimitExceededError",
    "NewEntries",
    "TextTokenizer",
    "TracedUpdate",
    "UnsupportedTokenizerError",
    "WindowBatch",
    "Zip2ZipError",
    "Zip2ZipTokenizer",
    "__version__",
    "num_threads",
    "parallelism_enabled",
    "set_parallelism",
]


def __getattr__(name: str) -> Any:
    if name == "Zip2ZipTokenizer":
        from zip2zip_tokenizers.tokenizer import Zip2ZipTokenizer

        return Zip2ZipTokenizer
    raise AttributeError(f"module 'zip2zip_tokenizers' has no attribute {name!r}")
