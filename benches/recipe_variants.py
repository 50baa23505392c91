"""``--variant NAME:field=value[,field=value...]``: a recipe variant as an extra arm of a bench.

Each field is a field of ``Zip2ZipRecipe`` or of ``Zip2ZipTrainingArguments`` (any, by name, so
a field added to either is a variant at once), its value read by the field's type: ``int``,
``float``, ``bool`` (true/false/1/0/yes/no), ``str``, a ``Literal`` (one of its values), ``None``
for an optional field (``none``), JSON for anything else; no value may hold a comma. A whole
variant is checked by building both objects, so a bad value fails before any training.
"""

from __future__ import annotations

import argparse
import json
import re
import types
import typing
from dataclasses import dataclass, fields
from typing import Any

from zip2zip_tokenizers.torch.training import Zip2ZipRecipe, Zip2ZipTrainingArguments

NAME = re.compile(r"[A-Za-z0-9][\w.-]*")
# Set by the bench itself for every arm: a variant changing them would not be the same run.
RESERVED = ("output_dir", "seed")
TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")


@dataclass(frozen=True)
class Variant:
    """A variant's name, its overrides of the recipe and of the training arguments, and the
    ``field=value`` texts as given."""

    name: str
    recipe: tuple[tuple[str, Any], ...]
    training: tuple[tuple[str, Any], ...]
    given: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"variant {self.name} ({', '.join(self.given)})"

    def as_json(self) -> dict[str, Any]:
        return {"recipe": dict(self.recipe), "training": dict(self.training)}


def _hints(cls: type) -> dict[str, Any]:
    names = {item.name for item in fields(cls) if item.init}
    return {name: hint for name, hint in typing.get_type_hints(cls).items() if name in names}


def value_of(text: str, hint: Any) -> Any:
    """``text`` read as a value of type ``hint``; ``ValueError`` saying what was expected."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and text.lower() == "none":
            return None
        kinds = [a for a in args if a is not type(None)]
        if str in kinds:  # an enum's name or free text (e.g. ``OptimizerNames | str``)
            return text
        errors = []
        for kind in kinds:
            try:
                return value_of(text, kind)
            except ValueError as error:
                errors.append(str(error))
        raise ValueError("; ".join(errors))
    if origin is typing.Literal:
        if text not in args:
            raise ValueError(f"one of {', '.join(map(repr, args))} expected")
        return text
    if hint is bool:
        if text.lower() in TRUE + FALSE:
            return text.lower() in TRUE
        raise ValueError("true or false expected")
    if hint is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError("a whole number expected") from None
    if hint is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError("a number expected") from None
    if hint is str:
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text  # ``Any`` fields of TrainingArguments take strings too


def parse_variant(text: str) -> Variant:
    """``NAME:field=value[,field=value...]`` as a ``Variant``; ``argparse.ArgumentTypeError``
    naming what is wrong (argparse prints it after ``argument --variant:``)."""
    name, colon, body = text.partition(":")
    if not colon or not NAME.fullmatch(name) or not body:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected NAME:field=value[,field=value...] (NAME of letters, digits, "
            "'_', '.', '-')"
        )
    recipe_hints, training_hints = _hints(Zip2ZipRecipe), _hints(Zip2ZipTrainingArguments)
    recipe: dict[str, Any] = {}
    training: dict[str, Any] = {}
    given = []
    for item in body.split(","):
        field_name, equals, value = item.partition("=")
        field_name = field_name.strip()
        if not equals:
            raise argparse.ArgumentTypeError(f"variant {name}: {item!r} is not field=value")
        if field_name in RESERVED:
            raise argparse.ArgumentTypeError(
                f"variant {name}: {field_name} is set by the bench for every arm"
            )
        if field_name in recipe_hints:
            target, hint = recipe, recipe_hints[field_name]
        elif field_name in training_hints:
            target, hint = training, training_hints[field_name]
        else:
            raise argparse.ArgumentTypeError(
                f"variant {name}: unknown field {field_name!r} (not a field of Zip2ZipRecipe or "
                "Zip2ZipTrainingArguments)"
            )
        if field_name in recipe or field_name in training:
            raise argparse.ArgumentTypeError(f"variant {name}: {field_name} given twice")
        try:
            target[field_name] = value_of(value.strip(), hint)
        except ValueError as error:
            raise argparse.ArgumentTypeError(
                f"variant {name}: {field_name}={value!r}: {error}"
            ) from None
        given.append(f"{field_name}={value.strip()}")
    _check(name, recipe, training)
    return Variant(name, tuple(recipe.items()), tuple(training.items()), tuple(given))


def _check(name: str, recipe: dict[str, Any], training: dict[str, Any]) -> None:
    """Builds both objects with the overrides, so their own checks run now."""
    import tempfile

    try:
        Zip2ZipRecipe(**recipe)
        with tempfile.TemporaryDirectory() as directory:
            Zip2ZipTrainingArguments(**{"output_dir": directory, "use_cpu": True, **training})
    except (ValueError, TypeError) as error:  # InvalidTrainingArgumentError is a ValueError
        raise argparse.ArgumentTypeError(f"variant {name}: {error}") from None


def add_variant_flag(parser: argparse.ArgumentParser) -> None:
    """``--variant`` (repeatable) into ``args.variants``, a list of ``Variant``."""
    parser.add_argument(
        "--variant",
        dest="variants",
        action="append",
        type=parse_variant,
        default=[],
        metavar="NAME:field=value[,field=value...]",
        help="an extra arm: the recipe with these Zip2ZipRecipe / Zip2ZipTrainingArguments "
        "fields changed (repeatable), e.g. mlp:encoder=mlp",
    )
