"""The codec settings of a tokenizer directory read without ``transformers``.

Importing ``transformers`` imports torch when it is installed (half a gigabyte of memory and
seconds of start-up), which a preprocessing driver does not need: the work is done by the
tokenizer's Rust backend (``tokenizer.json``). This reads the same files ``Zip2ZipTokenizer``
reads and derives the same config (a test checks they agree); directories it does not
understand fall back to ``Zip2ZipTokenizer``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from zip2zip_tokenizers._core import CompressionConfig

SPECIAL_KEYS = (
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
)


class Unsupported(Exception):
    """The directory needs the full ``transformers`` loader."""


def _content(token: Any) -> str | None:
    if token is None or isinstance(token, str):
        return token
    if isinstance(token, dict) and isinstance(token.get("content"), str):
        return str(token["content"])
    raise Unsupported(f"special token {token!r}")


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise Unsupported(str(path))
    return data


def codec_settings(
    directory: str | os.PathLike[str],
    *,
    max_codebook_size: int | None = None,
    max_subtokens: int | None = None,
    disable_digits: bool | None = None,
    eviction: str | None = None,
) -> tuple[str, CompressionConfig, int | None]:
    """``(tokenizer.json text, CompressionConfig, EOS id)`` as ``Zip2ZipTokenizer.from_pretrained``
    would derive them; ``Unsupported`` when that needs ``transformers``."""
    from tokenizers import Tokenizer

    from zip2zip_tokenizers.settings import read_config, resolve_codec

    path = Path(directory)
    if not (path / "tokenizer.json").is_file():
        raise Unsupported("no tokenizer.json")
    tokenizer_json = (path / "tokenizer.json").read_text(encoding="utf-8")
    backend = Tokenizer.from_str(tokenizer_json)
    config = _read_json(path / "tokenizer_config.json")
    specials = {**config, **_read_json(path / "special_tokens_map.json")}
    if config.get("tokenizer_class") not in (None, "PreTrainedTokenizerFast", "BertTokenizer"):
        raise Unsupported(f"tokenizer_class {config.get('tokenizer_class')!r}")
    if specials.get("additional_special_tokens"):
        raise Unsupported("additional_special_tokens")

    def token_id(key: str) -> int | None:
        content = _content(specials.get(key))
        return None if content is None else backend.token_to_id(content)

    special = {token_id(key) for key in SPECIAL_KEYS} - {None}
    added = set(backend.get_added_tokens_decoder())
    size = backend.get_vocab_size(with_added_tokens=True)
    eos = token_id("eos_token")
    pad = token_id("pad_token")

    codec, _ = resolve_codec(
        read_config(path),
        vocab_size=size,
        special_ids=sorted(i for i in special | added if i is not None and 0 <= i < size),
        digit_ids=lambda: _digit_ids(backend, size),
        default_pad=pad if pad is not None else eos,
        max_codebook_size=max_codebook_size,
        max_subtokens=max_subtokens,
        disable_digits=disable_digits,
        eviction=eviction,
    )
    return tokenizer_json, codec, eos


def _digit_ids(backend: Any, size: int) -> list[int]:
    texts = backend.decode_batch([[i] for i in range(size)], skip_special_tokens=False)
    digits = []
    for token_id, text in enumerate(texts):
        text = text.strip()
        if text.startswith("##"):
            text = text[2:]
        if backend.id_to_token(token_id) is not None and text and text.isdecimal():
            digits.append(token_id)
    return digits
