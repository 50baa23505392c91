"""The one owner of ``zip2zip_config.json``: reads, validates, resolves and writes it for the
tokenizer, the model checkpoints, the data pipeline and the command line (standard library only).

The file is a JSON object (format documented in ``docs/config-file.md``)::

    {
      "format_version": 2,
      "compression": {"initial_vocab_size": ..., "max_codebook_size": ..., "max_subtokens": ...,
                      "disabled_ids": [...] | null, "eviction": "lru" (only when not "none")},
      "base_model_name_or_path": ..., "encoder_type": ..., "encoder": {...},
      "position_mode": "compressed" | "sequential" | "base_token_end"
    }

That is the paper authors' layout, so their files read here and, since their loader refuses
keys it does not know, what their format has no place for lives beside it in
``zip2zip_tokenizers_config.json`` (our own section: ``pad_token_id``, ``disable_digits`` and a
checkpoint's ``kwkwk_slot``). The one exception is an eviction policy other than ``"none"``:
it goes into ``compression``, where their loader refuses it by name instead of running a frozen
codebook that reads the ids differently once full. Files written before that section
moved out (it used to be the key ``zip2zip_tokenizers`` inside the main file) still read, and
are migrated when rewritten. Keys this module does not know are kept as they are. Reading is
strict: a value of the wrong type, a missing required key or an out-of-range value raises
:class:`ConfigFileError` naming the file and the key; nothing is ever silently replaced by a
default.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zip2zip_tokenizers._core import CompressionConfig, InvalidConfigError, Zip2ZipError

CONFIG_NAME = "zip2zip_config.json"
# Our own settings, beside the authors' file (their loader refuses keys it does not know).
OWN_CONFIG_NAME = "zip2zip_tokenizers_config.json"
FORMAT_VERSION = 2
DEFAULT_MAX_CODEBOOK_SIZE = 2048
DEFAULT_MAX_SUBTOKENS = 4
# Digit tokens are never merged unless asked: the zip2zip++ recipe's setting (v0.4, +23 points
# on GSM8K), so text preprocessed, a model trained and a tokenizer loaded with the defaults agree.
DEFAULT_DISABLE_DIGITS = True
# A frozen codebook: the authors' codec, and the only policy their format can express.
DEFAULT_EVICTION = "none"
EVICTION_POLICIES: tuple[str, ...] = CompressionConfig.EVICTION_POLICIES
# Our own section (the content of OWN_CONFIG_NAME); the authors' format has no place for these.
OWN_SECTION = "zip2zip_tokenizers"
# How the about-to-be-created hypertoken slot (LZW's KwKwK case) is scored: with its own entry
# (ours) or -inf (the authors' runtime and training recipe).
KWKWK_SLOT_RULES = ("scored", "masked")
# The authors' runtime calls sequential positions "compressed".
POSITION_MODES = {
    "sequential": "sequential",
    "compressed": "sequential",
    "base_token_end": "base_token_end",
}
REQUIRED_COMPRESSION_KEYS = ("initial_vocab_size", "max_codebook_size", "max_subtokens")


class ConfigFileError(InvalidConfigError):
    """A ``zip2zip_config.json`` that can not be read: not JSON, not an object, a key missing, a
    value of the wrong type or out of range. The message names the file and the key."""


class CodecMismatchError(Zip2ZipError):
    """Two parts of a run (a model and its data, a checkpoint and a tokenizer) were made with
    different codec settings; the message names every field that differs."""


@dataclass(frozen=True)
class SavedCodec:
    """The codec settings a file holds, exactly as saved (``None``: not saved)."""

    initial_vocab_size: int
    max_codebook_size: int
    max_subtokens: int
    disabled_ids: tuple[int, ...] | None
    pad_token_id: int | None
    disable_digits: bool | None
    eviction: str | None = None

    def compression_config(self, pad_token_id: int | None = None) -> CompressionConfig:
        """The ``CompressionConfig`` these settings describe; ``pad_token_id`` stands in for a
        pad id the file does not hold."""
        return CompressionConfig(
            self.initial_vocab_size,
            self.max_codebook_size,
            self.max_subtokens,
            list(self.disabled_ids or []) or None,
            self.pad_token_id if self.pad_token_id is not None else pad_token_id,
            self.eviction or DEFAULT_EVICTION,
        )


@dataclass(frozen=True)
class ModelSection:
    """The model keys of a checkpoint's file (``position_mode`` already mapped to ours), with
    the KwKwK rule our own section adds (``None``: not saved, as in the authors' checkpoints)."""

    base_model_name_or_path: str | None
    encoder_type: str
    encoder: dict[str, Any]
    position_mode: str
    kwkwk_slot: str | None = None


@dataclass(frozen=True)
class ConfigFile:
    """A validated ``zip2zip_config.json``: its codec settings, its model keys (checkpoints
    only) and every key as read (``data``)."""

    path: Path
    codec: SavedCodec | None
    model: ModelSection | None
    data: dict[str, Any] = field(repr=False)


def config_path(location: str | os.PathLike[str]) -> Path:
    """The file itself, for a directory or a path to the file."""
    path = Path(location)
    return path / CONFIG_NAME if path.is_dir() or path.name != CONFIG_NAME else path


def own_config_path(location: str | os.PathLike[str]) -> Path:
    """Our own settings file beside the ``zip2zip_config.json`` of ``location``."""
    return config_path(location).with_name(OWN_CONFIG_NAME)


# ----------------------------------------------------------------------------------- validation


def _fail(path: Path, key: str, problem: str) -> ConfigFileError:
    return ConfigFileError(f"{path}: {key}: {problem}")


def _int(path: Path, key: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(path, key, f"expected an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise _fail(path, key, f"must be >= {minimum}, got {value}")
    return value


def _optional_int(path: Path, key: str, value: Any) -> int | None:
    return None if value is None else _int(path, key, value, minimum=0)


def _object(path: Path, key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path, key, f"expected a JSON object, got {type(value).__name__}")
    return value


def _codec(path: Path, data: dict[str, Any], own_path: Path) -> SavedCodec | None:
    if "compression" not in data:
        if OWN_SECTION in data:
            raise _fail(path, "compression", "missing (the file has a zip2zip_tokenizers section)")
        return None
    compression = _object(path, "compression", data["compression"])
    for key in REQUIRED_COMPRESSION_KEYS:
        if key not in compression:
            raise _fail(path, f"compression.{key}", "missing")
    vocab = _int(
        path, "compression.initial_vocab_size", compression["initial_vocab_size"], minimum=1
    )
    disabled = compression.get("disabled_ids")
    if disabled is not None:
        if not isinstance(disabled, list):
            raise _fail(path, "compression.disabled_ids", "expected a list of ids or null")
        disabled = tuple(
            _int(path, f"compression.disabled_ids[{i}]", v, minimum=0)
            for i, v in enumerate(disabled)
        )
        for i, v in enumerate(disabled):
            if v >= vocab:
                raise _fail(
                    path, f"compression.disabled_ids[{i}]", f"{v} >= initial_vocab_size {vocab}"
                )
    own = _object(own_path, OWN_SECTION, data.get(OWN_SECTION, {}))
    pad = _optional_int(own_path, f"{OWN_SECTION}.pad_token_id", own.get("pad_token_id"))
    if pad is not None and pad >= vocab:
        key = f"{OWN_SECTION}.pad_token_id"
        raise _fail(own_path, key, f"{pad} >= initial_vocab_size {vocab}")
    digits = own.get("disable_digits")
    if digits is not None and not isinstance(digits, bool):
        raise _fail(
            own_path, f"{OWN_SECTION}.disable_digits", f"expected true or false, got {digits!r}"
        )
    eviction = compression.get("eviction")
    if eviction is not None and eviction not in EVICTION_POLICIES:
        raise _fail(
            path,
            "compression.eviction",
            f"expected one of {list(EVICTION_POLICIES)}, got {eviction!r}",
        )
    return SavedCodec(
        initial_vocab_size=vocab,
        max_codebook_size=_int(
            path, "compression.max_codebook_size", compression["max_codebook_size"], minimum=0
        ),
        max_subtokens=_int(
            path, "compression.max_subtokens", compression["max_subtokens"], minimum=1
        ),
        disabled_ids=disabled,
        pad_token_id=pad,
        disable_digits=digits,
        eviction=eviction,
    )


def _model(path: Path, data: dict[str, Any], own_path: Path) -> ModelSection | None:
    if "encoder_type" not in data:
        for key in ("encoder", "position_mode"):
            if key in data:
                raise _fail(path, "encoder_type", f"missing (the file has {key!r})")
        return None
    encoder_type = data["encoder_type"]
    if not isinstance(encoder_type, str):
        raise _fail(path, "encoder_type", f"expected a string, got {encoder_type!r}")
    encoder = _object(path, "encoder", data.get("encoder", {}))
    mode = data.get("position_mode", "sequential")
    if mode is None:
        mode = "sequential"
    if mode not in POSITION_MODES:
        raise _fail(
            path, "position_mode", f"unknown value {mode!r}; known: {sorted(POSITION_MODES)}"
        )
    base = data.get("base_model_name_or_path")
    if base is not None and not isinstance(base, str):
        raise _fail(path, "base_model_name_or_path", f"expected a string or null, got {base!r}")
    own = _object(own_path, OWN_SECTION, data.get(OWN_SECTION, {}))
    rule = own.get("kwkwk_slot")
    if rule is not None and rule not in KWKWK_SLOT_RULES:
        raise _fail(
            own_path,
            f"{OWN_SECTION}.kwkwk_slot",
            f"expected one of {KWKWK_SLOT_RULES}, got {rule!r}",
        )
    return ModelSection(base, encoder_type, encoder, POSITION_MODES[mode], rule)


def parse_config(data: Any, path: Path, own_path: Path | None = None) -> ConfigFile:
    """Validates the decoded content of ``path`` (see the module doc); ``data[OWN_SECTION]``, when
    present, was read from ``own_path`` (default: inside ``path``)."""
    if not isinstance(data, dict):
        raise ConfigFileError(f"{path}: expected a JSON object, got {type(data).__name__}")
    if "format_version" in data:
        version = _int(path, "format_version", data["format_version"], minimum=1)
        if version > FORMAT_VERSION:
            raise _fail(
                path,
                "format_version",
                f"{version} is newer than this package reads ({FORMAT_VERSION}); upgrade it",
            )
    own_path = own_path or path
    return ConfigFile(path, _codec(path, data, own_path), _model(path, data, own_path), data)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigFileError(f"{path}: not valid JSON ({error})") from None


def read_config(location: str | os.PathLike[str]) -> ConfigFile | None:
    """The validated ``zip2zip_config.json`` of a directory (or at a path) with our own section
    from the file beside it (``data[OWN_SECTION]``), ``None`` when there is no such file."""
    path = config_path(location)
    if not path.is_file():
        return None
    data = _read_json(path)
    own_path = own_config_path(path)
    if not own_path.is_file() or not isinstance(data, dict):
        return parse_config(data, path)
    own = _object(own_path, OWN_SECTION, _read_json(own_path))
    inline = _object(path, OWN_SECTION, data.get(OWN_SECTION, {}))
    return parse_config({**data, OWN_SECTION: {**inline, **own}}, path, own_path)


# ----------------------------------------------------------------------------------- resolving


def resolve_codec(
    saved: ConfigFile | None,
    *,
    vocab_size: int,
    special_ids: Sequence[int],
    digit_ids: Callable[[], list[int]],
    default_pad: int | None,
    max_codebook_size: int | None = None,
    max_subtokens: int | None = None,
    disable_digits: bool | None = None,
    initial_vocab_size: int | None = None,
    eviction: str | None = None,
) -> tuple[CompressionConfig, bool]:
    """The codec config, and whether digits are disabled, for a tokenizer with the given facts.

    Every argument left ``None`` means "as saved", then the package default. Without saved
    ``disabled_ids`` (or when ``disable_digits`` is given) every special and added token is
    disabled, and every digit token too when digits are disabled.
    """
    codec = saved.codec if saved is not None else None
    if disable_digits is not None:
        digits = disable_digits
    elif codec is not None and codec.disable_digits is not None:
        digits = codec.disable_digits
    else:
        # A saved list of disabled ids (the authors' files) says which ids, not whether digits.
        digits = DEFAULT_DISABLE_DIGITS if codec is None or codec.disabled_ids is None else False
    if codec is not None and codec.disabled_ids is not None and disable_digits is None:
        disabled = list(codec.disabled_ids)
    else:
        disabled = sorted(set(special_ids) | (set(digit_ids()) if digits else set()))
    pad = (
        codec.pad_token_id if codec is not None and codec.pad_token_id is not None else default_pad
    )

    def pick(given: int | None, stored: int | None, default: int) -> int:
        return given if given is not None else stored if stored is not None else default

    config = CompressionConfig(
        initial_vocab_size=pick(
            initial_vocab_size, codec.initial_vocab_size if codec else None, vocab_size
        ),
        max_codebook_size=pick(
            max_codebook_size, codec.max_codebook_size if codec else None, DEFAULT_MAX_CODEBOOK_SIZE
        ),
        max_subtokens=pick(
            max_subtokens, codec.max_subtokens if codec else None, DEFAULT_MAX_SUBTOKENS
        ),
        disabled_ids=disabled,
        pad_token_id=pad,
        eviction=(
            eviction
            if eviction is not None
            else codec.eviction
            if codec is not None and codec.eviction is not None
            else DEFAULT_EVICTION
        ),
    )
    return config, digits


def codec_differences(
    expected: CompressionConfig, got: CompressionConfig
) -> list[tuple[str, Any, Any]]:
    """``(field, expected value, got value)`` for every codec field that differs."""
    fields = (
        "initial_vocab_size",
        "max_codebook_size",
        "max_subtokens",
        "disabled_ids",
        "eviction",
    )
    out = []
    for name in fields:
        a, b = getattr(expected, name), getattr(got, name)
        if name == "disabled_ids":
            a, b = sorted(a), sorted(b)
        if a != b:
            out.append((name, a, b))
    return out


def describe_differences(
    differences: Sequence[tuple[str, Any, Any]], *, expected_from: str, got_from: str
) -> str:
    """``name: expected (expected_from) vs got (got_from)`` for each difference, long lists cut."""

    def short(value: Any) -> str:
        if isinstance(value, list) and len(value) > 8:
            return f"[{len(value)} ids: {value[:4]}...]"
        return repr(value)

    return "; ".join(
        f"{name}: {short(a)} ({expected_from}) vs {short(b)} ({got_from})"
        for name, a, b in differences
    )


def check_same_codec(
    expected: CompressionConfig,
    got: CompressionConfig,
    *,
    expected_from: str,
    got_from: str,
    advice: str = "",
) -> None:
    """Raises ``CodecMismatchError`` naming each differing field and both sources, then
    ``advice`` (what to do about it)."""
    differences = codec_differences(expected, got)
    if not differences:
        return
    details = describe_differences(differences, expected_from=expected_from, got_from=got_from)
    raise CodecMismatchError(
        f"{got_from} was made with other codec settings than {expected_from}: {details}"
        + (f"; {advice}" if advice else "")
    )


# ----------------------------------------------------------------------------------- writing


def compression_section(config: CompressionConfig) -> dict[str, Any]:
    """The ``compression`` key of ``config``: the authors' keys, and ``eviction`` only when a
    full codebook evicts (their loader then refuses the file by name)."""
    section: dict[str, Any] = {
        "initial_vocab_size": config.initial_vocab_size,
        "max_codebook_size": config.max_codebook_size,
        "max_subtokens": config.max_subtokens,
        "disabled_ids": list(config.disabled_ids),
    }
    if config.eviction != DEFAULT_EVICTION:
        section["eviction"] = config.eviction
    return section


def codec_section(config: CompressionConfig, disable_digits: bool) -> dict[str, Any]:
    """The keys that hold ``config`` in the file (``compression`` and our own section)."""
    return {
        "compression": compression_section(config),
        OWN_SECTION: {"pad_token_id": config.pad_token_id, "disable_digits": disable_digits},
    }


def write_config(location: str | os.PathLike[str], updates: dict[str, Any]) -> Path:
    """Merges ``updates`` (top-level keys; our own section merged key by key) into the files of
    ``location`` (created when missing, validated when present) and writes each atomically,
    ``zip2zip_config.json`` with this package's ``format_version``. Our own section goes to
    ``zip2zip_tokenizers_config.json`` beside it, so the main file holds only keys of the
    authors' format. The result is validated before anything is written."""
    path = config_path(location)
    own_path = own_config_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = read_config(path)
    data: dict[str, Any] = dict(existing.data) if existing is not None else {}
    for key, value in updates.items():
        if key == OWN_SECTION and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    data["format_version"] = FORMAT_VERSION
    parse_config(data, path, own_path)
    own = data.pop(OWN_SECTION, None)
    if own is not None:
        write_json_atomically(own_path, own)
    write_json_atomically(path, data)
    return path


def write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    """Writes ``data`` to ``path`` under a temporary name, then renames it into place."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(temporary, path)
