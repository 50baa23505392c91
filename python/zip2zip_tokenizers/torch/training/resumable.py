"""``ResumableTrainer``: transformers' ``Trainer`` made safe to kill at any moment and to run
again.

- Every checkpoint is written by every process into a hidden directory (``staging.py``) that the
  saving process renames to ``checkpoint-N`` once all of it is written (model, optimiser,
  scheduler, RNG states, trainer state), then rotates the checkpoints (``save_total_limit``) as
  the Trainer does, each removed one renamed to a hidden name first. ``save_final_model`` does
  the same for the final model, with the trainer state beside it moved in last.
- A write that fails removes what it wrote and, when it is a write error (a full disk says so,
  even where torch only reports ``iostream error``), raises ``CheckpointWriteError`` naming the
  directory; the last checkpoint stays the last one.
- ``train(resume_from_checkpoint=True)`` resumes from the newest intact checkpoint (``resume.py``)
  and a checkpoint that already reached the end is loaded and not trained one step further.
"""

from __future__ import annotations

import math
import os
import shutil
from typing import Any

from torch import nn
from transformers import Trainer, TrainerState
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, TrainOutput

from zip2zip_tokenizers.data.output_dir import new_run_id
from zip2zip_tokenizers.torch.training.errors import TrainingError
from zip2zip_tokenizers.torch.training.resume import newest_intact_checkpoint, reached_the_end
from zip2zip_tokenizers.torch.training.staging import (
    discard_directory,
    publish_directory,
    publish_entries,
    staging_dir,
    write_error,
)

# The final model's hidden directory is named after this (``.model.<run id>.zip2zip-tmp``).
_FINAL_MODEL = "model"


class ResumableTrainer(Trainer):
    """A ``transformers.Trainer`` whose saves appear whole or not at all and whose resumes skip
    damaged checkpoints and never train past the end (see the module doc)."""

    # The run id in the names of the hidden directories, the same on every process; and where
    # the Trainer's own checkpoint save writes while it runs.
    _staging_run: str | None = None
    _saving_into: str | None = None

    def train(
        self,
        resume_from_checkpoint: str | bool | None = None,
        trial: Any = None,
        ignore_keys_for_eval: list[str] | None = None,
        **kwargs: Any,
    ) -> TrainOutput:
        """The Trainer's ``train``. ``resume_from_checkpoint=True`` resumes from the newest intact
        checkpoint in ``output_dir`` (damaged ones are skipped with a warning naming them); from a
        checkpoint that already reached ``max_steps`` (or the last epoch), the weights are loaded
        and nothing is trained (the Trainer would train one more step)."""
        if resume_from_checkpoint is True:
            resume_from_checkpoint = newest_intact_checkpoint(str(self.args.output_dir))
            if resume_from_checkpoint is None:
                raise TrainingError(
                    f"no intact checkpoint to resume from in {self.args.output_dir}"
                )
        if isinstance(resume_from_checkpoint, str):
            state = TrainerState.load_from_json(
                os.path.join(resume_from_checkpoint, TRAINER_STATE_NAME)
            )
            if reached_the_end(state, self.args):
                self._load_from_checkpoint(resume_from_checkpoint)
                self.state = state
                return TrainOutput(state.global_step, math.nan, {})
        return super().train(resume_from_checkpoint, trial, ignore_keys_for_eval, **kwargs)

    def _staging(self, final: str) -> str:
        """The hidden directory a save of ``final`` writes into, the same on every process (the
        first process draws the run id)."""
        if self._staging_run is None:
            run = [new_run_id()]
            if self.accelerator.num_processes > 1:
                import torch.distributed

                torch.distributed.broadcast_object_list(run, src=0)
            self._staging_run = run[0]
        return staging_dir(final, self._staging_run)

    def _get_output_dir(self, trial: Any) -> str:
        return self._saving_into or str(super()._get_output_dir(trial))

    def _save_checkpoint(self, model: nn.Module, trial: Any) -> None:
        run_dir = self._get_output_dir(trial)
        name = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        final = os.path.join(run_dir, name)
        staging = self._staging(final)
        staged = os.path.join(staging, name)
        # The Trainer's save writes into its output directory's checkpoint-N: ``staged``.
        self._saving_into = staging
        try:
            super()._save_checkpoint(model, trial)
        except BaseException as error:
            self._abandon(staging, error, name, run_dir)
            raise
        finally:
            self._saving_into = None
        if self.state.best_model_checkpoint == staged:
            self.state.best_model_checkpoint = final
            if self.args.should_save:
                self.state.save_to_json(os.path.join(staged, TRAINER_STATE_NAME))
        self.accelerator.wait_for_everyone()
        if self.args.should_save:
            publish_directory(staged, final, staging)
            self._rotate(run_dir)

    def _rotate(self, run_dir: str) -> None:
        """The Trainer's rotation (``save_total_limit``: the oldest checkpoints go, by
        modification time, never the newest nor the best), which its own save ran on the hidden
        directory; each checkpoint goes under a hidden name first, so that a kill while it is
        removed leaves no half-removed checkpoint."""
        limit = self.args.save_total_limit
        if limit is None or limit <= 0:
            return
        best = self.state.best_model_checkpoint
        try:
            from transformers.trainer_utils import sort_checkpoints
        except ImportError:  # transformers 4: a method of the Trainer
            ordered = self._sorted_checkpoints(use_mtime=True, output_dir=run_dir)  # type: ignore[attr-defined]
        else:
            ordered = sort_checkpoints(run_dir, use_mtime=True, best_model_checkpoint=best)
        if not ordered:
            return
        protected = {ordered[-1]} | ({os.path.normpath(best)} if best is not None else set())
        surplus = len(ordered) - max(limit, len(protected))
        for path in [path for path in ordered if path not in protected][: max(surplus, 0)]:
            discard_directory(path, self._staging(path))

    def save_final_model(self, output_dir: str | None = None) -> None:
        """``save_model`` into ``output_dir`` (default: ``args.output_dir``), then the trainer
        state beside it (``trainer_state.json``), all written into a hidden directory first and
        moved into place with ``trainer_state.json`` last (removed first): while it is there, the
        model beside it is whole and is the one of that state."""
        directory = str(output_dir or self.args.output_dir)
        staging = self._staging(os.path.join(directory, _FINAL_MODEL))
        try:
            self.save_model(staging)
            if self.args.should_save:
                self.state.save_to_json(os.path.join(staging, TRAINER_STATE_NAME))
        except BaseException as error:
            self._abandon(staging, error, "the final model", directory)
            raise
        self.accelerator.wait_for_everyone()
        if self.args.should_save:
            publish_entries(staging, directory, last=TRAINER_STATE_NAME)

    def _abandon(self, staging: str, error: BaseException, what: str, directory: str) -> None:
        """Removes what a failed save wrote; raises a failed write as ``CheckpointWriteError``
        (any other error is left to go on)."""
        # Named before the removal, which frees the space a full disk lacked.
        failure = write_error(error, what, directory)
        if self.args.should_save:
            shutil.rmtree(staging, ignore_errors=True)
        if failure is not None:
            raise failure from error
