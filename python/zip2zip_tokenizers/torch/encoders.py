"""Hyper-encoders: map the base embeddings of a codebook entry (up to ``M`` base ids) to one vector.

Every encoder takes ``subtokens`` (``(N, M)`` int64, padded with -1) and the base embedding
table it reads (``(V, D)``: the input embeddings for the input encoder, the output embeddings
for the output encoder) and returns ``(N, D)``.

The transformer encoder's parameter names are those of the authors' ``res_latent_attn`` encoder
(``pos_embed``, ``proj_in``/``proj_out``, ``layers.i.{wq,wk,wv,wo,w1,w2,norm1,norm2}``,
``norm``), so their released ``zip2zip_encoders.safetensors`` load into it unchanged.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from zip2zip_tokenizers.torch.errors import InvalidEncoderConfigError, ModelMismatchError
from zip2zip_tokenizers.torch.ops import gather_subtokens, masked_mean_pool

EncoderKind = Literal["mean", "transformer", "mlp", "authors_transformer", "authors_attention"]
ENCODER_KINDS = ("mean", "transformer", "mlp", "authors_transformer", "authors_attention")
# From this many entries in one call, the transformer encoder's per-token layers run on the
# present subtokens only (see ``TransformerHyperEncoder.forward``).
_PACK_FROM_ENTRIES = 16
Pooling = Literal["mean", "last"]
ResidualToken = Literal["first", "last"]
RESIDUAL_TOKENS: tuple[ResidualToken, ...] = ("first", "last")


@dataclass(frozen=True)
class HyperEncoderConfig:
    """How hypertoken embeddings are computed from their base tokens' embeddings.

    ``kind="mean"`` is the parameter-free masked mean (the Triton fast path). ``"transformer"``
    is a small pre-LayerNorm transformer over the entry's base embeddings, pooled by masked
    mean or at the last base token; with ``residual`` a base token's embedding is added to a
    zero-initialised output projection, so a fresh encoder maps every hypertoken exactly to that
    base token's embedding: the first one on the output side (a hypertoken is scored where its
    first base token would be), and on the input side the ``input_residual`` one (``"last"``:
    the base token the model would have read last there, which its next prediction follows;
    a tied encoder serves both sides, so it takes ``"first"`` only). ``"mlp"`` reads the entry's
    base embeddings concatenated (each layer-normed, padding zeroed: ``max_subtokens x d``
    inputs) through ``num_hidden_layers`` GELU layers of ``hidden_size`` (default: the model's
    width) into an output layer, with the same residual and zero-initialised output. Input and
    output encoders are separate unless ``tie_encoders``. ``"authors_transformer"`` and
    ``"authors_attention"`` are the authors' two older encoders
    (``zip2zip_tokenizers.torch.authors_encoders``), as wide as the model, for loading their
    checkpoints of those types.
    """

    kind: EncoderKind = "transformer"
    hidden_size: int | None = None
    num_hidden_layers: int = 1
    num_heads: int | None = None
    intermediate_size: int | None = None
    pooling: Pooling = "mean"
    causal: bool = False
    residual: bool = True
    input_residual: ResidualToken = "first"
    output_projection: bool | None = None
    position_encoding: Literal["learnable"] | None = "learnable"
    tie_encoders: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in ENCODER_KINDS:
            raise InvalidEncoderConfigError(
                f"unknown hyper-encoder kind {self.kind!r}: one of {ENCODER_KINDS}"
            )
        if self.pooling not in ("mean", "last"):
            raise InvalidEncoderConfigError(f"unknown pooling {self.pooling!r}: 'mean' or 'last'")
        if self.input_residual not in RESIDUAL_TOKENS:
            raise InvalidEncoderConfigError(
                f"input_residual must be 'first' or 'last', got {self.input_residual!r}"
            )
        if self.input_residual != "first" and not (
            self.residual and self.kind in ("transformer", "mlp")
        ):
            raise InvalidEncoderConfigError(
                f"input_residual={self.input_residual!r} sets the residual of a 'transformer' or "
                f"'mlp' encoder; this one (kind={self.kind!r}, residual={self.residual}) has none"
            )
        if self.input_residual != "first" and self.tie_encoders:
            raise InvalidEncoderConfigError(
                "input_residual='last' needs untied encoders: a tied encoder also computes the "
                "output side, whose residual is the first base token"
            )
        if self.position_encoding not in (None, "learnable"):
            raise InvalidEncoderConfigError(
                f"position_encoding must be 'learnable' or None, got {self.position_encoding!r}"
            )
        sizes = [("hidden_size", 1), ("num_hidden_layers", 0), ("num_heads", 1)]
        for name, least in [*sizes, ("intermediate_size", 1)]:
            value = getattr(self, name)
            if value is None and name != "num_hidden_layers":
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidEncoderConfigError(f"{name} must be an integer, got {value!r}")
            if value < least:
                raise InvalidEncoderConfigError(f"{name} must be >= {least}, got {value}")
        flags = ["causal", "residual", "tie_encoders", "output_projection"]
        for name in flags:
            value = getattr(self, name)
            if not isinstance(value, bool) and not (name == "output_projection" and value is None):
                raise InvalidEncoderConfigError(f"{name} must be true or false, got {value!r}")

    def resolved(self, model_hidden_size: int) -> HyperEncoderConfig:
        """This config with every size that defaults to the model's filled in."""
        if self.kind == "mean":
            return self
        hidden = self.hidden_size or model_hidden_size
        if self.kind == "mlp":
            return self._resolved_mlp(hidden)
        heads = self.num_heads or max(1, hidden // 64)
        if hidden % heads:
            raise InvalidEncoderConfigError(
                f"hidden_size {hidden} is not a multiple of num_heads {heads}"
            )
        if self.kind.startswith("authors_"):
            return self._resolved_authors(hidden, heads, model_hidden_size)
        projection = self.output_projection
        if projection is None:
            projection = self.residual or hidden != model_hidden_size
        if hidden != model_hidden_size and not projection:
            raise InvalidEncoderConfigError(
                "an encoder narrower than the model needs an output projection"
            )
        return HyperEncoderConfig(
            kind=self.kind,
            hidden_size=hidden,
            num_hidden_layers=self.num_hidden_layers,
            num_heads=heads,
            intermediate_size=self.intermediate_size or 4 * hidden,
            pooling=self.pooling,
            causal=self.causal,
            residual=self.residual,
            input_residual=self.input_residual,
            output_projection=projection,
            position_encoding=self.position_encoding,
            tie_encoders=self.tie_encoders,
            extra=self.extra,
        )

    def _resolved_authors(
        self, hidden: int, heads: int, model_hidden_size: int
    ) -> HyperEncoderConfig:
        if hidden != model_hidden_size:
            raise InvalidEncoderConfigError(
                f"the {self.kind!r} encoder has no projection: its hidden_size ({hidden}) must be "
                f"the model's ({model_hidden_size})"
            )
        attention_only = self.kind == "authors_attention"
        return HyperEncoderConfig(
            kind=self.kind,
            hidden_size=hidden,
            num_hidden_layers=1 if attention_only else self.num_hidden_layers,
            num_heads=heads,
            intermediate_size=None if attention_only else self.intermediate_size or 4 * hidden,
            pooling="mean",
            causal=False,
            residual=False,
            output_projection=False,
            position_encoding=self.position_encoding,  # the attention encoder ignores it, as theirs
            tie_encoders=self.tie_encoders,
            extra=self.extra,
        )

    def _resolved_mlp(self, hidden: int) -> HyperEncoderConfig:
        """Attention, pooling and position settings do not apply to the MLP: its output layer is
        its projection, and each base token's place in the concatenation is its position."""
        return HyperEncoderConfig(
            kind="mlp",
            hidden_size=hidden,
            num_hidden_layers=self.num_hidden_layers,
            residual=self.residual,
            input_residual=self.input_residual,
            output_projection=True,
            position_encoding=None,
            tie_encoders=self.tie_encoders,
            extra=self.extra,
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("extra")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HyperEncoderConfig:
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        return cls(
            **{k: v for k, v in data.items() if k in known},
            extra={k: v for k, v in data.items() if k not in known},
        )


class MeanHyperEncoder(nn.Module):
    """The masked mean of an entry's base embeddings; no parameters."""

    def forward(self, subtokens: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
        pooled: torch.Tensor = masked_mean_pool(embeddings, subtokens)
        return pooled


class _EncoderLayer(nn.Module):
    def __init__(self, hidden: int, heads: int, intermediate: int, causal: bool) -> None:
        super().__init__()
        self.heads = heads
        self.causal = causal
        self.norm1 = nn.LayerNorm(hidden)
        self.wq = nn.Linear(hidden, hidden, bias=False)
        self.wk = nn.Linear(hidden, hidden, bias=False)
        self.wv = nn.Linear(hidden, hidden, bias=False)
        self.wo = nn.Linear(hidden, hidden, bias=False)
        self.norm2 = nn.LayerNorm(hidden)
        self.w1 = nn.Linear(hidden, intermediate, bias=False)
        self.w2 = nn.Linear(intermediate, hidden, bias=False)

    def forward(self, x: torch.Tensor, attend: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """``x``: ``[P, hidden]``, the rows of ``N`` entries' subtokens that ``present``
        (``[N, M]``) marks, packed; ``attend``: ``[N, M, M]``. The per-token layers run on those
        rows only (a prompt's entries have 2.4 of their ``M = 4`` subtokens on average);
        attention runs on the padded ``[N, M]`` layout, where padding keys are masked out."""
        n, m = present.shape
        hidden = x.shape[-1]
        h = self.norm1(x)

        def split(t: torch.Tensor) -> torch.Tensor:
            padded = t.new_zeros((n, m, hidden))
            padded[present] = t
            return padded.view(n, m, self.heads, hidden // self.heads).transpose(1, 2)

        q, k, v = split(self.wq(h)), split(self.wk(h)), split(self.wv(h))
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=attend[:, None])
        x = x + self.wo(attn.transpose(1, 2)[present].reshape(-1, hidden))
        out: torch.Tensor = x + self.w2(F.gelu(self.w1(self.norm2(x))))
        return out


def residual_embedding(
    x: torch.Tensor, present: torch.Tensor, token: ResidualToken
) -> torch.Tensor:
    """Each entry's first or last base embedding: ``x`` is ``[N, M, d]``, ``present`` ``[N, M]``."""
    if token == "first":
        return x[:, 0]
    last = (present.sum(1) - 1).clamp(min=0)
    return x[torch.arange(x.shape[0], device=x.device), last]


class TransformerHyperEncoder(nn.Module):
    """A small pre-LayerNorm transformer over an entry's base embeddings (see the config);
    ``residual_token`` is the base token its residual adds."""

    def __init__(
        self,
        config: HyperEncoderConfig,
        model_hidden_size: int,
        max_subtokens: int,
        residual_token: ResidualToken = "first",
    ):
        super().__init__()
        config = config.resolved(model_hidden_size)
        assert config.hidden_size and config.num_heads and config.intermediate_size
        hidden = config.hidden_size
        self.config = config
        self.residual_token = residual_token
        self.pos_embed = (
            nn.Embedding(max_subtokens, hidden) if config.position_encoding == "learnable" else None
        )
        self.proj_in = (
            nn.Linear(model_hidden_size, hidden, bias=False)
            if hidden != model_hidden_size
            else None
        )
        self.layers = nn.ModuleList(
            _EncoderLayer(hidden, config.num_heads, config.intermediate_size, config.causal)
            for _ in range(config.num_hidden_layers)
        )
        self.norm = nn.LayerNorm(hidden)
        self.proj_out = (
            nn.Linear(hidden, model_hidden_size, bias=False) if config.output_projection else None
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, std=0.02)
        if self.proj_out is not None and self.config.residual:
            nn.init.zeros_(self.proj_out.weight)

    def forward(self, subtokens: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
        present = subtokens >= 0
        x = gather_subtokens(embeddings, subtokens).to(self.norm.weight.dtype)
        start = residual_embedding(x, present, self.residual_token)
        if self.proj_in is not None:
            x = self.proj_in(x)
        if self.pos_embed is not None:
            x = x + self.pos_embed.weight[: x.shape[1]]
        attend = present[:, None, :].expand(-1, x.shape[1], -1)
        if self.config.causal:
            attend = attend & torch.ones_like(attend[0]).tril()
        # A padding query still needs one key it may attend to; its output is never used.
        attend = attend | torch.eye(x.shape[1], dtype=torch.bool, device=x.device)
        # Many entries (a prompt, training): the per-token layers skip padding. A few (a
        # generation step): the call is bound by reading the weights, so keep every row.
        layout = present if len(present) >= _PACK_FROM_ENTRIES else torch.ones_like(present)
        packed = x[layout]
        for layer in self.layers:
            packed = layer(packed, attend, layout)
        x = torch.zeros_like(x)
        x[layout] = self.norm(packed)
        if self.config.pooling == "mean":
            weights = present.to(x.dtype)
            pooled = (x * weights[..., None]).sum(1) / weights.sum(1, keepdim=True).clamp(min=1)
        else:
            last = (present.sum(1) - 1).clamp(min=0)
            pooled = x[torch.arange(x.shape[0], device=x.device), last]
        if self.proj_out is not None:
            pooled = self.proj_out(pooled)
        if self.config.residual:
            pooled = start + pooled
        result: torch.Tensor = pooled.to(embeddings.dtype)
        return result


class MLPHyperEncoder(nn.Module):
    """An MLP over an entry's concatenated base embeddings (see the config); ``residual_token``
    is the base token its residual adds."""

    def __init__(
        self,
        config: HyperEncoderConfig,
        model_hidden_size: int,
        max_subtokens: int,
        residual_token: ResidualToken = "first",
    ):
        super().__init__()
        config = config.resolved(model_hidden_size)
        assert config.hidden_size
        self.config = config
        self.residual_token = residual_token
        self.max_subtokens = max_subtokens
        self.norm = nn.LayerNorm(model_hidden_size)
        widths = [max_subtokens * model_hidden_size]
        widths += [config.hidden_size] * config.num_hidden_layers
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(widths))
        self.proj_out = nn.Linear(widths[-1], model_hidden_size)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        if self.config.residual:
            nn.init.zeros_(self.proj_out.weight)

    def forward(self, subtokens: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
        missing = self.max_subtokens - subtokens.shape[1]
        if missing > 0:  # a batch whose longest entry is shorter than max_subtokens
            subtokens = F.pad(subtokens, (0, missing), value=-1)
        present = subtokens >= 0
        x = gather_subtokens(embeddings, subtokens).to(self.norm.weight.dtype)
        start = residual_embedding(x, present, self.residual_token)
        h = (self.norm(x) * present[..., None].to(x.dtype)).flatten(1)
        for layer in self.layers:
            h = F.gelu(layer(h))
        out = self.proj_out(h)
        if self.config.residual:
            out = start + out
        result: torch.Tensor = out.to(embeddings.dtype)
        return result


def build_hyper_encoder(
    config: HyperEncoderConfig,
    model_hidden_size: int,
    max_subtokens: int,
    pad_token_id: int | None = None,
    residual_token: ResidualToken = "first",
) -> nn.Module:
    """The encoder ``config`` describes; ``residual_token``: the base token its residual adds
    (the input side's is ``config.input_residual``, the output side's ``"first"``)."""
    if config.kind == "mean":
        return MeanHyperEncoder()
    if config.kind == "transformer":
        return TransformerHyperEncoder(config, model_hidden_size, max_subtokens, residual_token)
    if config.kind == "mlp":
        return MLPHyperEncoder(config, model_hidden_size, max_subtokens, residual_token)
    return _authors_encoder(config.resolved(model_hidden_size), max_subtokens, pad_token_id)


def _authors_encoder(
    config: HyperEncoderConfig, max_subtokens: int, pad_token_id: int | None
) -> nn.Module:
    from zip2zip_tokenizers.torch.authors_encoders import (
        AuthorsAttentionEncoder,
        AuthorsTransformerEncoder,
    )

    if pad_token_id is None:
        raise ModelMismatchError(
            f"the {config.kind!r} encoder reads the padding id: set the compression config's "
            "pad_token_id"
        )
    assert config.hidden_size and config.num_heads
    if config.kind == "authors_attention":
        return AuthorsAttentionEncoder(
            config.hidden_size, config.num_heads, max_subtokens, pad_token_id
        )
    assert config.intermediate_size
    return AuthorsTransformerEncoder(
        config.hidden_size,
        config.num_hidden_layers,
        config.num_heads,
        config.intermediate_size,
        config.position_encoding == "learnable",
        max_subtokens,
        pad_token_id,
    )
