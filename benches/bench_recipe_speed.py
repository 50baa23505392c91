"""Training speed of the recipe and its variants against the C = 0 control, per base token.

A zip2zip step reads as many ids as a control step but more text (its training compression), so
the fair price is seconds per *base token*: ``seconds per step / (ids per step x compression)``.
Every arm trains ``--steps`` optimiser steps of reproduce_small's default scale (its cached base
model; reproduce_small's flags work here too) through the same ``train()``; arms are interleaved
``--repeats`` times so a change of machine load hits them alike, and the median is reported.
Run it on a quiet machine: the numbers are only as good as the machine is idle.

    python benches/bench_recipe_speed.py --variant mlp:encoder=mlp
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import reproduce_small as small
import torch
from recipe_variants import add_variant_flag

RESULTS = Path(__file__).parent / "results"


def parse(argv: list[str] | None) -> tuple[argparse.Namespace, small.Scale]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(RESULTS / "recipe_speed.json"))
    add_variant_flag(parser)
    small.add_scale_flags(parser)
    args = parser.parse_args(argv)
    scale = small.scale_from(args, small.Scale(steps=20))
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args, scale


def main(argv: list[str] | None = None) -> None:
    args, scale = parse(argv)
    torch.set_num_threads(args.threads)
    model_dir, _ = small.base_model(scale)
    arms = [
        small.Arm("control", 0, scale.lora_r, scale.steps),
        small.Arm("recipe", scale.codebook, scale.lora_r, scale.steps),
    ]
    arms += [
        small.Arm("recipe", scale.codebook, scale.lora_r, scale.steps, variant=variant)
        for variant in args.variants
    ]
    work = Path(tempfile.mkdtemp(prefix="recipe_speed-"))
    measured: dict[str, list[dict[str, float]]] = {}
    for repeat in range(args.repeats):
        for arm in arms:
            _, _, info = small.uptrain(arm, repeat, scale, model_dir, work)
            label = arm.name if arm.variant is None else arm.variant.label
            ids = scale.batch * scale.window
            measured.setdefault(label, []).append(
                {
                    "seconds_per_step": info["seconds_per_step"],
                    "train_compression": info["train_compression"],
                    "seconds_per_base_token": info["seconds_per_step"]
                    / (ids * info["train_compression"]),
                    "load_average": os.getloadavg()[0],
                }
            )
            print(f"{label}: {measured[label][-1]}", flush=True)
    control = statistics.median(m["seconds_per_base_token"] for m in measured["control"])
    summary = {
        label: {
            "seconds_per_step": statistics.median(m["seconds_per_step"] for m in runs),
            "train_compression": statistics.median(m["train_compression"] for m in runs),
            "time_per_base_token_vs_control": statistics.median(
                m["seconds_per_base_token"] for m in runs
            )
            / control,
        }
        for label, runs in measured.items()
    }
    results = {
        "command": shlex.join(
            ["python", "benches/bench_recipe_speed.py", *(sys.argv[1:] if argv is None else argv)]
        ),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        },
        "scale": asdict(scale),
        "measured": measured,
        "summary": summary,
    }
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print("| arm | s/step | training compression | time per base token vs control |")
    print("|---|---|---|---|")
    for label, row in summary.items():
        print(
            f"| {label} | {row['seconds_per_step']:.3f} | {row['train_compression']:.3f} | "
            f"{row['time_per_base_token_vs_control']:.2f} |"
        )


if __name__ == "__main__":
    main()
