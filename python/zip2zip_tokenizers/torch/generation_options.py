"""The options of :func:`~zip2zip_tokenizers.torch.generation.generate`, declared once.

``GenerationOptions`` takes the names and meanings of transformers' ``GenerationConfig``; a
``GenerationConfig`` (e.g. a base model's ``generation_config``) converts with
:meth:`GenerationOptions.build`, and any option this generator does not implement, given as a
keyword or set to a non-default value in a ``GenerationConfig``, is an
:class:`UnsupportedGenerationOptionError` naming it.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from zip2zip_tokenizers._core import Zip2ZipError


class UnsupportedGenerationOptionError(Zip2ZipError, TypeError):
    """``generate`` was given options it does not implement; the message names each one."""


class InvalidGenerationOptionError(Zip2ZipError):
    """A generation option has a value out of its range; the message names it."""


@dataclass(frozen=True)
class GenerationOptions:
    """How ``generate`` chooses ids (the meaning of each field is transformers').

    ``max_new_tokens`` / ``min_new_tokens`` count model steps (each may be a hypertoken).
    ``repetition_penalty`` and ``no_repeat_ngram_size`` act on the id stream the model reads,
    hypertokens included (an id is a hypertoken of its own row's codebook).
    ``output_scores``: the processed scores of each step; ``output_logits``: the raw ones.
    ``num_beams > 1``: beam search, each beam with its own codebook (``length_penalty`` as in
    transformers; greedy choice only, without the score processors).
    ``num_return_sequences``: rows per input row (``[B * n, ...]``, each input's rows together):
    independent samples with ``do_sample``, the ``n`` best hypotheses with beam search.
    """

    max_new_tokens: int = 20
    min_new_tokens: int = 0
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    num_beams: int = 1
    length_penalty: float = 1.0
    num_return_sequences: int = 1
    eos_token_id: int | tuple[int, ...] | None = None
    pad_token_id: int | None = None
    stop_strings: tuple[str, ...] = ()
    output_scores: bool = False
    output_logits: bool = False
    return_dict_in_generate: bool = False

    def __post_init__(self) -> None:
        self._check_types()
        checks = [
            ("max_new_tokens", self.max_new_tokens >= 0, ">= 0"),
            ("min_new_tokens", self.min_new_tokens >= 0, ">= 0"),
            ("temperature", 0 < self.temperature < math.inf, "> 0 and finite"),
            ("top_k", self.top_k is None or self.top_k >= 0, ">= 0"),
            ("top_p", self.top_p is None or 0 < self.top_p <= 1, "in (0, 1]"),
            (
                "repetition_penalty",
                0 < self.repetition_penalty < math.inf,
                "> 0 and finite",
            ),
            ("length_penalty", math.isfinite(self.length_penalty), "finite"),
            ("no_repeat_ngram_size", self.no_repeat_ngram_size >= 0, ">= 0"),
            ("num_beams", self.num_beams >= 1, ">= 1"),
            ("num_return_sequences", self.num_return_sequences >= 1, ">= 1"),
            (
                "num_return_sequences",
                self.num_return_sequences == 1
                or (self.num_beams == 1 and self.do_sample)
                or self.num_return_sequences <= self.num_beams,
                "1 with greedy search, at most num_beams with beam search",
            ),
            ("eos_token_id", all(e >= 0 for e in self.eos_ids), "ids >= 0"),
            ("pad_token_id", self.pad_token_id is None or self.pad_token_id >= 0, ">= 0"),
            ("stop_strings", all(self.stop_strings), "non-empty strings"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise InvalidGenerationOptionError(
                    f"{name} must be {expected}, got {getattr(self, name)!r}"
                )

    def _check_types(self) -> None:
        """``TypeError`` naming the first option whose value has the wrong type."""
        integers = ["max_new_tokens", "min_new_tokens", "no_repeat_ngram_size", "num_beams"]
        integers += ["num_return_sequences"]
        optional_integers = ["top_k", "pad_token_id"]
        reals = ["temperature", "repetition_penalty", "length_penalty"]
        for name in integers + optional_integers + reals + ["top_p"]:
            value = getattr(self, name)
            if value is None and name in (*optional_integers, "top_p"):
                continue
            numeric = numbers.Integral if name in integers + optional_integers else numbers.Real
            if isinstance(value, bool) or not isinstance(value, numeric):
                kind = "an int" if numeric is numbers.Integral else "a number"
                raise TypeError(f"{name} must be {kind}, got {value!r}")
        flags = ["do_sample", "output_scores", "output_logits", "return_dict_in_generate"]
        for name in flags:
            value = getattr(self, name)
            if not (isinstance(value, numbers.Integral) or type(value).__name__ == "bool_") or (
                value not in (0, 1)
            ):
                raise TypeError(f"{name} must be True or False, got {value!r}")
        eos = self.eos_token_id
        if any(isinstance(e, bool) or not isinstance(e, numbers.Integral) for e in self.eos_ids):
            raise TypeError(f"eos_token_id must be an id or a sequence of ids, got {eos!r}")
        stops = self.stop_strings
        if not _is_sequence(stops) or not all(isinstance(stop, str) for stop in stops):
            raise TypeError(
                f"stop_strings must be a string or a sequence of strings, got {self.stop_strings!r}"
            )

    @property
    def eos_ids(self) -> list[int]:
        if self.eos_token_id is None:
            return []
        if _is_sequence(self.eos_token_id):
            return list(self.eos_token_id)  # type: ignore[arg-type]
        return [self.eos_token_id]  # type: ignore[list-item]

    @classmethod
    def build(cls, generation_config: Any = None, **kwargs: Any) -> GenerationOptions:
        """Options from a transformers ``GenerationConfig`` (its non-default values) updated by
        keyword arguments; unsupported options raise, naming each one."""
        if generation_config is not None and not callable(
            getattr(generation_config, "to_diff_dict", None)
        ):
            raise TypeError(
                "generation_config must be a GenerationOptions or a transformers "
                f"GenerationConfig, got {type(generation_config).__name__}"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        unsupported: list[str] = []
        if generation_config is not None:
            for name, value in generation_config.to_diff_dict().items():
                if name in known:
                    values[name] = value
                elif name not in _IGNORED and value is not None:
                    unsupported.append(f"{name}={value!r} (in generation_config)")
        for name, value in kwargs.items():
            if name in known:
                values[name] = value
            elif name in _IGNORED or _is_default(name, value):
                continue
            else:
                unsupported.append(name)
        if unsupported:
            raise UnsupportedGenerationOptionError(
                f"generate does not support {', '.join(unsupported)}; supported: "
                f"{', '.join(sorted(known))}"
            )
        return cls(**_normalised(values))


# Bookkeeping keys of a GenerationConfig, and options that change nothing here.
_IGNORED = {
    "transformers_version",
    "_from_model_config",
    "bos_token_id",
    "decoder_start_token_id",
    "use_cache",
    "cache_implementation",
    "_commit_hash",
}
# transformers options accepted only at their default (a no-op here).
_DEFAULTS: dict[str, Any] = {
    "num_beam_groups": 1,
    "typical_p": 1.0,
    "penalty_alpha": None,
    "renormalize_logits": False,
    "output_attentions": False,
    "output_hidden_states": False,
}


def _is_default(name: str, value: Any) -> bool:
    return name in _DEFAULTS and value == _DEFAULTS[name]


def _is_sequence(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _normalised(values: dict[str, Any]) -> dict[str, Any]:
    """Sequences as tuples (a value of the wrong type is left for ``__post_init__`` to name)."""
    stops = values.get("stop_strings")
    if stops is None:
        values.pop("stop_strings", None)
    elif isinstance(stops, str):
        values["stop_strings"] = (stops,)
    elif _is_sequence(stops):
        values["stop_strings"] = tuple(stops)
    eos: Any = values.get("eos_token_id")
    if _is_sequence(eos):
        values["eos_token_id"] = tuple(eos)
    elif isinstance(eos, numbers.Integral) and not isinstance(eos, bool):
        values["eos_token_id"] = int(eos)
    return values
