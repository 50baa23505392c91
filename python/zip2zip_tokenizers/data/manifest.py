"""The output directory's manifest: what the run was asked to do (inputs, settings), which tasks
are finished with which shards, and the ids of the runs that wrote there. Rewritten atomically
after every finished task, so a run stopped at any moment resumes from it without redoing or
duplicating a shard. Its format is described in docs/data-format.md, "The manifest"; a file
that does not follow it is a ``ResumeError`` naming the file and the key."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from zip2zip_tokenizers.data.errors import ResumeError
from zip2zip_tokenizers.data.output_dir import SHARD_PATTERN, new_run_id, temporary_path

MANIFEST_NAME = "manifest.json"
FORMAT = "zip2zip-shards"
VERSION = 1
SHARD_COUNTS = ("documents", "bytes", "windows", "hypertokens", "base_tokens")
_SETTINGS = {
    "tokenizer": (str, type(None)),
    "fingerprint": (str,),
    "config": (dict,),
    "window": (int,),
    "suffix": (list,),
    "text_field": (str,),
    "shard_bytes": (int,),
}
_TASK = {
    "task_id": (str,),
    "path": (str,),
    "format": (str,),
    "start": (int,),
    "end": (int,),
    "first_record": (int,),
}


def input_identity(path: str) -> dict[str, Any]:
    stat = os.stat(path)
    return {"path": path, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def write_json_atomic(path: str, data: Any, run: str) -> None:
    """Writes ``data`` as JSON to ``path`` through a temporary file of the run ``run``."""
    temporary = temporary_path(path, run)
    with open(temporary, "w", encoding="utf-8") as file:
        json.dump(data, file, indent=1, sort_keys=True)
        file.write("\n")
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


@dataclass
class Manifest:
    """``settings`` and ``inputs`` identify the run; ``tasks`` maps each finished task's id to
    its entry (shards with their counts, bad records); ``runs`` lists the id of every run that
    wrote in ``output`` (their temporary files are the only ones a later run removes); ``run``
    is this process's run id."""

    output: str
    settings: dict[str, Any]
    inputs: list[dict[str, Any]]
    planned: list[str]
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: list[str] = field(default_factory=list)
    run: str = field(default_factory=new_run_id)

    @property
    def path(self) -> str:
        return os.path.join(self.output, MANIFEST_NAME)

    @property
    def complete(self) -> bool:
        return all(task in self.tasks for task in self.planned)

    def shard_files(self) -> list[str]:
        """Paths of every finished shard, in task order."""
        return [
            os.path.join(self.output, shard["file"])
            for task in sorted(self.tasks)
            for shard in self.tasks[task]["shards"]
        ]

    def record(self, entry: dict[str, Any]) -> None:
        self.tasks[entry["task"]["task_id"]] = entry
        self.save()

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "settings": self.settings,
            "inputs": self.inputs,
            "planned": self.planned,
            "complete": self.complete,
            "tasks": self.tasks,
            "runs": self.runs,
        }

    def save(self) -> None:
        write_json_atomic(self.path, self.to_dict(), self.run)

    @staticmethod
    def exists(output: str) -> bool:
        return os.path.exists(os.path.join(output, MANIFEST_NAME))

    @staticmethod
    def load(output: str) -> Manifest:
        """The manifest in ``output``; ``ResumeError`` naming the file (and the key) when there
        is none or it is not a valid manifest."""
        path = os.path.join(output, MANIFEST_NAME)
        try:
            with open(path, encoding="utf-8") as file:
                data = json.load(file)
        except FileNotFoundError:
            raise ResumeError(f"{output}: no {MANIFEST_NAME} (not a preprocessed output)") from None
        except (ValueError, RecursionError) as error:
            raise ResumeError(f"{path}: not a valid manifest ({error})") from error
        except OSError as error:
            raise ResumeError(f"{path}: can not be read ({error})") from error
        _validate(path, data)
        return Manifest(
            output, data["settings"], data["inputs"], data["planned"], data["tasks"],
            list(data.get("runs", [])),
        )  # fmt: skip

    @staticmethod
    def open(
        output: str, settings: dict[str, Any], inputs: list[dict[str, Any]], planned: list[str]
    ) -> Manifest:
        """A fresh manifest (not saved yet), or the one already in ``output`` when it was written
        for the same inputs and settings (a resumed run); ``ResumeError`` when it was not."""
        os.makedirs(output, exist_ok=True)
        if not Manifest.exists(output):
            manifest = Manifest(output, settings, inputs, planned)
        else:
            manifest = Manifest.load(output)
            for what, old, new in (
                ("settings", manifest.settings, settings),
                ("inputs", manifest.inputs, inputs),
                ("task plan", manifest.planned, planned),
            ):
                if old != new:
                    raise ResumeError(
                        f"{output} holds the output of a run with other {what}; "
                        "use a new output directory (or delete this one) to start afresh"
                    )
        return manifest

    def start_run(self) -> None:
        """Records this run's id and saves: from here on the run may write in ``output``."""
        self.runs.append(self.run)
        self.save()


