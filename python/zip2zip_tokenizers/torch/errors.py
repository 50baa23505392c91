"""Errors of the model layer."""

from __future__ import annotations

from zip2zip_tokenizers._core import Zip2ZipError


class ModelMismatchError(Zip2ZipError):
    """A base model, checkpoint or config that do not fit together."""


class NonFiniteWeightError(ModelMismatchError):
    """A saved weight holding NaN or infinite values (a damaged file, or one saved from a
    diverged run); the message names the file and the tensor."""


class InvalidEncoderConfigError(Zip2ZipError):
    """A ``HyperEncoderConfig`` field of the wrong type or out of range; the message names it."""


class LabelError(Zip2ZipError):
    """Labels that are neither an id of the extended vocabulary ``[0, V + C)`` nor -100."""


class AuthorsFormatWarning(UserWarning):
    """A checkpoint was saved that the paper authors' runtime (PyPI ``zip2zip`` 0.2.0) cannot
    load unedited; the message names every reason."""
