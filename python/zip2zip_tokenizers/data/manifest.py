"""The output directory's manifest: what the run was asked to do (inputs, settings), and which
tasks are finished with which shards. Rewritten atomically after every finished task, so a run
stopped at any moment resumes from it without redoing or duplicating a shard."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from zip2zip_tokenizers.data.errors import ResumeError

MANIFEST_NAME = "manifest.json"
FORMAT = "zip2zip-shards"
VERSION = 1


def input_identity(path: str) -> dict[str, Any]:
    stat = os.stat(path)
    return {"path": path, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def write_json_atomic(path: str, data: Any) -> None:
    directory, name = os.path.split(path)
    temporary = os.path.join(directory, f".{name}.{os.getpid()}.tmp")
    with open(temporary, "w", encoding="utf-8") as file:
        json.dump(data, file, indent=1, sort_keys=True)
        file.write("\n")
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


@dataclass
class Manifest:
    """``settings`` and ``inputs`` identify the run; ``tasks`` maps each finished task's id to
    its entry (shards with their counts, bad records)."""

    output: str
    settings: dict[str, Any]
    inputs: list[dict[str, Any]]
    planned: list[str]
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)

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
        }

    def save(self) -> None:
        write_json_atomic(self.path, self.to_dict())

    @staticmethod
    def load(output: str) -> Manifest:
        path = os.path.join(output, MANIFEST_NAME)
        try:
            with open(path, encoding="utf-8") as file:
                data = json.load(file)
        except FileNotFoundError:
            raise ResumeError(f"{output}: no {MANIFEST_NAME} (not a preprocessed output)") from None
        except json.JSONDecodeError as error:
            raise ResumeError(f"{path}: not a valid manifest ({error})") from error
        if data.get("format") != FORMAT or data.get("version") != VERSION:
            raise ResumeError(f"{path}: not a {FORMAT} v{VERSION} manifest")
        return Manifest(output, data["settings"], data["inputs"], data["planned"], data["tasks"])

    @staticmethod
    def open(
        output: str, settings: dict[str, Any], inputs: list[dict[str, Any]], planned: list[str]
    ) -> Manifest:
        """A fresh manifest, or the one already in ``output`` when it was written for the same
        inputs and settings (a resumed run); ``ResumeError`` when it was not."""
        os.makedirs(output, exist_ok=True)
        if not os.path.exists(os.path.join(output, MANIFEST_NAME)):
            manifest = Manifest(output, settings, inputs, planned)
            manifest.save()
            return manifest
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
