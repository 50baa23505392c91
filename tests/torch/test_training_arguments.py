"""``Zip2ZipTrainingArguments`` through ``HfArgumentParser``, the way Hugging Face's example
scripts read training arguments from a command line: every field gets a flag, the recipe's
defaults come through unchanged, and the recipe's own fields parse to their types."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from zip2zip_tokenizers.torch.training import Zip2ZipTrainingArguments  # noqa: E402


def parsed(*flags: str) -> Zip2ZipTrainingArguments:
    parser = transformers.HfArgumentParser(Zip2ZipTrainingArguments)
    (args,) = parser.parse_args_into_dataclasses(list(flags))
    assert isinstance(args, Zip2ZipTrainingArguments)
    return args


def test_the_parser_gives_the_recipes_defaults(tmp_path: Path) -> None:
    args = parsed("--output_dir", str(tmp_path))
    direct = Zip2ZipTrainingArguments(output_dir=str(tmp_path))
    names = [f.name for f in dataclasses.fields(Zip2ZipTrainingArguments) if f.init]
    differing = [n for n in names if getattr(args, n) != getattr(direct, n)]
    assert differing == []
    assert args.lr_scheduler_kwargs == direct.lr_scheduler_kwargs != {}


def test_the_parser_sets_the_recipes_own_fields(tmp_path: Path) -> None:
    args = parsed(
        "--output_dir", str(tmp_path), "--encoder_learning_rate", "1e-3",
        "--segmentation_sampling", "0.5", "--segmentation_targets", "greedy",
        "--uncompressed_share", "0.25", "--report_to", "none",
    )  # fmt: skip
    assert args.encoder_learning_rate == 1e-3
    assert (args.segmentation_sampling, args.segmentation_targets) == (0.5, "greedy")
    assert args.uncompressed_share == 0.25
    with pytest.raises(SystemExit):
        parsed("--output_dir", str(tmp_path), "--segmentation_targets", "longest")
