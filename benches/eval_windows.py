"""Held-out scores of trained checkpoints at several evaluation window lengths (issue 19).

The codec compresses more of a longer window (its codebook holds more of what came before), so
the evaluation window of ``reproduce_small.py`` (``--eval-window``, 512 base tokens by default)
sets the input compression it reports. This scores the checkpoints of such runs (their
``--work`` directories) on the same held-out files at other window lengths: input compression
and held-out bits per byte by window, each arm's seeds as mean ± sample standard deviation
(an arm is a checkpoint's directory name less its ``-seedN``).

Two more views, each its own arm: ``--base`` scores the base model alone (the first checkpoint's,
its adapter disabled, as ``evaluate``'s ``compare_base``), and ``--codebook-off`` scores each
checkpoint that has a codebook with it switched off (``C = 0``: the trained model, adapter on,
reading base ids only), which tells what its training taught it about the text itself.

    python benches/eval_windows.py --model RUN/recipe-seed0 --model RUN/control-seed0 \\
        --windows 512,1024 --base --codebook-off --out benches/results/eval_windows
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import torch
from uptraining import heldout, mean_sd, write_report
from zip2zip_tokenizers.torch.checkpoint import is_peft
from zip2zip_tokenizers.torch.evaluation import evaluate, load_for_eval
from zip2zip_tokenizers.torch.evaluation.run import base_only

METRICS = ("strict", "exact")


def arm_of(model_dir: str) -> str:
    """``recipe`` for ``.../recipe-seed2``."""
    return re.sub(r"-seed\d+$", "", Path(model_dir).name)


def row(
    model_dir: str, arm: str, window: int, compression: float, bits: dict[str, float]
) -> dict[str, Any]:
    # Without a codebook every view is the strict one.
    return {
        "model": model_dir,
        "arm": arm,
        "window": window,
        "input_compression": compression,
        "bits_per_byte": {m: bits.get(m, bits["strict"]) for m in METRICS},
    }


def measure(
    model_dir: str,
    windows: list[int],
    documents: list[Any],
    *,
    base: bool = False,
    without_codebook: bool = False,
) -> list[dict[str, Any]]:
    """The checkpoint's rows, a row per window; with ``base`` first the base model alone's rows
    (arm ``base``), with ``without_codebook`` then its rows read with no codebook (arm
    ``ARM, codebook off``) where it has one."""
    model, tokenizer = load_for_eval(model_dir)
    with_codebook = model.max_codebook_size > 0
    arm = arm_of(model_dir)
    # The same base model (and adapter) behind a wrapper with no codebook.
    plain = base_only(model)
    rows = []

    def add(new: dict[str, Any]) -> None:
        rows.append(new)
        print(json.dumps(new), flush=True)

    if base:
        if not is_peft(model.base_model):
            raise SystemExit(
                f"--base: {model_dir} has no adapter to disable (full fine-tuning); give an "
                "adapter checkpoint first"
            )
        # What ``evaluate``'s ``compare_base`` scores, without the checkpoint's own pass.
        with model.base_model.disable_adapter():
            for window in windows:
                total = evaluate(plain, tokenizer, documents, window=window).total()
                add(row(model_dir, "base", window, 1.0, {"strict": total.bits_per_byte("strict")}))
    for window in windows:
        metrics = METRICS if with_codebook else METRICS[:1]
        total = evaluate(model, tokenizer, documents, window=window, metrics=metrics).total()
        bits = {m: total.bits_per_byte(m) for m in metrics}
        add(row(model_dir, arm, window, total.compression, bits))
    if without_codebook and with_codebook:
        for window in windows:
            total = evaluate(plain, tokenizer, documents, window=window).total()
            bits = {"strict": total.bits_per_byte("strict")}
            add(row(model_dir, f"{arm}, codebook off", window, total.compression, bits))
    return rows


def table(rows: list[dict[str, Any]], windows: list[int]) -> str:
    lines = [
        "| window (base tokens) | arm | seeds | input compression | strict bits/byte | "
        "exact bits/byte |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    arms = list(dict.fromkeys(row["arm"] for row in rows))
    for window in windows:
        for arm in arms:
            cell = [r for r in rows if r["arm"] == arm and r["window"] == window]
            bits = {m: [r["bits_per_byte"][m] for r in cell] for m in METRICS}
            lines.append(
                f"| {window:,} | {arm} | {len(cell)} | "
                f"{mean_sd([r['input_compression'] for r in cell], 2)} | "
                f"{mean_sd(bits['strict'], 3)} | {mean_sd(bits['exact'], 3)} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="a checkpoint dir")
    parser.add_argument("--windows", default="512,1024")
    parser.add_argument("--documents", type=int, default=8, help="held-out files")
    parser.add_argument("--chars", type=int, default=8000, help="characters of each file")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--base", action="store_true", help="also the first checkpoint's base model alone"
    )
    parser.add_argument(
        "--codebook-off",
        action="store_true",
        help="also each checkpoint with a codebook read with it switched off (C = 0)",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    windows = [int(w) for w in args.windows.split(",")]
    documents = heldout(args.documents, args.chars, ("code",))
    rows = []
    for index, model_dir in enumerate(args.model):
        base = args.base and index == 0
        rows += measure(
            model_dir, windows, documents, base=base, without_codebook=args.codebook_off
        )
    report = table(rows, windows)
    print(report)
    if args.out is not None:
        title = "Held-out scores by evaluation window"
        write_report(args.out, "eval_windows", title, argv, rows, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
