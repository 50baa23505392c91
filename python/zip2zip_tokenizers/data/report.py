"""The run report: totals and per-input-file counts from the manifest, plus this run's
throughput, as ``report.json`` and a human-readable ``report.txt``."""

from __future__ import annotations

import os
from typing import Any

from zip2zip_tokenizers.data.manifest import Manifest, write_json_atomic
from zip2zip_tokenizers.data.output_dir import temporary_path

COUNTS = ("documents", "bytes", "base_tokens", "hypertokens", "windows")


def _reduction(counts: dict[str, Any]) -> float:
    base = counts["base_tokens"]
    return 1.0 - counts["hypertokens"] / base if base else 0.0


def build_report(
    manifest: Manifest, seconds: float, run_bytes: int, run_base_tokens: int
) -> dict[str, Any]:
    """Counts over every finished task (this run's and earlier ones') and this run's speed."""
    files: dict[str, dict[str, Any]] = {
        item["path"]: {**dict.fromkeys(COUNTS, 0), "bad_records": 0, "bad_locations": []}
        for item in manifest.inputs
    }
    # In plan order (task ids sort so), not the order workers finished them in.
    for task_id in sorted(manifest.tasks):
        entry = manifest.tasks[task_id]
        counts = files[entry["task"]["path"]]
        for shard in entry["shards"]:
            for key in COUNTS:
                counts[key] += shard[key]
        counts["bad_records"] += entry["bad_records"]
        counts["bad_locations"].extend(entry["bad_locations"])
    totals: dict[str, Any] = {
        key: sum(counts[key] for counts in files.values()) for key in (*COUNTS, "bad_records")
    }
    totals["shards"] = len(manifest.shard_files())
    totals["reduction"] = _reduction(totals)
    for counts in files.values():
        counts["reduction"] = _reduction(counts)
    return {
        "complete": manifest.complete,
        "settings": manifest.settings,
        "totals": totals,
        "run": {
            "seconds": seconds,
            "bytes": run_bytes,
            "base_tokens": run_base_tokens,
            "bytes_per_second": run_bytes / seconds if seconds > 0 else 0.0,
            "tokens_per_second": run_base_tokens / seconds if seconds > 0 else 0.0,
        },
        "files": files,
    }


def format_report(report: dict[str, Any]) -> str:
    """The report as a few lines of text and a per-file table."""
    totals, run = report["totals"], report["run"]
    lines = [
        f"status: {'complete' if report['complete'] else 'INCOMPLETE (run again to resume)'}",
        f"documents: {totals['documents']:,}   bad records: {totals['bad_records']:,}   "
        f"shards: {totals['shards']:,}   windows: {totals['windows']:,}",
        f"text: {totals['bytes'] / 1e6:,.1f} MB   base tokens: {totals['base_tokens']:,}   "
        f"hypertokens: {totals['hypertokens']:,}   reduction: {100 * totals['reduction']:.1f} %",
        f"this run: {run['bytes'] / 1e6:,.1f} MB in {run['seconds']:.1f} s = "
        f"{run['bytes_per_second'] / 1e6:.2f} MB/s, {run['tokens_per_second']:,.0f} tokens/s",
        "",
        f"{'file':<48} {'docs':>9} {'MB':>9} {'base tok':>12} {'hypertok':>12} {'red.':>6} "
        f"{'bad':>6}",
    ]
    for path, counts in report["files"].items():
        name = path if len(path) <= 48 else "…" + path[-47:]
        lines.append(
            f"{name:<48} {counts['documents']:>9,} {counts['bytes'] / 1e6:>9.2f} "
            f"{counts['base_tokens']:>12,} {counts['hypertokens']:>12,} "
            f"{100 * counts['reduction']:>5.1f}% {counts['bad_records']:>6,}"
        )
    bad = [loc for counts in report["files"].values() for loc in counts["bad_locations"]]
    if bad:
        lines += ["", "bad records (first of each task):", *(f"  {loc}" for loc in bad)]
    return "\n".join(lines) + "\n"


def write_report(output: str, report: dict[str, Any], run: str) -> None:
    """Writes ``report.json`` and ``report.txt`` atomically (temporary files of the run
    ``run``)."""
    write_json_atomic(os.path.join(output, "report.json"), report, run)
    text_path = os.path.join(output, "report.txt")
    temporary = temporary_path(text_path, run)
    with open(temporary, "w", encoding="utf-8") as file:
        file.write(format_report(report))
    os.replace(temporary, text_path)
