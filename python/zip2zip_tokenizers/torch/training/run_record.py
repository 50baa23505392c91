"""The record of what a training run is: the one owner of ``zip2zip_run.json``.

``train`` writes it into its output directory as training starts (atomically; after the
checkpoint a rerun resumes from has loaded), and every checkpoint and the final model carry a
copy. A rerun in that directory resumes only when its own
settings equal the recorded ones; otherwise it is refused (``ResumeMismatchError`` naming each
setting, both values, and what to do). The file::

    {"format_version": 1,
     "codec": {"initial_vocab_size": ..., "max_codebook_size": ..., "max_subtokens": ...,
               "disabled_ids": [...], "pad_token_id": ...},
     "settings": {"base_model": ..., "start_model": ..., "encoder": ..., ...}}

What is recorded, and why a rerun may not change it (docs/training.md, "Reruns"):

- what the weights are: the base model, the trained model a run started from, the codec, the
  encoders, positions, the token-type head, the adapter (or full fine-tuning);
- what the data is: its paths, its format, the text field and window it is read with, the seed
  (the order the Trainer draws windows in, and which it skips on resume), the windows per
  optimiser step (a step of a resumed run must skip the windows a step of the first one read),
  and the views of the windows (``segmentation_sampling`` with its ``segmentation_dropout`` and
  ``segmentation_targets``, ``uncompressed_share``: which windows are read how, and what they are
  trained to write);
- what the checkpoint's optimiser state would silently keep: the learning rates and the weight
  decay (a resumed optimiser and scheduler restore their own).

Everything else may change: the number of steps or epochs (extending a run), logging, saving,
reporting, the warmup and the floor of the schedule, gradient clipping, precision.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from zip2zip_tokenizers._core import CompressionConfig
from zip2zip_tokenizers.settings import (
    codec_differences,
    describe_differences,
    write_json_atomically,
)
from zip2zip_tokenizers.torch.training.arguments import effective_encoder_learning_rate
from zip2zip_tokenizers.torch.training.errors import ResumeMismatchError, TrainingError

RUN_RECORD_NAME = "zip2zip_run.json"
FORMAT_VERSION = 1
# The flag of ``train`` that sets each recorded setting (named in a refusal).
FLAGS = {
    "base_model": "--model",
    "start_model": "--model",
    "initial_vocab_size": "--model",
    "max_codebook_size": "--max-codebook-size",
    "max_subtokens": "--max-subtokens",
    "disabled_ids": "--disable-digits",
    "encoder": "--encoder",
    "encoder_layers": "--encoder-layers",
    "encoder_hidden_size": "--encoder-hidden-size",
    "input_residual": "--input-residual",
    "tie_encoders": "--tie-encoders",
    "position_mode": "--position-mode",
    "token_type_head": "--token-type-loss-weight, 0: none",
    "lora_r": "--lora-r",
    "lora_alpha": "--lora-alpha",
    "lora_dropout": "--lora-dropout",
    "lora_targets": "--lora-targets",
    "data": "--data",
    "data_format": "--data",
    "text_field": "--text-field",
    "window": "--window",
    "seed": "--seed",
    "windows_per_step": "--batch-size x --gradient-accumulation x processes",
    "segmentation_sampling": "--segmentation-sampling",
    "segmentation_dropout": "--segmentation-dropout",
    "segmentation_targets": "--segmentation-targets",
    "uncompressed_share": "--uncompressed-share",
    "learning_rate": "--lr",
    "encoder_learning_rate": "--encoder-lr",
    "weight_decay": "--weight-decay",
}

# Settings recorded since a later version, with the value a record without them stands for.
ADDED_LATER = {
    "input_residual": "first",
    "segmentation_sampling": 0.0,
    "segmentation_dropout": None,
    "segmentation_targets": None,
    "uncompressed_share": 0.0,
}


@dataclass(frozen=True)
class RunRecord:
    """A run's codec settings and its other recorded settings (names as in ``FLAGS``)."""

    codec: CompressionConfig
    settings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "codec": self.codec.to_dict(),
            "settings": self.settings,
        }

    def differences(self, current: RunRecord) -> list[tuple[str, Any, Any]]:
        """``(setting, recorded value, current value)`` for each setting that differs."""
        out = codec_differences(self.codec, current.codec)
        for name in sorted(set(self.settings) | set(current.settings)):
            recorded = self.settings.get(name, ADDED_LATER.get(name))
            now = current.settings.get(name, ADDED_LATER.get(name))
            if recorded != now:
                out.append((name, recorded, now))
        return out


