"""Command-line tools that come with the ``[test]`` extra (maturin, zizmor)."""

from __future__ import annotations

import shutil
import sysconfig


def installed_tool(name: str) -> str | None:
    """The tool beside the running interpreter (a venv that is not activated), else on PATH."""
    return shutil.which(name, path=sysconfig.get_path("scripts")) or shutil.which(name)
