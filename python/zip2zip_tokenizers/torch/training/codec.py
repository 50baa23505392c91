"""The one check that training data and model agree on the codec (hypertoken ids only mean
something under the settings that made them), through the settings module's comparison."""

from __future__ import annotations

from zip2zip_tokenizers._core import CompressionConfig
from zip2zip_tokenizers.settings import check_same_codec


def check_codec(data: CompressionConfig, model: CompressionConfig, source: str) -> None:
    """``CodecMismatchError`` naming every setting in which ``data`` (the settings ``source``
    was made with) differs from the model's ``zip2zip_config.json``."""
    check_same_codec(model, data, expected_from="the model's zip2zip_config.json", got_from=source)
