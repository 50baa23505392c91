"""Saving and loading ``Zip2ZipForCausalLM`` checkpoints (safetensors only).

A checkpoint directory holds ``zip2zip_config.json``, ``zip2zip_encoders.safetensors``
(``input_encoder.*`` and, unless tied, ``output_encoder.*``), the PEFT adapter when there is one
(``adapter_config.json`` + ``adapter_model.safetensors``) and, when the base model is saved with
it, the base model itself (``base_model_name_or_path: "."``). This is the layout of the paper
authors' runtime (PyPI ``zip2zip`` 0.2.0, ``format_version`` 2): their checkpoints load here,
and ours load there unedited whenever the model fits their schema (see
``zip2zip_tokenizers.torch.authors_format``); what their schema has no place for goes to
``zip2zip_tokenizers_config.json`` beside it. Saving a model their runtime cannot load as it is
raises ``ModelMismatchError`` naming why with ``authors_compatible=True``, and warns
(:class:`AuthorsFormatWarning`) by default only for a model loaded from their checkpoint: one
that is likely to go back to their runtime.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from zip2zip_tokenizers.settings import (
    CONFIG_NAME,
    DEFAULT_EVICTION,
    OWN_SECTION,
    ConfigFileError,
    compression_section,
    config_path,
    read_config,
    write_config,
)
from zip2zip_tokenizers.torch.authors_format import encoder_config, encoder_section
from zip2zip_tokenizers.torch.errors import (
    AuthorsFormatWarning,
    InvalidEncoderConfigError,
    ModelMismatchError,
    NonFiniteWeightError,
)

if TYPE_CHECKING:
    from zip2zip_tokenizers.torch.model import Zip2ZipForCausalLM

ENCODERS_NAME = "zip2zip_encoders.safetensors"
ADAPTER_CONFIG_NAME = "adapter_config.json"
ADAPTER_WEIGHTS_NAME = "adapter_model.safetensors"
SELF_CONTAINED = "."
BASE_SUBFOLDER = "base_model"
# Their name for our "sequential" positions.
AUTHORS_POSITION_MODES = {"sequential": "compressed", "base_token_end": "base_token_end"}
# The training-only "is the next id a hypertoken" classifier, saved beside the encoders.
TOKEN_TYPE_HEAD = "token_type_head"
# A hub model id: a name, or an owner and a name ("HuggingFaceTB/SmolLM2-135M"); anything else
# (absolute, starting with "." or "~", two slashes, a backslash) can only be a local path.
HUB_MODEL_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")


def is_peft(model: nn.Module) -> bool:
    """Whether ``model`` is a peft ``PeftModel`` (wrapping the base model with an adapter)."""
    return type(model).__module__.startswith("peft")


def _plain_base(
    model: Any, state: dict[str, torch.Tensor] | None = None
) -> tuple[Any, dict[str, torch.Tensor] | None]:
    """The base model without its adapter, and the state dict to save it with: ``state`` (the
    base model's, adapter included when it has one; default: its live weights) with the adapter
    weights removed."""
    if not is_peft(model):
        return model, state
    plain = model.get_base_model()
    if state is None:
        state = plain.state_dict()
    else:
        # A PeftModel's keys are its LoRA model's ("base_model.") around the plain model's
        # ("model.").
        prefix = "base_model.model."
        state = {name[len(prefix) :]: t for name, t in state.items() if name.startswith(prefix)}
    return plain, {
        name.replace(".base_layer.", "."): tensor
        for name, tensor in state.items()
        if ".lora_" not in name and "modules_to_save" not in name
    }


def _retied(model: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with one tensor again for the names of each parameter ``model`` shares (tied
    embeddings), as in its own state dict: a state dict gathered from shards holds a copy per
    name, which would save the tied weight twice."""
    state = dict(state)
    first: dict[int, str] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        if name in state:
            state[name] = state[first.setdefault(id(param), name)]
    return state


def _part(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries of ``state`` under ``prefix.``, without it."""
    start = f"{prefix}."
    return {name[len(start) :]: t for name, t in state.items() if name.startswith(start)}


def locate_base(name: str, what: str, *, relative_to: Path | None = None) -> str:
    """The base model ``name`` stands for: an existing directory, looked for first under
    ``relative_to`` (a checkpoint's own folder: outputs written before base paths were saved
    absolute hold relative ones) then in the working directory, as an absolute path; else
    ``name`` itself when it can be a hub model id. Raises ``ModelMismatchError`` naming it when
    ``name`` can only be a local path and no such directory exists, instead of letting
    transformers take it for a hub id and retry a download."""
    path = Path(name).expanduser()
    places = [path] if path.is_absolute() or relative_to is None else [relative_to / path, path]
    for place in places:
        if place.is_dir():
            return str(place.resolve())
    if not HUB_MODEL_ID.fullmatch(name):
        looked = " nor ".join(repr(str(place)) for place in places)
        raise ModelMismatchError(f"{what}: no model directory at {name!r} (looked at {looked})")
    return name


def load_base_model(name: str, what: str, **model_kwargs: Any) -> Any:
    """``AutoModelForCausalLM.from_pretrained(name)`` for a name ``locate_base`` gave; a
    hub id that can not be loaded (no such model, offline) is a ``ModelMismatchError`` naming
    it and ``what`` (a local directory's own ``OSError`` names its file and passes through)."""
    from transformers import AutoModelForCausalLM

    try:
        return AutoModelForCausalLM.from_pretrained(name, **model_kwargs)
    except OSError as error:
        if Path(name).is_dir():
            raise
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelMismatchError(
            f"{what}: {name!r} is no local model directory, and no hub model of that id could be "
            f"loaded ({reason})"
        ) from None


def require_finite(tensors: dict[str, torch.Tensor], path: Path) -> None:
    """Raises ``NonFiniteWeightError`` naming ``path`` and the first tensor of ``tensors`` that
    holds a NaN or an infinity (a model loaded with one scores every text NaN)."""
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise NonFiniteWeightError(
                f"{path}: {name} holds {bad} NaN or infinite values (of {tensor.numel()}); the "
                "file is damaged or was saved from a run that diverged"
            )


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, each checked finite (``require_finite``)."""
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path))
    except Exception as error:  # safetensors raises its own error type for a damaged file
        raise ModelMismatchError(f"{path}: not a readable safetensors file ({error})") from None
    require_finite(tensors, path)
    return tensors


def require_base_model(name: str, what: str) -> None:
    """``ModelMismatchError`` naming ``what`` when the local directory ``name`` holds no
    Hugging Face model: no ``config.json`` that transformers reads, or no weights (a
    tokenizer-only directory has neither). A hub name is left to transformers."""
    from transformers import AutoConfig
    from transformers.utils import (
        SAFE_WEIGHTS_INDEX_NAME,
        SAFE_WEIGHTS_NAME,
        WEIGHTS_INDEX_NAME,
        WEIGHTS_NAME,
    )

    directory = Path(locate_base(name, what))
    if not directory.is_dir() or (directory / "adapter_config.json").is_file():
        return  # a hub name, or a PEFT adapter (its config names the base model)
    weights = (SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME, WEIGHTS_NAME, WEIGHTS_INDEX_NAME)
    missing = []
    if not (directory / "config.json").is_file():
        missing.append("config.json")
    if not any((directory / weight).is_file() for weight in weights):
        missing.append(f"weights ({', '.join(weights)})")
    if missing:
        raise ModelMismatchError(
            f"{what}: {name!r} is no Hugging Face model directory (no {' and no '.join(missing)})"
        )
    try:
        AutoConfig.from_pretrained(directory)
    except (ValueError, OSError) as error:  # no model_type, not JSON...
        raise ModelMismatchError(f"{what}: {directory / 'config.json'}: {error}") from None


def save_checkpoint(
    model: Zip2ZipForCausalLM,
    path: str | Path,
    *,
    save_base: bool | None,
    authors_compatible: bool | None = None,
    state_dict: dict[str, torch.Tensor] | None = None,
) -> None:
    """See ``Zip2ZipForCausalLM.save_pretrained``."""
    from safetensors.torch import save_file

    for flag, value in (("save_base", save_base), ("authors_compatible", authors_compatible)):
        if value is not None and not isinstance(value, bool):
            raise TypeError(f"{flag} must be True, False or None, got {value!r}")
    if state_dict is not None:
        state_dict = _retied(model, state_dict)

    def part(prefix: str, module: nn.Module) -> dict[str, torch.Tensor]:
        return module.state_dict() if state_dict is None else _part(state_dict, prefix)

    width = model.base_model.get_input_embeddings().weight.shape[1]
    encoder = encoder_section(model.encoder_config, width)
    problems = list(encoder.problems)
    if not model.compression.disabled_ids:
        problems.append("no disabled ids (their CompressionConfig requires at least one)")
    if model.compression.eviction != DEFAULT_EVICTION:
        problems.append(
            f"eviction={model.compression.eviction!r} (their codec freezes a full codebook, so "
            "it would read this model's ids differently once a codebook fills; their loader "
            "refuses compression.eviction by name)"
        )

    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    name = model.base_model_name_or_path
    if save_base is None:
        save_base = not name or name in (SELF_CONTAINED, BASE_SUBFOLDER)
    if save_base and is_peft(model.base_model):
        problems.append(
            "a base model saved in a subfolder beside a PEFT adapter (their loader reads "
            "base_model_name_or_path from the working directory); save it elsewhere and pass "
            "that directory as the base"
        )
    if problems:
        message = (
            f"{path}: the authors' runtime (zip2zip 0.2.0) cannot load this checkpoint "
            f"unedited: {'; '.join(problems)}"
        )
        if authors_compatible:
            raise ModelMismatchError(message)
        if authors_compatible is None and model.authors_origin:
            warnings.warn(message, AuthorsFormatWarning, stacklevel=3)
    if save_base:
        given = None if state_dict is None else _part(state_dict, "base_model")
        plain, state = _plain_base(model.base_model, given)
        # Beside an adapter, transformers would load the base from the adapter's own base path
        # (adapter_config.json), so a base saved with an adapter goes into a subfolder.
        reference = BASE_SUBFOLDER if is_peft(model.base_model) else SELF_CONTAINED
        target = directory / reference
        plain.save_pretrained(str(target), state_dict=state, safe_serialization=True)
    else:
        assert name is not None
        local = Path(name).expanduser()
        reference = str(local.resolve()) if local.is_dir() else name
        if is_peft(model.base_model):
            # The adapter's own config names the base too (peft and the authors' runtime read
            # it): the same absolute path, so the checkpoint loads from any working directory.
            for adapter in model.base_model.peft_config.values():
                adapter.base_model_name_or_path = reference
    if is_peft(model.base_model):
        adapter = None if state_dict is None else _part(state_dict, "base_model")
        model.base_model.save_pretrained(
            str(directory), safe_serialization=True, state_dict=adapter
        )

    modules = [("input_encoder", model.input_encoder)]
    if not model.encoder_config.tie_encoders:
        modules.append(("output_encoder", model.output_encoder))
    if model.token_type_head is not None:
        modules.append((TOKEN_TYPE_HEAD, model.token_type_head))
    tensors = {
        f"{prefix}.{k}": v for prefix, module in modules for k, v in part(prefix, module).items()
    }
    save_file(
        {k: v.detach().contiguous().cpu() for k, v in tensors.items()}, directory / ENCODERS_NAME
    )

    compression = model.compression
    write_config(
        directory,
        {
            "base_model_name_or_path": reference,
            "position_mode": AUTHORS_POSITION_MODES[model.position_mode],
            "encoder_type": encoder.encoder_type,
            "encoder": encoder.encoder,
            "compression": compression_section(compression),
            OWN_SECTION: {
                "pad_token_id": compression.pad_token_id,
                "kwkwk_slot": model.kwkwk_slot,
                "token_type_head": model.token_type_head is not None,
            },
        },
    )


def load_checkpoint(
    cls: type[Zip2ZipForCausalLM],
    path: str | Path,
    *,
    base_model: str | Path | nn.Module | None = None,
    trainable: bool = False,
    **model_kwargs: Any,
) -> Zip2ZipForCausalLM:
    """Loads a checkpoint directory; ``base_model`` (a directory or a model) overrides the base
    model the config names; ``trainable`` loads the adapter to train further (peft's
    ``is_trainable``); ``model_kwargs`` go to ``AutoModelForCausalLM.from_pretrained``. Every
    weight file read here is checked finite (``NonFiniteWeightError``)."""
    directory = Path(path)
    saved = read_config(directory)
    if saved is None:
        raise FileNotFoundError(f"{str(directory)!r} is not a zip2zip checkpoint: no {CONFIG_NAME}")
    path = config_path(directory)
    if saved.codec is None or saved.model is None:
        missing = "compression" if saved.codec is None else "encoder_type"
        raise ModelMismatchError(f"{path} is not a checkpoint's config: it has no {missing!r}")
    codec = saved.codec
    try:
        encoder = encoder_config(saved.model.encoder_type, saved.model.encoder)
    except InvalidEncoderConfigError as error:
        raise ConfigFileError(f"{path}: encoder: {error}") from None
    pad = codec.pad_token_id
    if pad is None and encoder.kind.startswith("authors_"):
        pad = _authors_padding_id(directory, saved.model.base_model_name_or_path)
    compression = codec.compression_config(pad)
    position_mode = saved.model.position_mode
    # The authors' checkpoints say nothing: their runtime and training mask the slot.
    kwkwk_slot = saved.model.kwkwk_slot or "masked"

    reference = saved.model.base_model_name_or_path
    what = f"the base model of {path}"
    name = None
    if base_model is None:
        if not reference:
            raise ModelMismatchError(f"{path} names no base model; pass base_model=")
        name = locate_base(reference, what, relative_to=directory)
    elif isinstance(base_model, (str, Path)):
        name = locate_base(str(base_model), "base_model")
    if name is not None:
        base_model = load_base_model(name, what, **model_kwargs)
    if (directory / ADAPTER_CONFIG_NAME).is_file():
        from peft import PeftModel

        if (directory / ADAPTER_WEIGHTS_NAME).is_file():
            read_weights(directory / ADAPTER_WEIGHTS_NAME)
        base_model = PeftModel.from_pretrained(
            cast(nn.Module, base_model), str(directory), is_trainable=trainable
        )
    model = cls(
        base_model,
        compression,
        encoder,
        position_mode=position_mode,  # type: ignore[arg-type]
        kwkwk_slot=kwkwk_slot,  # type: ignore[arg-type]
        base_model_name_or_path=(
            reference if reference in (SELF_CONTAINED, BASE_SUBFOLDER) else name
        ),
        token_type_head=_saved_flag(saved.data, TOKEN_TYPE_HEAD, path),
    )
    model.authors_origin = saved.model.kwkwk_slot is None
    _load_encoders(model, directory / ENCODERS_NAME)
    return model


def _authors_padding_id(directory: Path, reference: str | None) -> int:
    """The padding id the authors' runtime gives their older encoders: the pad of the base
    model's tokenizer, else its EOS (read from the checkpoint when it holds a tokenizer)."""
    from transformers import AutoTokenizer

    from zip2zip_tokenizers.tokenizer import default_padding_id

    for place in (directory, Path(reference) if reference else None):
        if place is None or not (place / "tokenizer_config.json").is_file():
            continue
        pad = default_padding_id(AutoTokenizer.from_pretrained(str(place)))
        if pad is not None:
            return int(pad)
    raise ModelMismatchError(
        f"{directory}: its encoder reads the padding id, which neither the checkpoint nor a local "
        "base tokenizer gives (their runtime takes the base tokenizer's pad, else its EOS)"
    )


def _saved_flag(data: dict[str, Any], key: str, path: Path) -> bool:
    value = data.get(OWN_SECTION, {}).get(key, False)
    if not isinstance(value, bool):
        raise ModelMismatchError(f"{path}: {OWN_SECTION}.{key}: expected true or false")
    return value


def _load_encoders(model: Zip2ZipForCausalLM, path: Path) -> None:
    if not path.is_file():
        raise ModelMismatchError(f"no {ENCODERS_NAME} in {str(path.parent)!r}")
    tensors = read_weights(path)
    parts: dict[str, dict[str, torch.Tensor]] = {
        "input_encoder": {},
        "output_encoder": {},
        TOKEN_TYPE_HEAD: {},
    }
    for key, tensor in tensors.items():
        prefix, _, rest = key.partition(".")
        if prefix not in parts:
            raise ModelMismatchError(f"{path.name}: unexpected tensor {key!r}")
        parts[prefix][rest] = tensor
    targets = [("input_encoder", model.input_encoder)]
    if not model.encoder_config.tie_encoders:
        targets.append(("output_encoder", model.output_encoder))
    elif parts["output_encoder"]:
        raise ModelMismatchError(f"{path.name} has output_encoder.* tensors but tie_encoders")
    if model.token_type_head is not None:
        targets.append((TOKEN_TYPE_HEAD, model.token_type_head))
    elif parts[TOKEN_TYPE_HEAD]:
        raise ModelMismatchError(f"{path.name} has {TOKEN_TYPE_HEAD}.* tensors but its config none")
    for prefix, module in targets:
        expected = module.state_dict()
        got = parts[prefix]
        missing = sorted(set(expected) - set(got))
        unexpected = sorted(set(got) - set(expected))
        wrong = sorted(k for k in set(expected) & set(got) if expected[k].shape != got[k].shape)
        not_float = sorted(
            k
            for k in set(expected) & set(got)
            if expected[k].is_floating_point() and not got[k].is_floating_point()
        )
        if not_float:
            raise ModelMismatchError(
                f"{path}: {prefix}.{not_float[0]} holds {got[not_float[0]].dtype} values where "
                "weights are floating point (a cast would silently change them)"
            )
        if missing or unexpected or wrong:
            raise ModelMismatchError(
                f"{path.name} does not fit the {prefix} of this base model and config: missing "
                f"{missing[:5]}, unexpected {unexpected[:5]}, wrong shapes "
                f"{[(k, tuple(got[k].shape), tuple(expected[k].shape)) for k in wrong[:5]]}"
            )
        module.load_state_dict(got)
