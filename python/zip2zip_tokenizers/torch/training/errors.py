"""Typed errors of the training layer, all rooted at the package's ``Zip2ZipError``."""

from __future__ import annotations

from zip2zip_tokenizers._core import Zip2ZipError


class TrainingError(Zip2ZipError):
    """Base class of every training error."""


class CodecMismatchError(TrainingError):
    """Training data made with other codec settings than the model's: its hypertoken ids would
    mean other entries than the model reads and writes."""


class EmptyDataError(TrainingError):
    """Training data without a single window to learn from."""


class NonFiniteLossError(TrainingError):
    """A NaN or infinite loss: training stops before the optimiser step and before any
    checkpoint is written, so the last good checkpoint stays the last one on disk."""
