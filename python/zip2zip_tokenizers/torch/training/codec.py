"""The one check that training data and model agree on the codec (hypertoken ids only mean
something under the settings that made them), through the settings module's comparison."""

from __future__ import annotations

from zip2zip_tokenizers._core import CompressionConfig
from zip2zip_tokenizers.codec_flags import codec_flag_advice
from zip2zip_tokenizers.settings import check_same_codec, codec_differences


def check_codec(
    data: CompressionConfig, model: CompressionConfig, source: str, model_source: str = "the model"
) -> None:
    """``CodecMismatchError`` naming every setting in which ``data`` (the settings ``source``
    was made with) differs from the model's (``model_source`` says where those come from), and
    the flag of ``preprocess`` or ``train`` that makes them agree."""
    advice = codec_flag_advice(
        codec_differences(model, data), expected_by="train", got_by="preprocess"
    )
    check_same_codec(model, data, expected_from=model_source, got_from=source, advice=advice)
