"""The release workflow (.github/workflows/release.yml) passes zizmor, the GitHub Actions linter:
schema, permissions, pinned actions, template injection. Nothing here can run the workflow."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from installed_tools import installed_tool

WORKFLOWS = Path(__file__).resolve().parents[1] / ".github" / "workflows"


def test_release_workflow_passes_zizmor() -> None:
    zizmor = installed_tool("zizmor")
    if zizmor is None:
        pytest.skip("zizmor is not installed (it comes with the [test] extra)")
    result = subprocess.run(
        [zizmor, "--offline", "--no-progress", str(WORKFLOWS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
