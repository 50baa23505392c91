"""A drop-in Hugging Face tokenizer that emits hypertokens.

``Zip2ZipTokenizer`` wraps any ``PreTrainedTokenizerBase``: text goes through the base tokenizer,
then through the LZW codec (in native code, batches in parallel), so ``input_ids`` hold base ids
and hypertoken ids (``>= initial_vocab_size``) whose meaning is given by each sequence's own
codebook. Decoding expands hypertokens back to base ids and hands them to the base tokenizer, so
``decode(encode(text))`` is exactly the base tokenizer's own round trip.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from zip2zip_tokenizers._core import (
    Codebook,
    CompressionConfig,
    InvalidArgumentError,
    InvalidConfigError,
    InvalidTokenError,
    LZWCompressor,
    TextTokenizer,
)
from zip2zip_tokenizers.settings import (
    ConfigFile,
    codec_section,
    read_config,
    resolve_codec,
    write_config,
)
from zip2zip_tokenizers.slot_reads import id_spans

if TYPE_CHECKING:
    from transformers import BatchEncoding, PreTrainedTokenizerBase


PaddingArg = bool | Literal["longest", "max_length", "do_not_pad"]
TruncationArg = bool | Literal["longest_first", "only_first", "do_not_truncate"]
TensorType = Literal["np", "pt"]


def _padding_strategy(padding: PaddingArg) -> str:
    if padding is True or padding == "longest":
        return "longest"
    if padding is False or padding == "do_not_pad":
        return "do_not_pad"
    if padding == "max_length":
        return "max_length"
    raise InvalidArgumentError(
        f"padding must be True, False, 'longest', 'max_length' or 'do_not_pad', got {padding!r}"
    )


def _truncates(truncation: TruncationArg) -> bool:
    if truncation in (True, "longest_first", "only_first"):
        return True
    if truncation in (False, "do_not_truncate"):
        return False
    raise InvalidArgumentError(
        "truncation must be True, False, 'longest_first', 'only_first' or 'do_not_truncate', "
        f"got {truncation!r}"
    )


def _as_ids(ids: Any) -> Any:
    """Ids as something the codec reads: numpy arrays pass through, tensors become arrays, a
    lone id becomes a one-element list; anything else is checked by the codec itself."""
    if isinstance(ids, bool):
        raise TypeError("expected integer ids, got bool")
    if isinstance(ids, (int, np.integer)):
        return [int(ids)]
    if hasattr(ids, "detach") and hasattr(ids, "cpu"):  # a torch tensor
        return ids.detach().cpu().numpy()
    return ids


def import_transformers_quietly() -> None:
    """Imports ``transformers`` without its "PyTorch was not found" advice: a tokenizer needs no
    torch, so a user of ``Zip2ZipTokenizer`` alone should not be told to install it."""
    import importlib.util
    import sys

    if "transformers" in sys.modules or importlib.util.find_spec("torch") is not None:
        return
    previous = os.environ.get("TRANSFORMERS_NO_ADVISORY_WARNINGS")
    os.environ["TRANSFORMERS_NO_ADVISORY_WARNINGS"] = "1"
    try:
        import transformers  # noqa: F401
    finally:
        if previous is None:
            del os.environ["TRANSFORMERS_NO_ADVISORY_WARNINGS"]
        else:
            os.environ["TRANSFORMERS_NO_ADVISORY_WARNINGS"] = previous


def _id_list(ids: Any) -> list[int]:
    """A 1-D sequence of integer ids as a list of ints; floats, bools and strings raise
    ``TypeError`` (as the codec does), never truncated or cast."""
    array = np.asarray(_as_ids(ids))
    if array.ndim != 1:
        raise TypeError(f"expected a 1-D sequence of integer ids, got {array.ndim} dimensions")
    if array.dtype == object:
        bad = [x for x in array.tolist() if isinstance(x, bool) or not isinstance(x, int)]
        if bad:
            raise TypeError(f"expected integer ids, got {type(bad[0]).__name__}")
    elif array.size and array.dtype.kind not in "iu":
        raise TypeError(f"expected integer ids, got dtype {array.dtype}")
    return [int(x) for x in array.tolist()]


def digit_token_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Ids of the tokens whose text, whitespace and WordPiece ``##`` aside, is only digits."""
    size = len(tokenizer)
    tokens = tokenizer.convert_ids_to_tokens(list(range(size)))
    texts = tokenizer.batch_decode([[i] for i in range(size)], clean_up_tokenization_spaces=False)
    digits = []
    for token_id, (token, text) in enumerate(zip(tokens, texts, strict=True)):
        text = text.strip()
        if text.startswith("##"):
            text = text[2:]
        if token is not None and text and text.isdecimal():
            digits.append(token_id)
    return digits