def run_record(
    codec: CompressionConfig,
    model_settings: dict[str, Any],
    *,
    base_model: str,
    start_model: str | None,
    data: list[str],
    data_format: str,
    text_field: str,
    window: int,
    args: Any,
) -> RunRecord:
    """The record of a run: ``model_settings`` (``Zip2ZipRecipe.model_settings``, or a
    trained model's), the data as read (paths made absolute; the text field and window only
    where they are used), and the seed, step size, window views and optimiser settings of
    ``args``."""
    settings = {
        "base_model": _absolute(base_model),
        "start_model": None if start_model is None else _absolute(start_model),
        **model_settings,
        "data": [os.path.abspath(path) for path in data],
        "data_format": data_format,
        "text_field": text_field if data_format == "text" else None,
        "window": window if data_format != "shards" else None,
        "seed": args.seed,
        "windows_per_step": args.per_device_train_batch_size
        * args.gradient_accumulation_steps
        * args.world_size,
        "segmentation_sampling": args.segmentation_sampling,
        "segmentation_dropout": args.segmentation_dropout if args.segmentation_sampling else None,
        # None: every window trains on its own ids (all a record made before the option holds).
        "segmentation_targets": "greedy"
        if args.segmentation_sampling and args.segmentation_targets == "greedy"
        else None,
        "uncompressed_share": args.uncompressed_share,
        "learning_rate": args.learning_rate,
        "encoder_learning_rate": effective_encoder_learning_rate(args),
        "weight_decay": args.weight_decay,
    }
    # Through JSON, so a fresh record compares with a read one (tuples as lists...).
    return RunRecord(codec, json.loads(json.dumps(settings)))


def _absolute(name: str) -> str:
    """A local directory as an absolute path; a hub model id as it is."""
    path = Path(name).expanduser()
    return str(path.resolve()) if path.is_dir() else name


def write_run_record(directory: str | os.PathLike[str], record: RunRecord) -> Path:
    """Writes ``record`` into ``directory`` (created when missing), atomically."""
    path = Path(directory) / RUN_RECORD_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomically(path, record.to_json())
    return path


class WriteRunRecord(TrainerCallback):
    """Writes a run's record into its output directory as training begins: after a resumed
    checkpoint has loaded, so one the loader refuses leaves the output as it was."""

    def __init__(self, record: RunRecord, output: str | os.PathLike[str]) -> None:
        self.record = record
        self.output = output

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if args.should_save:
            write_run_record(self.output, self.record)


def read_run_record(directory: str | os.PathLike[str]) -> RunRecord | None:
    """The record in ``directory``, ``None`` when it has none; ``TrainingError`` naming the file
    when it can not be read."""
    path = Path(directory) / RUN_RECORD_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("settings"), dict):
            raise ValueError("expected an object with 'codec' and 'settings'")
        version = data.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ValueError(f"format_version {version!r}; this package reads {FORMAT_VERSION}")
        codec = CompressionConfig.from_dict(data["codec"])
    except (UnicodeDecodeError, ValueError, TypeError, KeyError) as error:
        raise TrainingError(f"{path}: not a run record this package reads ({error})") from None
    return RunRecord(codec, data["settings"])


def check_same_run(
    current: RunRecord,
    output: str | os.PathLike[str],
    checkpoint: str | os.PathLike[str] | None = None,
) -> None:
    """Raises ``ResumeMismatchError`` when ``output`` (else ``checkpoint``, the one a resume
    would load) records a run other than ``current``: every differing setting with its flag
    and both values, and how to go on. Nothing recorded (an output of an older version): no
    check here; the checkpoint loader still refuses weights of another codec or adapter."""
    places = [Path(output)] + ([Path(checkpoint)] if checkpoint is not None else [])
    for place in places:
        recorded = read_run_record(place)
        if recorded is not None:
            break
    else:
        return
    differences = recorded.differences(current)
    if not differences:
        return
    path = place / RUN_RECORD_NAME
    named = [(f"{name} ({FLAGS.get(name, name)})", a, b) for name, a, b in differences]
    details = describe_differences(named, expected_from=f"recorded in {path}", got_from="now")
    raise ResumeMismatchError(
        f"{output} holds a run with other settings than this one, so it can not be resumed: "
        f"{details}. To continue it, rerun with the settings it was started with; to start a "
        f"new run, pass --no-resume (resume=False: it starts afresh in {output}) or another "
        "--output"
    )
