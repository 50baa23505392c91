"""The one check that training data and model agree on the codec: hypertoken ids only mean
something under the settings that made them."""

from __future__ import annotations

from zip2zip_tokenizers._core import CompressionConfig
from zip2zip_tokenizers.torch.training.errors import CodecMismatchError

_SHOWN = 8


def _describe(field: str, data: object, model: object) -> str:
    if field == "disabled_ids" and isinstance(data, list) and isinstance(model, list):
        only_data = sorted(set(data) - set(model))
        only_model = sorted(set(model) - set(data))
        return (
            f"disabled_ids ({len(data)} ids in the data, {len(model)} in the model; only in the "
            f"data: {only_data[:_SHOWN]}{' ...' if len(only_data) > _SHOWN else ''}, only in "
            f"the model: {only_model[:_SHOWN]}{' ...' if len(only_model) > _SHOWN else ''})"
        )
    return f"{field} (data {data!r}, model {model!r})"


def codec_differences(data: CompressionConfig, model: CompressionConfig) -> list[str]:
    """One readable line per codec setting that differs (empty when they agree)."""
    ours, theirs = data.to_dict(), model.to_dict()
    return [
        _describe(name, ours.get(name), theirs.get(name))
        for name in sorted(set(ours) | set(theirs))
        if ours.get(name) != theirs.get(name)
    ]


def check_codec(data: CompressionConfig, model: CompressionConfig, source: str) -> None:
    """``CodecMismatchError`` naming every setting in which ``data`` (the settings ``source``
    was made with) differs from the model's."""
    differences = codec_differences(data, model)
    if differences:
        raise CodecMismatchError(
            f"{source} was made with other codec settings than the model's zip2zip_config.json: "
            + "; ".join(differences)
            + ". Preprocess the data again with the model's settings (or build the model with "
            "the data's)."
        )