def default_padding_id(tokenizer: PreTrainedTokenizerBase) -> int | None:
    """The id padding means when no config says: the tokenizer's pad, else its EOS (the rule the
    authors' runtime follows too)."""
    pad = tokenizer.pad_token_id
    return int(pad) if pad is not None else tokenizer.eos_token_id


def special_token_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Every special or added token id (what the codec must never merge)."""
    ids = set(tokenizer.all_special_ids) | set(tokenizer.get_added_vocab().values())
    return sorted(i for i in ids if i is not None and 0 <= i < len(tokenizer))


class Zip2ZipTokenizer:
    """A hypertokenizing wrapper around a Hugging Face tokenizer.

    Build it with ``from_pretrained`` (a local directory, or an existing tokenizer object).
    It answers the usual calls — ``__call__``, ``encode``, ``decode``, ``batch_decode``,
    ``convert_ids_to_tokens``, ``save_pretrained`` — with hypertoken ids.
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        config: CompressionConfig,
        *,
        disable_digits: bool = False,
        native_text: bool = True,
    ) -> None:
        if config.initial_vocab_size < len(tokenizer):
            raise InvalidConfigError(
                f"initial_vocab_size {config.initial_vocab_size} is smaller than the base "
                f"tokenizer ({len(tokenizer)} tokens): base ids would collide with hypertokens"
            )
        self._tokenizer = tokenizer
        self._config = config
        self._compressor = LZWCompressor(config)
        self._disable_digits = disable_digits
        self._native_text = native_text
        self._text: TextTokenizer | None = None

    # ----------------------------------------------------------------- construction

    @classmethod
    def from_pretrained(
        cls,
        pretrained: str | os.PathLike[str] | PreTrainedTokenizerBase,
        *,
        max_codebook_size: int | None = None,
        max_subtokens: int | None = None,
        disable_digits: bool | None = None,
        initial_vocab_size: int | None = None,
        eviction: str | None = None,
        **tokenizer_kwargs: Any,
    ) -> Zip2ZipTokenizer:
        """Loads a local HF tokenizer directory (or wraps a tokenizer object).

        A ``zip2zip_config.json`` in the directory (ours, or the paper authors' format) supplies
        the codec config; explicit arguments override it. Without one, every special and added
        token is disabled, and so is every digit token when ``disable_digits`` is true.
        ``initial_vocab_size`` defaults to ``len(tokenizer)``; set it to the model's embedding
        rows when those exceed the tokenizer. ``eviction``: what a full codebook does with a new
        entry (``"none"``, the default: frozen; ``"lru"``: see docs/codec.md).
        """
        saved: ConfigFile | None = None
        if isinstance(pretrained, (str, os.PathLike)):
            import_transformers_quietly()
            from transformers import AutoTokenizer

            path = Path(pretrained)
            if not path.is_dir():
                raise FileNotFoundError(f"no tokenizer directory at {str(path)!r}")
            tokenizer: PreTrainedTokenizerBase = AutoTokenizer.from_pretrained(
                str(path), **tokenizer_kwargs
            )
            saved = read_config(path)
        elif callable(getattr(pretrained, "convert_ids_to_tokens", None)):
            tokenizer = pretrained
        else:
            raise TypeError(
                "pretrained must be a tokenizer directory or a Hugging Face tokenizer, got "
                f"{type(pretrained).__name__}"
            )
        config, digits = resolve_codec(
            saved,
            vocab_size=len(tokenizer),
            special_ids=special_token_ids(tokenizer),
            digit_ids=lambda: digit_token_ids(tokenizer),
            default_pad=default_padding_id(tokenizer),
            max_codebook_size=max_codebook_size,
            max_subtokens=max_subtokens,
            disable_digits=disable_digits,
            initial_vocab_size=initial_vocab_size,
            eviction=eviction,
        )
        return cls(tokenizer, config, disable_digits=digits)

    def save_pretrained(
        self, save_directory: str | os.PathLike[str], **kwargs: Any
    ) -> tuple[str, ...]:
        """Writes the base tokenizer and ``zip2zip_config.json`` (keeping any other keys, such as
        a model's encoder settings, already in that file). Returns the written file names."""
        directory = Path(save_directory)
        directory.mkdir(parents=True, exist_ok=True)
        files = tuple(self._tokenizer.save_pretrained(str(directory), **kwargs))
        path = write_config(directory, codec_section(self._config, self._disable_digits))
        return (*files, str(path))

    # ----------------------------------------------------------------- properties

    @property
    def base_tokenizer(self) -> PreTrainedTokenizerBase:
        return self._tokenizer

    @property
    def config(self) -> CompressionConfig:
        return self._config

    @property
    def compressor(self) -> LZWCompressor:
        return self._compressor

    @property
    def initial_vocab_size(self) -> int:
        return self._config.initial_vocab_size

    @property
    def vocab_size(self) -> int:
        """``V + C``: the size of the extended vocabulary a model predicts over."""
        return self._config.total_vocab_size

    def __len__(self) -> int:
        return self._config.total_vocab_size

    @property
    def pad_token_id(self) -> int | None:
        return self._config.pad_token_id

    @property
    def eos_token_id(self) -> int | None:
        eos: int | None = self._tokenizer.eos_token_id
        return eos

    @property
    def bos_token_id(self) -> int | None:
        bos: int | None = self._tokenizer.bos_token_id
        return bos

    @property
    def padding_side(self) -> str:
        side: str = self._tokenizer.padding_side
        return side

    @padding_side.setter
    def padding_side(self, side: str) -> None:
        if side not in ("left", "right"):
            raise InvalidArgumentError(f"padding_side must be 'left' or 'right', got {side!r}")
        self._tokenizer.padding_side = side

    @property
    def model_max_length(self) -> int:
        length: int = self._tokenizer.model_max_length
        return length

    def __repr__(self) -> str:
        return (
            f"Zip2ZipTokenizer(base={type(self._tokenizer).__name__}, "
            f"initial_vocab_size={self._config.initial_vocab_size}, "
            f"max_codebook_size={self._config.max_codebook_size}, "
            f"max_subtokens={self._config.max_subtokens}, "
            f"disabled_ids=<{len(self._config.disabled_ids)}>)"
        )

    # ----------------------------------------------------------------- encoding

    @property
    def text_tokenizer(self) -> TextTokenizer | None:
        """The native encoder used for text when it gives exactly the base tokenizer's ids
        (byte-level BPE families; checked once, on first use), else ``None``: the base
        tokenizer then runs, then the codec (docs/text-encoding.md)."""
        if self._native_text:
            from zip2zip_tokenizers.native_text import for_hf_tokenizer

            self._text = for_hf_tokenizer(self._tokenizer)
            self._native_text = False
        return self._text

    def _hypertoken_rows(
        self, texts: list[str], add_special_tokens: bool
    ) -> list[npt.NDArray[np.int64]]:
        native = self.text_tokenizer
        if not texts:
            return []
        with _valid_text(texts):
            if native is not None:
                return self._compressor.encode_texts(native, texts, add_special_tokens)
            return self._compressor.batch_encode(self._base_ids(texts, add_special_tokens))

    def _base_ids(self, texts: list[str], add_special_tokens: bool) -> list[list[int]]:
        encoded = self._tokenizer(
            texts,
            add_special_tokens=add_special_tokens,
            padding=False,
            truncation=False,
            return_attention_mask=False,
            return_token_type_ids=False,
            verbose=False,
        )
        ids: list[list[int]] = encoded["input_ids"]
        return ids

    def __call__(
        self,
        text: str | Sequence[str],
        *,
        add_special_tokens: bool = True,
        padding: PaddingArg = False,
        truncation: TruncationArg = False,
        max_length: int | None = None,
        return_tensors: TensorType | None = None,
        padding_side: Literal["left", "right"] | None = None,
        return_attention_mask: bool = True,
    ) -> BatchEncoding:
        """Tokenizes and hypertokenizes a string or a batch of strings.

        ``max_length``, padding and truncation count hypertokens (model steps). The attention
        mask comes from the sequence lengths, never from ids, so a real EOS stays visible even
        when the pad token is the EOS token.
        """
        from transformers import BatchEncoding

        single = isinstance(text, str)
        texts: list[str] = [text] if isinstance(text, str) else list(text)
        if not all(isinstance(t, str) for t in texts):
            raise TypeError("text must be a string or a sequence of strings")
        strategy = _padding_strategy(padding)
        truncate = _truncates(truncation)
        if strategy == "max_length" and max_length is None:
            raise InvalidArgumentError("padding='max_length' needs max_length")
        if max_length is not None and max_length < 0:
            raise InvalidArgumentError(f"max_length must be non-negative, got {max_length}")
        side = padding_side or self._tokenizer.padding_side
        if side not in ("left", "right"):
            raise InvalidArgumentError(f"padding_side must be 'left' or 'right', got {side!r}")

        if return_tensors not in (None, "np", "pt"):
            raise InvalidArgumentError(
                f"return_tensors must be None, 'np' or 'pt', got {return_tensors!r}"
            )

        rows = self._hypertoken_rows(texts, add_special_tokens)
        if truncate:
            limit = max_length if max_length is not None else self.model_max_length
            rows = [row[:limit] for row in rows]
        lengths = [len(row) for row in rows]
        width = None
        if strategy == "longest":
            width = max(lengths, default=0)
        elif strategy == "max_length" and max_length is not None:
            width = max(max(lengths, default=0), max_length)
        elif return_tensors is not None:
            if len(set(lengths)) > 1:
                raise InvalidArgumentError(
                    "sequences have different lengths; pass padding=True to return tensors"
                )
            width = max(lengths, default=0)
        data: dict[str, Any]
        if width is None:
            ids = [row.tolist() for row in rows]
            data = {"input_ids": ids[0] if single else ids}
            if return_attention_mask:
                masks = [[1] * n for n in lengths]
                data["attention_mask"] = masks[0] if single else masks
            return BatchEncoding(data)
        id_matrix, mask_matrix = self._collate(rows, width, side)
        if return_tensors is None:
            data = {"input_ids": id_matrix.tolist(), "attention_mask": mask_matrix.tolist()}
            if single:
                data = {key: value[0] for key, value in data.items()}
        else:
            data = {"input_ids": id_matrix, "attention_mask": mask_matrix}
        if not return_attention_mask:
            del data["attention_mask"]
        return BatchEncoding(data, tensor_type=return_tensors)

    def _collate(
        self, rows: list[npt.NDArray[np.int64]], width: int, side: str
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Rows padded to ``width`` on ``side``, and their attention mask (1 = real token)."""
        pad = self._config.pad_token_id
        if pad is None and any(len(row) < width for row in rows):
            raise InvalidArgumentError(
                "asking to pad but the tokenizer has neither a pad token nor an EOS token"
            )
        ids = np.full((len(rows), width), pad if pad is not None else 0, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for index, row in enumerate(rows):
            span = slice(width - len(row), width) if side == "left" else slice(0, len(row))
            ids[index, span] = row
            mask[index, span] = 1
        return ids, mask

    def encode(
        self,
        text: str,
        *,
        add_special_tokens: bool = True,
        truncation: TruncationArg = False,
        max_length: int | None = None,
    ) -> list[int]:
        """The hypertoken ids of one string."""
        encoded = self(
            text,
            add_special_tokens=add_special_tokens,
            truncation=truncation,
            max_length=max_length,
            return_attention_mask=False,
        )
        ids: list[int] = encoded["input_ids"]
        return ids

    def apply_chat_template(
        self,
        conversation: Sequence[dict[str, Any]],
        *,
        tokenize: bool = True,
        add_generation_prompt: bool = False,
        return_tensors: TensorType | None = None,
        **template_kwargs: Any,
    ) -> Any:
        """A conversation rendered with the base tokenizer's chat template: the text
        (``tokenize=False``), or its hypertoken ids (the template's own special tokens already
        in the text, none added), a ``[1, T]`` array or tensor with ``return_tensors``."""
        text = self._tokenizer.apply_chat_template(
            list(conversation),
            tokenize=False,
            add_generation_prompt=add_generation_prompt,
            **template_kwargs,
        )
        if not tokenize:
            return str(text)
        if return_tensors is None:
            return self.encode(str(text), add_special_tokens=False)
        return self(str(text), add_special_tokens=False, return_tensors=return_tensors)["input_ids"]

    def encode_with_codebook(
        self, text: str, *, add_special_tokens: bool = True
    ) -> tuple[list[int], Codebook]:
        """The hypertoken ids of one string and the codebook that gives them meaning."""
        native = self.text_tokenizer
        with _valid_text([text]):
            base: Any = (
                native.encode(text, add_special_tokens)
                if native is not None
                else self._base_ids([text], add_special_tokens)[0]
            )
        ids, codebook = self._compressor.encode_with_codebook(base)
        return ids.tolist(), codebook

    # ----------------------------------------------------------------- decoding

    def to_base_ids(self, ids: Any) -> list[int]:
        """Expands a hypertoken sequence to base ids (raises ``InvalidTokenError`` if invalid)."""
        base: list[int] = self._compressor.decode(_as_ids(ids)).tolist()
        return base

    def decode(
        self,
        token_ids: Any,
        skip_special_tokens: bool = False,
        **kwargs: Any,
    ) -> str:
        """Text of a hypertoken sequence (list, numpy array or tensor of ids)."""
        text = self._tokenizer.decode(
            self.to_base_ids(token_ids), skip_special_tokens=skip_special_tokens, **kwargs
        )
        return str(text)

    def batch_decode(
        self,
        sequences: Iterable[Any],
        skip_special_tokens: bool = False,
        **kwargs: Any,
    ) -> list[str]:
        """Texts of a batch of hypertoken sequences (a 2-D array or tensor, or a list of them)."""
        sequences = _as_ids(sequences)
        rows: Any = (
            sequences.astype(np.int64, copy=False)
            if isinstance(sequences, np.ndarray) and sequences.ndim == 2
            else [_as_ids(row) for row in sequences]
        )
        base = [row.tolist() for row in self._compressor.batch_decode(rows)]
        texts: list[str] = self._tokenizer.batch_decode(
            base, skip_special_tokens=skip_special_tokens, **kwargs
        )
        return texts

    def convert_ids_to_tokens(
        self,
        ids: int | Sequence[int] | Any,
        skip_special_tokens: bool = False,
        *,
        codebook: Codebook | None = None,
    ) -> str | list[str]:
        """Token strings; a hypertoken shows as the concatenation of its base tokens' strings.

        For a sequence, hypertokens are resolved by the sequence's own codebook (with eviction,
        by the entry each id stood for where it was read); a lone hypertoken id needs the
        ``codebook`` it belongs to.
        """
        if isinstance(ids, (int, np.integer)) and not isinstance(ids, bool):
            return self._token_strings([int(ids)], codebook, skip_special_tokens, single=True)[0]
        values = _id_list(ids)
        if codebook is None and self._config.eviction != "none":
            return self._read_strings(values, skip_special_tokens)
        if codebook is None:
            _, codebook = self._compressor.decode_with_codebook(values)
        return self._token_strings(values, codebook, skip_special_tokens, single=False)

    def _read_strings(self, ids: list[int], skip_special_tokens: bool) -> list[str]:
        """An evicting codebook may give one id several entries within a sequence: each id is
        shown as what it stood for where it was read, cut from the sequence's base ids."""
        base = self._compressor.decode(ids).tolist()
        spans = id_spans(self._config, np.asarray(ids, dtype=np.int64)).tolist()
        special = set(self._tokenizer.all_special_ids)
        out: list[str] = []
        start = 0
        for token_id, span in zip(ids, spans, strict=True):
            pieces, start = base[start : start + span], start + span
            if skip_special_tokens and token_id in special:
                continue
            strings = self._tokenizer.convert_ids_to_tokens(pieces)
            out.append("".join(piece or "" for piece in strings))
        return out

    def _token_strings(
        self,
        ids: list[int],
        codebook: Codebook | None,
        skip_special_tokens: bool,
        single: bool,
    ) -> list[str]:
        special = set(self._tokenizer.all_special_ids)
        out: list[str] = []
        for token_id in ids:
            if skip_special_tokens and token_id in special:
                continue
            if 0 <= token_id < self.initial_vocab_size:
                pieces = [token_id]
            elif not 0 <= token_id < self._config.total_vocab_size:
                raise InvalidTokenError(
                    f"invalid token id {token_id}: ids must be between 0 and "
                    f"{self._config.total_vocab_size - 1}"
                )
            elif codebook is None:
                raise InvalidTokenError(
                    f"hypertoken {token_id} has no meaning without its sequence's codebook"
                )
            else:
                pieces = codebook.subtokens(token_id)
            strings = self._tokenizer.convert_ids_to_tokens(pieces)
            out.append("".join(piece or "" for piece in strings))
        if single and not out:
            return [""]
        return out


@contextlib.contextmanager
def _valid_text(texts: Sequence[Any]) -> Iterator[None]:
    """Turns the error a text that is not valid Unicode (a lone surrogate: no UTF-8 encoding)
    raises inside a Hugging Face tokenizer (a ``TypeError``) into the ``InvalidArgumentError``
    naming the text and the character that the native text encoder raises. Texts are looked at
    only after a failure, so valid ones cost nothing."""
    try:
        yield
    except TypeError as error:
        for row, text in enumerate(texts):
            if not isinstance(text, str):
                continue
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as bad:
                raise InvalidArgumentError(f"text {row} is not valid Unicode: {bad}") from error
        raise
