"""Our hyper-encoder settings in the paper authors' checkpoint schema (PyPI ``zip2zip`` 0.2.0).

Their ``res_latent_attn`` encoder is our ``kind="transformer"`` with three rules fixed: it
always has a learnable position embedding (whatever its ``position_encoding`` key says; their
runtime writes ``null``), it pools at the last base token exactly when ``causal``, and it has
input/output projections exactly when it is narrower than the model. A model that keeps those
rules is written with their keys only, so their loader (which refuses keys it does not know)
reads it unedited. Otherwise our differing keys are written too, which their loader refuses by
name instead of building a different encoder, and :func:`authors_format_problems` says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zip2zip_tokenizers.torch.encoders import HyperEncoderConfig
from zip2zip_tokenizers.torch.errors import ModelMismatchError

AUTHORS_TRANSFORMER = "res_latent_attn"
# Their two older encoder types, loaded as our "authors_*" kinds (see authors_encoders).
OLDER_TYPES = {"transformer": "authors_transformer", "attention": "authors_attention"}
# Our MLP encoder's type (their runtime has none; its loader refuses it by name).
MLP = "mlp"
# Our "no position embedding" (their null means "learnable" for res_latent_attn).
NO_POSITIONS = "none"
# Every key of their ResLatentAttnConfig.
AUTHORS_KEYS = (
    "hidden_size",
    "model_hidden_size",
    "num_hidden_layers",
    "intermediate_size",
    "num_heads",
    "causal",
    "residual",
    "tie_encoders",
    "position_encoding",
)


@dataclass(frozen=True)
class EncoderSection:
    """``encoder_type`` and ``encoder`` of ``zip2zip_config.json``, and what keeps the authors'
    runtime from loading it (empty: it loads unedited)."""

    encoder_type: str
    encoder: dict[str, Any]
    problems: tuple[str, ...]


def encoder_section(config: HyperEncoderConfig, model_hidden_size: int) -> EncoderSection:
    """How ``config`` (resolved for ``model_hidden_size``) is written."""
    if config.kind == "mean":
        return EncoderSection(
            "mean",
            {"tie_encoders": config.tie_encoders},
            ("the masked-mean encoder (kind='mean') has no counterpart in their runtime",),
        )
    config = config.resolved(model_hidden_size)
    if config.kind == "mlp":
        return EncoderSection(
            MLP,
            {
                "hidden_size": config.hidden_size,
                "num_hidden_layers": config.num_hidden_layers,
                "residual": config.residual,
                "input_residual": config.input_residual,
                "tie_encoders": config.tie_encoders,
            },
            ("the MLP encoder (kind='mlp') has no counterpart in their runtime",),
        )
    if config.kind in OLDER_TYPES.values():
        return _older_section(config)
    narrower = config.hidden_size != model_hidden_size
    encoder: dict[str, Any] = {
        "hidden_size": config.hidden_size,
        "model_hidden_size": model_hidden_size,
        "num_hidden_layers": config.num_hidden_layers,
        "intermediate_size": config.intermediate_size,
        "num_heads": config.num_heads,
        "causal": config.causal,
        "residual": config.residual,
        "tie_encoders": config.tie_encoders,
        "position_encoding": None,
    }
    problems = []
    if config.pooling != ("last" if config.causal else "mean"):
        encoder["pooling"] = config.pooling
        problems.append(
            f"pooling={config.pooling!r} with causal={config.causal} (theirs pools at the last "
            "base token exactly when causal)"
        )
    if config.output_projection != narrower:
        encoder["output_projection"] = config.output_projection
        problems.append(
            f"output_projection={config.output_projection} on an encoder "
            f"{'narrower than' if narrower else 'as wide as'} the model (theirs projects exactly "
            "when narrower; set output_projection=False for a full-width encoder)"
        )
    if config.input_residual != "first":
        encoder["input_residual"] = config.input_residual
        problems.append(
            f"input_residual={config.input_residual!r} (their input encoder's residual is the "
            "first base token's embedding)"
        )
    if config.position_encoding is None:
        encoder["position_encoding"] = NO_POSITIONS
        problems.append("no position embedding (theirs always has one)")
    return EncoderSection(AUTHORS_TRANSFORMER, encoder, tuple(problems))


def _older_section(config: HyperEncoderConfig) -> EncoderSection:
    encoder: dict[str, Any] = {
        "hidden_size": config.hidden_size,
        "tie_encoders": config.tie_encoders,
        "position_encoding": config.position_encoding,
        "num_heads": config.num_heads,
    }
    if config.kind == "authors_transformer":
        encoder["num_hidden_layers"] = config.num_hidden_layers
        encoder["intermediate_size"] = config.intermediate_size
        return EncoderSection("transformer", encoder, ())
    return EncoderSection("attention", encoder, ())


def _older_config(encoder_type: str, data: dict[str, Any]) -> HyperEncoderConfig:
    positions = data.get("position_encoding")
    if positions not in (None, "learnable"):
        raise ModelMismatchError(
            f"position_encoding {positions!r} of a {encoder_type!r} encoder: 'learnable' or null"
        )
    return HyperEncoderConfig(
        kind=OLDER_TYPES[encoder_type],  # type: ignore[arg-type]
        hidden_size=data.get("hidden_size"),
        num_hidden_layers=data.get("num_hidden_layers") or 1,
        num_heads=data.get("num_heads"),
        intermediate_size=data.get("intermediate_size"),
        residual=False,
        output_projection=False,
        position_encoding=positions,
        tie_encoders=data.get("tie_encoders", False),
    )


def encoder_config(encoder_type: str, data: dict[str, Any]) -> HyperEncoderConfig:
    """The encoder settings of a ``zip2zip_config.json`` written by us or by the authors."""
    if encoder_type == "mean":
        return HyperEncoderConfig(kind="mean", tie_encoders=data.get("tie_encoders", False))
    if encoder_type == MLP:
        return HyperEncoderConfig.from_dict({**data, "kind": "mlp"})
    if encoder_type in OLDER_TYPES:
        return _older_config(encoder_type, data)
    if encoder_type != AUTHORS_TRANSFORMER:
        raise ModelMismatchError(
            f"encoder_type {encoder_type!r} is not supported (supported: 'mean', {MLP!r}, "
            f"{AUTHORS_TRANSFORMER!r}, {', '.join(map(repr, OLDER_TYPES))})"
        )
    fields = dict(data)
    model_hidden = fields.pop("model_hidden_size", None)
    positions = fields.pop("position_encoding", None)
    fields["position_encoding"] = None if positions == NO_POSITIONS else "learnable"
    fields.setdefault("pooling", "last" if fields.get("causal") else "mean")
    if "output_projection" not in fields:
        hidden = fields.get("hidden_size")
        fields["output_projection"] = bool(model_hidden and hidden and hidden != model_hidden)
    return HyperEncoderConfig.from_dict({"kind": "transformer", **fields})
