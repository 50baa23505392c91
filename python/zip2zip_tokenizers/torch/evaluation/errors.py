"""Errors of the evaluation layer."""

from __future__ import annotations

from zip2zip_tokenizers._core import Zip2ZipError


class EvaluationError(Zip2ZipError):
    """An evaluation that cannot give a right number: a bad argument, file or window."""
