"""Training a model that ``train`` saved (its output, or one of its checkpoints) further, as a
new run: its encoders, adapter (trainable) and token-type head are the starting point, on the
base model it records; its settings are the run's.

A recipe setting left at its default takes the trained model's; one set otherwise must agree
with it, and so must a codec flag given on purpose: changing either would throw the trained
weights away (a fresh run on the base model does that on purpose).
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zip2zip_tokenizers.settings import ConfigFile, describe_differences, read_config
from zip2zip_tokenizers.torch.authors_format import encoder_config
from zip2zip_tokenizers.torch.checkpoint import (
    ADAPTER_CONFIG_NAME,
    ENCODERS_NAME,
    SELF_CONTAINED,
    TOKEN_TYPE_HEAD,
    _saved_flag,
    locate_base,
)
from zip2zip_tokenizers.torch.model import Zip2ZipForCausalLM
from zip2zip_tokenizers.torch.training.errors import InvalidTrainingArgumentError
from zip2zip_tokenizers.torch.training.recipe import Zip2ZipRecipe


def is_trained_model(directory: str | os.PathLike[str]) -> bool:
    """Whether ``directory`` holds a zip2zip model (a checkpoint's config and its encoders),
    not a plain base model."""
    saved = read_config(directory) if Path(directory).is_dir() else None
    return (
        saved is not None
        and saved.model is not None
        and (Path(directory) / ENCODERS_NAME).is_file()
    )


@dataclass(frozen=True)
class TrainedModel:
    """A model ``train`` saved: where it is, its base model, and its settings under the names
    of ``Zip2ZipRecipe.model_settings``."""

    directory: Path
    base_model: str
    settings: dict[str, Any]
    config: ConfigFile

    @classmethod
    def read(cls, directory: str | os.PathLike[str]) -> TrainedModel:
        path = Path(directory).resolve()
        saved = read_config(path)
        assert saved is not None and saved.model is not None
        encoder = encoder_config(saved.model.encoder_type, saved.model.encoder)
        sized = encoder.kind != "mean"
        adapter: dict[str, Any] = {}
        if (path / ADAPTER_CONFIG_NAME).is_file():
            adapter = json.loads((path / ADAPTER_CONFIG_NAME).read_text(encoding="utf-8"))
        targets = adapter.get("target_modules")
        settings = {
            "encoder": encoder.kind,
            "encoder_layers": encoder.num_hidden_layers if sized else None,
            "encoder_hidden_size": encoder.hidden_size if sized else None,
            "input_residual": encoder.input_residual,
            "tie_encoders": encoder.tie_encoders,
            "position_mode": saved.model.position_mode,
            "token_type_head": _saved_flag(saved.data, TOKEN_TYPE_HEAD, saved.path),
            "lora_r": adapter.get("r", 0),
            "lora_alpha": adapter.get("lora_alpha"),
            "lora_dropout": adapter.get("lora_dropout"),
            "lora_targets": sorted(targets) if isinstance(targets, list) else targets,
        }
        reference = saved.model.base_model_name_or_path or SELF_CONTAINED
        base = locate_base(reference, f"the base model of {saved.path}", relative_to=path)
        return cls(path, base, settings, saved)

    def run_settings(self, recipe: Zip2ZipRecipe) -> dict[str, Any]:
        """The model settings of a run that trains this model further with ``recipe``: its
        own, except that its token-type head trains only when ``recipe`` has one too."""
        return {
            **self.settings,
            "token_type_head": self.settings["token_type_head"] and recipe.token_type_head,
        }

    def check_given(
        self,
        recipe: Zip2ZipRecipe,
        explicit_codec: Collection[str],
        explicit_model: Collection[str] = (),
    ) -> None:
        """``InvalidTrainingArgumentError`` naming each setting of ``recipe`` that is not its
        default or is named in ``explicit_model`` (or each codec flag in ``explicit_codec``)
        and differs from this model's."""
        defaults = Zip2ZipRecipe()
        differences = []
        for name in self.settings:
            given = getattr(recipe, name)
            if name == "token_type_head":
                continue
            if given == getattr(defaults, name) and name not in explicit_model:
                continue
            trained = self.settings[name]
            if name == "lora_targets" and isinstance(given, list) and isinstance(trained, list):
                given = sorted(given)
            if given != trained:
                differences.append((name, trained, given))
        codec = self.config.codec
        assert codec is not None
        for name in explicit_codec:
            trained = getattr(codec, name)
            if trained is not None and getattr(recipe, name) != trained:
                differences.append((name, trained, getattr(recipe, name)))
        if differences:
            details = describe_differences(
                differences,
                expected_from=f"the trained model in {self.directory}",
                got_from="given",
            )
            raise InvalidTrainingArgumentError(
                f"{self.directory} is a trained zip2zip model, which train continues from with "
                f"its own settings: {details}. Leave those flags out to train it further, or "
                f"pass its base model ({self.base_model}) as --model to train a fresh one"
            )

    def load(self, **model_kwargs: Any) -> Zip2ZipForCausalLM:
        """The model with its trained weights, its adapter trainable."""
        return Zip2ZipForCausalLM.from_pretrained(self.directory, trainable=True, **model_kwargs)
