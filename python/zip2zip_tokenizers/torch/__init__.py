"""The model layer (the ``[torch]`` extra): hyper-encoders, dynamic (un)embedding on any Hugging
Face causal LM, generation, save/load. Importing it needs torch; the base package never does."""

from __future__ import annotations

from zip2zip_tokenizers.torch._quiet import silence_dependency_warnings
from zip2zip_tokenizers.torch.encoders import HyperEncoderConfig
from zip2zip_tokenizers.torch.errors import (
    AuthorsFormatWarning,
    InvalidEncoderConfigError,
    LabelError,
    ModelMismatchError,
    NonFiniteWeightError,
)
from zip2zip_tokenizers.torch.hyper_state import HyperState
from zip2zip_tokenizers.torch.model import Zip2ZipForCausalLM, Zip2ZipOutput

silence_dependency_warnings()

__all__ = [
    "AuthorsFormatWarning",
    "HyperEncoderConfig",
    "HyperState",
    "InvalidEncoderConfigError",
    "LabelError",
    "ModelMismatchError",
    "NonFiniteWeightError",
    "Zip2ZipForCausalLM",
    "Zip2ZipOutput",
]
