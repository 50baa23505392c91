"""Text to training windows in native code: the base tokenizer's Rust batch encoder, then the
codec's batched lossless windowing (both release the GIL and run on their own threads)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from zip2zip_tokenizers._core import CompressionConfig, LZWCompressor, TextTokenizer
from zip2zip_tokenizers.data.errors import DataError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from zip2zip_tokenizers.tokenizer import Zip2ZipTokenizer

DEFAULT_WINDOW = 1024


@dataclass
class WindowColumns:
    """Windows of a batch of documents as flat columns: window ``k`` holds
    ``ids[offsets[k]:offsets[k + 1]]`` and comes from document ``documents[k]`` (an index into
    the batch), covering its base tokens ``base_starts[k]`` to ``+ base_lengths[k]``."""

    ids: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, np.int32))
    offsets: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(1, np.int64))
    documents: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    base_starts: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    base_lengths: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.documents)

    @staticmethod
    def concat(parts: Sequence[WindowColumns], document_shifts: Sequence[int]) -> WindowColumns:
        """The parts one after the other, document indices of part ``i`` shifted by
        ``document_shifts[i]``."""
        if not parts:
            return WindowColumns()
        id_shifts = np.cumsum([0] + [len(part.ids) for part in parts[:-1]])
        return WindowColumns(
            ids=np.concatenate([part.ids for part in parts]),
            offsets=np.concatenate(
                [np.zeros(1, np.int64)]
                + [part.offsets[1:] + shift for part, shift in zip(parts, id_shifts, strict=True)]
            ),
            documents=np.concatenate(
                [p.documents + s for p, s in zip(parts, document_shifts, strict=True)]
            ),
            base_starts=np.concatenate([part.base_starts for part in parts]),
            base_lengths=np.concatenate([part.base_lengths for part in parts]),
        )


class Hypertokenizer:
    """Turns texts into lossless windows of at most ``window`` hypertokens.

    Holds only the base tokenizer's Rust backend (``tokenizers.Tokenizer``) and the codec, so
    it is cheap to send to worker processes and Ray actors (it pickles by reconstruction).
    Each document's base ids are the tokenizer's ids without special tokens, followed by the
    EOS id when ``append_eos`` (and the tokenizer has one).
    """

    def __init__(
        self,
        tokenizer_json: str,
        config: CompressionConfig,
        window: int = DEFAULT_WINDOW,
        suffix: Sequence[int] = (),
    ) -> None:
        if window < 1:
            raise DataError(f"window must be at least 1, got {window}")
        self._json = tokenizer_json
        self._loaded: Tokenizer | None = None
        self._native: TextTokenizer | None = None
        self._native_checked = False
        self._config = config
        self._compressor = LZWCompressor(config)
        self._window = window
        self._suffix = list(suffix)

    @property
    def _tokenizer(self) -> Tokenizer:
        """The Rust tokenizer, built on first use (a driver that only hands this object to
        worker processes never pays its memory)."""
        if self._loaded is None:
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_str(self._json)
            # A tokenizer.json may carry a model's truncation and padding (BERT's cuts at 512,
            # or 128); transformers switches them off, and so must we: a document is never cut.
            tokenizer.no_truncation()
            tokenizer.no_padding()
            self._loaded = tokenizer
        return self._loaded

    @property
    def native(self) -> TextTokenizer | None:
        """The native text encoder when it reproduces the tokenizer exactly (one native call
        from texts to windows), else ``None`` (logged once): the base tokenizer's Rust batch
        encoder runs, then the codec."""
        if not self._native_checked:
            from zip2zip_tokenizers.native_text import from_json

            self._native = from_json(self._json, "preprocess")
            self._native_checked = True
        return self._native

    def load(self) -> Hypertokenizer:
        """Builds the tokenizer now, e.g. before forking workers that then share it."""
        if self.native is None:
            self._tokenizer  # noqa: B018 (built on first access)
        return self

    @classmethod
    def from_tokenizer(
        cls, tokenizer: Zip2ZipTokenizer, window: int = DEFAULT_WINDOW, append_eos: bool = True
    ) -> Hypertokenizer:
        """From a ``Zip2ZipTokenizer`` whose base is a fast (Rust-backed) HF tokenizer."""
        backend = getattr(tokenizer.base_tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise DataError(
                "preprocessing needs a fast (Rust-backed) Hugging Face tokenizer; "
                f"{type(tokenizer.base_tokenizer).__name__} has no backend_tokenizer"
            )
        eos = tokenizer.eos_token_id
        suffix = [eos] if append_eos and eos is not None else []
        return cls(backend.to_str(), tokenizer.config, window, suffix)

    @classmethod
    def from_pretrained(
        cls,
        directory: str | os.PathLike[str],
        *,
        window: int = DEFAULT_WINDOW,
        append_eos: bool = True,
        **kwargs: Any,
    ) -> Hypertokenizer:
        """From a local HF tokenizer directory, with the codec settings ``Zip2ZipTokenizer``
        would use (``max_codebook_size``, ``max_subtokens``, ``disable_digits``, ``eviction``).
        Reads the
        files directly when it can, so that ``transformers`` (and torch) are not imported."""
        from zip2zip_tokenizers.data.light_tokenizer import Unsupported, codec_settings

        names = {"max_codebook_size", "max_subtokens", "disable_digits", "eviction"}
        if set(kwargs) <= names:
            try:
                tokenizer_json, config, eos = codec_settings(directory, **kwargs)
            except Unsupported:
                pass
            else:
                suffix = [eos] if append_eos and eos is not None else []
                return cls(tokenizer_json, config, window, suffix)
        from zip2zip_tokenizers.tokenizer import Zip2ZipTokenizer

        tokenizer = Zip2ZipTokenizer.from_pretrained(directory, **kwargs)
        return cls.from_tokenizer(tokenizer, window, append_eos)

    def __reduce__(self) -> tuple[type[Hypertokenizer], tuple[Any, ...]]:
        return (type(self), (self._json, self._config, self._window, self._suffix))

    @property
    def config(self) -> CompressionConfig:
        return self._config

    @property
    def window(self) -> int:
        return self._window

    @property
    def suffix(self) -> list[int]:
        return list(self._suffix)

    def fingerprint(self) -> str:
        """A digest of everything that decides the output (tokenizer, codec, window, suffix)."""
        digest = hashlib.sha256(self._json.encode("utf-8"))
        digest.update(self._config.to_json().encode("utf-8"))
        digest.update(f"{self._window}/{self._suffix}".encode())
        return digest.hexdigest()

    def base_ids(self, texts: list[str]) -> list[list[int]]:
        """Each text's base ids (without the suffix)."""
        tokenizer = self._tokenizer
        if hasattr(tokenizer, "encode_batch_fast"):
            encodings = tokenizer.encode_batch_fast(texts, add_special_tokens=False)
        else:  # tokenizers < 0.20
            encodings = tokenizer.encode_batch(texts, add_special_tokens=False)
        return [encoding.ids for encoding in encodings]

    def windows(self, texts: list[str]) -> tuple[WindowColumns, int]:
        """The windows of ``texts`` (an empty text has none) and the number of base tokens."""
        native = self.native
        if native is None:
            return self.windows_of_ids(self.base_ids(texts))
        windows = self._compressor.encode_text_windows(native, texts, self._window, self._suffix)
        columns = WindowColumns(
            windows.ids, windows.offsets, windows.rows, windows.base_starts, windows.base_lengths
        )
        return columns, int(windows.base_lengths.sum())

    def windows_of_ids(self, rows: list[list[int]]) -> tuple[WindowColumns, int]:
        """The windows of documents given as base ids (suffix not included)."""
        kept = [index for index, row in enumerate(rows) if row]
        count = len(rows)
        if len(kept) < count:
            rows = [rows[index] for index in kept]
        windows = self._compressor.batch_encode_windows(rows, self._window, self._suffix)
        documents = windows.rows
        if len(kept) < count:
            documents = np.asarray(kept, dtype=np.int64)[documents]
        columns = WindowColumns(
            windows.ids, windows.offsets, documents, windows.base_starts, windows.base_lengths
        )
        return columns, int(windows.base_lengths.sum())
