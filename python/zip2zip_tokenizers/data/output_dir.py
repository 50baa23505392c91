"""What a run may find in its output directory, and what it may touch there.

- Temporary files are named ``.<final name>.<run id>.zip2zip-tmp``. Every run draws a random run
  id and records it in the manifest before it writes anything, so a later run removes exactly
  the temporary files of this output's own runs (one killed while writing), never another
  program's hidden files.
- A shard file that no finished task lists is adopted only when its footer says it is the shard
  this run would write (same settings, same task, same place in it): that is a shard a stopped
  run wrote before it could record its task. Any other file named like a shard (another run's,
  a copy, junk) stops the run with a ``ResumeError`` naming it; nothing is overwritten.

See docs/data-format.md, "Resuming" and "Temporary files".
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable

from zip2zip_tokenizers.data.errors import ResumeError

TEMP_SUFFIX = ".zip2zip-tmp"
SHARD_PATTERN = re.compile(r"shard-(?P<task>\d{5}-\d{5})-(?P<chunk>\d{5})\.parquet")
_TEMP_PATTERN = re.compile(r"\.(?P<name>.+)\.(?P<run>[0-9a-f]{12})" + re.escape(TEMP_SUFFIX))
#: Foreign shards named in an error message (all are counted).
_NAMED = 8


def new_run_id() -> str:
    return secrets.token_hex(6)


def temporary_path(path: str, run: str) -> str:
    """Where ``path`` is written before its atomic rename, by the run ``run``."""
    directory, name = os.path.split(path)
    return os.path.join(directory, f".{name}.{run}{TEMP_SUFFIX}")


def temporary_run(name: str) -> str | None:
    """The run id in ``name`` when it is a temporary name (``temporary_path``), else ``None``."""
    match = _TEMP_PATTERN.fullmatch(name)
    return None if match is None else match["run"]


def remove_stale_temporaries(output: str, runs: list[str]) -> list[str]:
    """Removes the temporary files that the runs ``runs`` left in ``output``; their names."""
    removed = []
    for name in sorted(os.listdir(output)):
        if temporary_run(name) in runs:
            os.remove(os.path.join(output, name))
            removed.append(name)
    return removed


def check_leftover_shards(
    output: str, recorded: set[str], expected: Callable[[str], str | None], manifest: bool
) -> None:
    """Raises ``ResumeError`` unless every shard file in ``output`` is either ``recorded`` (a
    finished task's) or carries, in its footer, the origin ``expected(file name)`` (a shard of
    an unfinished task of this run, written before a stop). ``manifest``: whether ``output``
    has one (only for the message)."""
    from zip2zip_tokenizers.data.shards import shard_origin

    if not os.path.isdir(output):
        return
    foreign: list[str] = []
    for name in sorted(os.listdir(output)):
        if name in recorded or not (name.startswith("shard-") and name.endswith(".parquet")):
            continue
        path = os.path.join(output, name)
        want = expected(name)
        try:
            origin = shard_origin(path)
        except ValueError as error:
            foreign.append(f"{name} ({error})")
            continue
        if want is None or origin != want:
            foreign.append(f"{name} (written by another run)")
    if foreign:
        listed = ", ".join(foreign[:_NAMED]) + (
            f" and {len(foreign) - _NAMED} more" if len(foreign) > _NAMED else ""
        )
        why = "its manifest does not list" if manifest else "there is no manifest.json for"
        raise ResumeError(
            f"{output} holds {len(foreign)} shard file(s) that {why}: {listed}; they are left as "
            "they are: move them away or use another output directory"
        )
