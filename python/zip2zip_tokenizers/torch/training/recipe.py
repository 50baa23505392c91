"""The model half of the recipe: which tokenizer settings, encoders, positions and adapter an
uptraining run starts from, and building both from a base model.

Recipe defaults and where they come from (epfl-dlab/zip2zip-plus-plus, ``docs/finetuning.md``):
digits never merged (v0.4), untied input/output encoders (v0.5), each id at the position of its
last base token (v0.6.2), a token-type head trained with weight 0.05 (v0.6.3), encoders that
start as the identity — a residual from a base token's embedding plus a zero-initialised
output projection (v0.6.4, which takes the first base token on both sides; here the input side
takes the last). The encoder is an MLP over the entry's concatenated base embeddings with two
hidden layers as wide as the model (this package's small-scale evidence; the released model's
is a 2-layer pre-LN transformer as wide as the model, ``encoder="transformer"``). LoRA rank 32,
alpha 32 on every attention and MLP projection (``all-linear``: peft leaves the output layer
out). Codebook 2048 entries of up to 4 base tokens.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from zip2zip_tokenizers.settings import (
    DEFAULT_DISABLE_DIGITS,
    DEFAULT_EVICTION,
    DEFAULT_MAX_CODEBOOK_SIZE,
    DEFAULT_MAX_SUBTOKENS,
)
from zip2zip_tokenizers.tokenizer import Zip2ZipTokenizer
from zip2zip_tokenizers.torch.encoders import EncoderKind, HyperEncoderConfig, ResidualToken
from zip2zip_tokenizers.torch.errors import InvalidEncoderConfigError
from zip2zip_tokenizers.torch.model import PositionMode, Zip2ZipForCausalLM
from zip2zip_tokenizers.torch.training.errors import InvalidTrainingArgumentError

# The encoder kinds a run trains from scratch (the authors' older kinds are for loading theirs).
TRAINED_ENCODERS = ("transformer", "mlp", "mean")


@dataclass
class Zip2ZipRecipe:
    """What to build (see the module doc for the defaults' provenance). ``lora_r=0`` trains the
    whole base model instead of an adapter. ``encoder="mlp"`` (the default) is an MLP over the
    entry's concatenated base embeddings (``encoder_layers`` hidden layers of
    ``encoder_hidden_size``); ``"transformer"`` is the authors' encoder. ``input_residual``: the
    base token a fresh input encoder maps each hypertoken to (``HyperEncoderConfig``); ``None``
    (the default) is ``"last"``, or ``"first"`` where ``"last"`` cannot apply (tied encoders, the
    mean encoder): ``residual_token()``."""

    max_codebook_size: int = DEFAULT_MAX_CODEBOOK_SIZE
    max_subtokens: int = DEFAULT_MAX_SUBTOKENS
    disable_digits: bool = DEFAULT_DISABLE_DIGITS
    eviction: str = DEFAULT_EVICTION
    encoder: EncoderKind = "mlp"
    encoder_layers: int = 2
    encoder_hidden_size: int | None = None
    input_residual: ResidualToken | None = None
    tie_encoders: bool = False
    position_mode: PositionMode = "base_token_end"
    token_type_head: bool = True
    lora_r: int = 32
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_targets: list[str] | str = field(default_factory=lambda: "all-linear")

    def __post_init__(self) -> None:
        if self.encoder not in TRAINED_ENCODERS:
            raise InvalidTrainingArgumentError(
                f"encoder must be one of {', '.join(map(repr, TRAINED_ENCODERS))}, got "
                f"{self.encoder!r}"
            )
        if isinstance(self.lora_r, bool) or not isinstance(self.lora_r, int) or self.lora_r < 0:
            raise InvalidTrainingArgumentError(
                f"lora_r must be an integer >= 0 (0: full fine-tuning), got {self.lora_r!r}"
            )
        if self.lora_r and not self.lora_alpha > 0:
            raise InvalidTrainingArgumentError(f"lora_alpha must be > 0, got {self.lora_alpha!r}")
        if not 0 <= self.lora_dropout < 1:
            raise InvalidTrainingArgumentError(
                f"lora_dropout must be in [0, 1), got {self.lora_dropout!r}"
            )
        try:
            self.encoder_config()
        except InvalidEncoderConfigError as error:
            raise InvalidTrainingArgumentError(f"encoder settings: {error}") from None

    def model_settings(self) -> dict[str, Any]:
        """The settings that shape the model's weights, as a run records them (``None`` where
        one does not apply: encoder sizes of the mean encoder, adapter settings under full
        fine-tuning)."""
        sized, adapter = self.encoder != "mean", self.lora_r > 0
        return {
            "encoder": self.encoder,
            "encoder_layers": self.encoder_layers if sized else None,
            "encoder_hidden_size": self.encoder_hidden_size if sized else None,
            "input_residual": self.residual_token(),
            "tie_encoders": self.tie_encoders,
            "position_mode": self.position_mode,
            "token_type_head": self.token_type_head,
            "lora_r": self.lora_r,
            "lora_alpha": self.lora_alpha if adapter else None,
            "lora_dropout": self.lora_dropout if adapter else None,
            "lora_targets": self.lora_targets if adapter else None,
        }

    def residual_token(self) -> ResidualToken:
        """``input_residual``, or where it is ``None``: ``"last"`` for untied residual encoders,
        else ``"first"``."""
        if self.input_residual is not None:
            return self.input_residual
        return "first" if self.tie_encoders or self.encoder == "mean" else "last"

    def encoder_config(self) -> HyperEncoderConfig:
        if self.encoder == "mean":
            return HyperEncoderConfig(
                kind="mean", input_residual=self.residual_token(), tie_encoders=self.tie_encoders
            )
        return HyperEncoderConfig(
            kind=self.encoder,
            hidden_size=self.encoder_hidden_size,
            num_hidden_layers=self.encoder_layers,
            residual=True,
            input_residual=self.residual_token(),
            tie_encoders=self.tie_encoders,
        )

    def lora_config(self) -> Any:
        if self.lora_r == 0:
            return None
        from peft import LoraConfig

        return LoraConfig(
            r=self.lora_r,
            lora_alpha=self.lora_alpha,
            lora_dropout=self.lora_dropout,
            target_modules=self.lora_targets,
            task_type="CAUSAL_LM",
        )

    def tokenizer(
        self,
        model_dir: str | os.PathLike[str],
        *,
        explicit: Collection[str] = (),
        **kwargs: Any,
    ) -> Zip2ZipTokenizer:
        """The base tokenizer of ``model_dir`` with this recipe's codec settings. When
        ``model_dir`` has a ``zip2zip_config.json``, its settings are the model's and win, except
        for the fields named in ``explicit`` (settings the user gave on purpose)."""
        from zip2zip_tokenizers.settings import config_path

        codec: dict[str, Any] = {
            "max_codebook_size": self.max_codebook_size,
            "max_subtokens": self.max_subtokens,
            "disable_digits": self.disable_digits,
            "eviction": self.eviction,
        }
        if config_path(model_dir).is_file():
            codec = {name: value for name, value in codec.items() if name in explicit}
        return Zip2ZipTokenizer.from_pretrained(model_dir, **codec, **kwargs)

    def build(
        self, base: str | os.PathLike[str] | Any, tokenizer: Zip2ZipTokenizer, **model_kwargs: Any
    ) -> Zip2ZipForCausalLM:
        """A fresh ``Zip2ZipForCausalLM`` on ``base`` (a directory or a model) for ``tokenizer``'s
        codec; the base weights are frozen under the adapter (``lora_r > 0``)."""
        model = Zip2ZipForCausalLM.from_base(
            str(base) if isinstance(base, os.PathLike) else base,
            tokenizer.config,
            self.encoder_config(),
            lora=self.lora_config(),
            position_mode=self.position_mode,
            token_type_head=self.token_type_head,
            **model_kwargs,
        )
        return model
