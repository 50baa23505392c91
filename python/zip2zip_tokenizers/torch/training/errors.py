"""Typed errors of the training layer, all rooted at the package's ``Zip2ZipError``."""

from __future__ import annotations

from zip2zip_tokenizers._core import Zip2ZipError
from zip2zip_tokenizers.settings import CodecMismatchError as CodecMismatchError


class TrainingError(Zip2ZipError):
    """Base class of every training error."""


class InvalidTrainingArgumentError(TrainingError):
    """A recipe or training argument of the wrong type or out of range; the message names it."""


class EmptyDataError(TrainingError):
    """Training data without a single window to learn from."""


class WindowCacheError(TrainingError):
    """A window cache file (under ``$ZIP2ZIP_CACHE/windows``) that is damaged and could not be
    rebuilt, or a cache whose files do not fit together; the message names the file."""


class NonFiniteLossError(TrainingError):
    """A NaN or infinite loss: training stops before the optimiser step and before any
    checkpoint is written, so the last good checkpoint stays the last one on disk."""


class ResumeMismatchError(TrainingError):
    """A rerun whose settings would change what the run in its output directory is (its
    weights' shapes, its codec, its data, its optimiser state), or a checkpoint that does not
    fit the model being trained; the message names each setting, both values, and what to do."""


class CheckpointWriteError(TrainingError):
    """A checkpoint or the final model could not be written (a full disk says so, and names the
    directory): what was written of it is removed, and the last checkpoint stays the last one."""
