"""Typed errors of the data pipeline, all rooted at the package's ``Zip2ZipError``."""

from __future__ import annotations

from zip2zip_tokenizers._core import Zip2ZipError


class DataError(Zip2ZipError):
    """Base class of every data-pipeline error."""


class InputError(DataError):
    """An input that can not be read at all: no file matches, an unknown format, a Parquet file
    without the text column."""


class BadRecordError(DataError):
    """A record that is not usable (not JSON, invalid UTF-8, missing or non-string field); raised
    only under ``strict``, otherwise counted and reported with its location."""

    def __init__(self, location: str, reason: str) -> None:
        super().__init__(f"{location}: {reason}")
        self.location = location
        self.reason = reason

    def __reduce__(self) -> tuple[type[BadRecordError], tuple[str, str]]:
        return (type(self), (self.location, self.reason))


class ResumeError(DataError):
    """An output directory whose manifest was written for other inputs or settings."""


class VerifyError(DataError):
    """Shards that do not decode to what their manifest (or the input) says."""