def _fail(path: str, key: str, problem: str) -> ResumeError:
    return ResumeError(f"{path}: not a valid manifest: {key} {problem}")


def _check_fields(
    path: str, key: str, value: object, fields: Mapping[str, tuple[type, ...]]
) -> None:
    if not isinstance(value, dict):
        raise _fail(path, key, f"is a {type(value).__name__}, not an object")
    for name, types in fields.items():
        if name not in value:
            raise _fail(path, f"{key}.{name}", "is missing")
        item = value[name]
        if not isinstance(item, types) or (isinstance(item, bool) and bool not in types):
            raise _fail(path, f"{key}.{name}", f"has the wrong type ({type(item).__name__})")


def _check_count(path: str, key: str, value: object) -> None:
    if type(value) is not int or value < 0:
        raise _fail(path, key, f"is not a count ({value!r})")


def _validate(path: str, data: object) -> None:
    """Raises ``ResumeError`` naming the first key of ``data`` that breaks the format."""
    if not isinstance(data, dict):
        raise ResumeError(
            f"{path}: not a valid manifest (a JSON {type(data).__name__}, not an object)"
        )
    if data.get("format") != FORMAT or data.get("version") != VERSION:
        raise ResumeError(f"{path}: not a {FORMAT} v{VERSION} manifest")
    _check_fields(path, "settings", data.get("settings"), _SETTINGS)
    for key in ("inputs", "planned"):
        if key not in data:
            raise _fail(path, key, "is missing")
    for key in ("inputs", "planned", "runs"):
        if not isinstance(data.get(key, []), list):
            raise _fail(path, key, "is not a list")
    for index, item in enumerate(data.get("inputs", [])):
        fields = {"path": (str,), "size": (int,), "mtime_ns": (int,)}
        _check_fields(path, f"inputs[{index}]", item, fields)
    if not all(isinstance(task, str) for task in data["planned"]):
        raise _fail(path, "planned", "holds something other than task ids")
    if not all(isinstance(run, str) for run in data.get("runs", [])):
        raise _fail(path, "runs", "holds something other than run ids")
    tasks = data.get("tasks")
    if not isinstance(tasks, dict):
        raise _fail(path, "tasks", "is missing or not an object")
    for task_id, entry in tasks.items():
        key = f"tasks[{task_id!r}]"
        _check_fields(path, key, entry, {"task": (dict,), "shards": (list,)})
        _check_fields(path, f"{key}.task", entry["task"], _TASK)
        if entry["task"]["task_id"] != task_id:
            raise _fail(path, f"{key}.task.task_id", "differs from its key")
        if task_id not in data["planned"]:
            raise _fail(path, key, "is not a planned task")
        if entry["task"]["path"] not in {item["path"] for item in data["inputs"]}:
            raise _fail(path, f"{key}.task.path", "is not one of the inputs")
        _check_count(path, f"{key}.bad_records", entry.get("bad_records"))
        if not isinstance(entry.get("bad_locations"), list):
            raise _fail(path, f"{key}.bad_locations", "is missing or not a list")
        for index, shard in enumerate(entry["shards"]):
            where = f"{key}.shards[{index}]"
            _check_fields(path, where, shard, {"file": (str,)})
            if not SHARD_PATTERN.fullmatch(shard["file"]):
                raise _fail(path, f"{where}.file", f"is not a shard name ({shard['file']!r})")
            for count in SHARD_COUNTS:
                _check_count(path, f"{where}.{count}", shard.get(count))
