"""Shared pytest setup for the codec tests.

The helpers in ``strategies.py`` are imported as a plain top-level module; putting this folder on
``sys.path`` here makes that work under every pytest import mode (prepend, append, importlib).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest
from hypothesis import settings

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import zip2zip_tokenizers as z2z  # noqa: E402

# CI runs the same examples every time (a red run must be reproducible, not a dice roll).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture
def restore_parallelism() -> Iterator[None]:
    """Lets a test call ``set_parallelism`` and puts the environment default back afterwards."""
    try:
        yield
    finally:
        z2z.set_parallelism(None)
