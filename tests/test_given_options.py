"""``given_options``: which options a command line wrote, a default given on purpose included
(``train`` holds such a flag against a trained model's own settings)."""

from __future__ import annotations

import argparse

from zip2zip_tokenizers.cli import build_parser, given_options
from zip2zip_tokenizers.train_cli import MODEL_FLAGS

TRAIN = ["train", "--model", "m", "--data", "d", "--output", "o"]


def test_options_written_are_given_whatever_their_value() -> None:
    given = given_options([*TRAIN, "--lora-r", "32", "--encoder=mlp", "--tie-encoders"])
    assert {"model", "data", "output", "lora_r", "encoder", "tie_encoders"} <= given
    assert not given & {"encoder_layers", "input_residual", "lora_alpha", "window"}


def test_an_abbreviated_option_is_given_under_its_own_name() -> None:
    assert "encoder_layers" in given_options([*TRAIN, "--encoder-lay", "2"])


def test_the_parser_keeps_its_defaults() -> None:
    given_options([*TRAIN, "--lora-r", "4"])
    args = build_parser().parse_args(TRAIN)
    assert (args.lora_r, args.encoder) == (32, "mlp")


def test_every_model_flag_is_a_train_option() -> None:
    parser = build_parser()
    (commands,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(MODEL_FLAGS) <= {action.dest for action in commands.choices["train"]._actions}
