"""Issue 20's model half at small scale: one base model uptrained with the same recipe and a small
codebook, frozen when full (``capped``, the paper's codec) or recycling its least recently used
leaves (``lru``), both scored on long held-out documents in windows of several lengths.

The base model, the uptraining and the evaluation are those of ``benches/reproduce_small.py``
(its flags work here too; ``--codebook`` is the codebook both arms share, small enough for the
training windows to fill it). Every held-out document is scored at each ``--windows`` length
(base tokens), so each row says, for that much context, how much the model compresses and what it
pays in bits per byte. Outputs in ``--out``: ``long_context_model.json`` and ``.md``.

    python benches/long_context_model.py                                   # the committed run
    python benches/long_context_model.py --quick --windows 32,64 --out /tmp/lc   # seconds
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import reproduce_small as small
import torch
from recipe_variants import Variant
from uptraining import heldout
from zip2zip_tokenizers.torch.evaluation import evaluate

RESULTS = Path(__file__).parent / "results" / "long_context_model"
LRU = Variant(name="lru", recipe=(("eviction", "lru"),), training=(), given=("eviction=lru",))
# The scale of the committed run: reproduce_small's cached d96 base model, a codebook that the
# 256-id training windows fill halfway through.
DEFAULTS = {
    "vocab": 1024,
    "hidden": 96,
    "layers": 2,
    "corpus_chars": 20_000,
    "pretrain_steps": 300,
    "pretrain_lr": 0.002,
    "codebook": 128,
    "steps": 100,
    "window": 256,
    "train_chars": 20_000,
    "eval_documents": 6,
    "eval_chars": 12_000,
    "eval_window": 256,
}


def parse(argv: list[str] | None) -> tuple[argparse.Namespace, small.Scale]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="reproduce_small's quick model")
    parser.add_argument("--seeds", type=int, default=None, help="default 3; --quick: 1")
    parser.add_argument(
        "--windows", default="256,512,1024", help="comma-separated window lengths (base tokens)"
    )
    parser.add_argument(
        "--metrics", default="strict,exact", help="comma-separated of strict, first, exact"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--work", default=None)
    small.add_scale_flags(parser)
    args = parser.parse_args(argv)
    scale = small.scale_from(
        args, small.QUICK if args.quick else replace(small.Scale(), **DEFAULTS)
    )
    try:
        args.windows = [int(w) for w in args.windows.split(",") if w]
    except ValueError:
        parser.error(f"--windows: whole numbers, comma-separated, got {args.windows!r}")
    if not args.windows or min(args.windows) < 2:
        parser.error("--windows: each window needs at least 2 base tokens")
    # The base model's positions are cached with it: 4 x the longest window it was built for.
    longest = 4 * max(scale.window, scale.eval_window, scale.pretrain_window)
    if max(args.windows) > longest:
        parser.error(f"--windows: at most {longest} base tokens (the base model's positions)")
    args.metrics = [m for m in args.metrics.split(",") if m]
    args.seeds = args.seeds or (1 if args.quick else 3)
    return args, scale


def by_window(
    model: Any, tokenizer: Any, scale: small.Scale, windows: list[int], metrics: list[str]
) -> dict[str, Any]:
    documents = heldout(scale.eval_documents, scale.eval_chars, small.DOMAIN)
    rows = {}
    for window in windows:
        report = evaluate(model, tokenizer, documents, window=window, metrics=metrics)
        total = report.total()
        rows[str(window)] = {
            "windows": total.windows,
            "bytes": total.bytes,
            "input_compression": total.compression,
            "bits_per_byte": {m: total.bits_per_byte(m) for m in report.metrics},
            "hyper_accuracy": total.hyper_accuracy if total.hyper_targets else None,
        }
    return rows


def summary(runs: list[dict[str, Any]], window: str, metrics: list[str]) -> dict[str, Any]:
    def stat(values: list[float]) -> dict[str, float]:
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        return {"mean": statistics.fmean(values), "std": spread, "n": len(values)}

    rows = [run["heldout"][window] for run in runs]
    out = {"input_compression": stat([r["input_compression"] for r in rows])}
    for metric in metrics:
        out[metric] = stat([r["bits_per_byte"][metric] for r in rows])
    return out


def markdown(results: dict[str, Any]) -> str:
    metrics = results["metrics"]
    lines = [
        "# Long held-out documents: capped against evicting codebook",
        "",
        f"`{results['command']}`",
        "",
        f"Codebook {results['scale']['codebook']} x {4}, trained on windows of "
        f"{results['scale']['window']} ids; held-out: {results['scale']['eval_documents']} code "
        f"files cut to {results['scale']['eval_chars']} characters; seeds: {results['seeds']} "
        "(mean ± sample standard deviation).",
        "",
        "| window (base tokens) | model | input compression | "
        + " | ".join(f"{m} bits/byte" for m in metrics)
        + " |",
        "|---|---|---|" + "---|" * len(metrics),
    ]
    for window in map(str, results["windows"]):
        base = results["reference"]["base"][window]
        lines.append(
            f"| {window} | base model | 1.00 | {base['bits_per_byte']['strict']:.3f} |"
            + " |" * (len(metrics) - 1)
        )
        for arm, runs in results["runs"].items():
            s = summary(runs, window, metrics)
            cells = [small.cell(s["input_compression"], 3)]
            cells += [small.cell(s[m], 3) for m in metrics]
            lines.append(f"| {window} | {arm} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write(results: dict[str, Any], out: Path) -> None:
    (out / "long_context_model.json").write_text(
        json.dumps(results, indent=1) + "\n", encoding="utf-8"
    )
    (out / "long_context_model.md").write_text(markdown(results), encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    args, scale = parse(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work or tempfile.mkdtemp(prefix="long_context_model-"))
    started = time.time()
    model_dir, base_info = small.base_model(scale)
    plain = small.Arm("base", 0, 0, 0).recipe()
    plain_tokenizer = plain.tokenizer(model_dir)
    base = plain.build(model_dir, plain_tokenizer).eval()
    results: dict[str, Any] = {
        "command": shlex.join(
            [
                "python",
                "benches/long_context_model.py",
                *(argv if argv is not None else sys.argv[1:]),
            ]
        ),
        "complete": False,
        "machine": {"platform": platform.platform(), "torch": torch.__version__},
        "scale": asdict(scale),
        "windows": args.windows,
        "metrics": args.metrics,
        "seeds": args.seeds,
        "base_model": {k: v for k, v in base_info.items() if k != "history"},
        "reference": {
            "base": by_window(base, plain_tokenizer, scale, args.windows, ["strict"]),
        },
        "runs": {},
    }
    write(results, out)
    arms = [
        small.Arm("capped", scale.codebook, scale.lora_r, scale.steps),
        small.Arm("lru", scale.codebook, scale.lora_r, scale.steps, variant=LRU),
    ]
    for seed in range(args.seeds):
        for arm in arms:
            model, tokenizer, info = small.uptrain(arm, seed, scale, model_dir, work)
            info = {k: v for k, v in info.items() if k != "history"}
            rows = by_window(model, tokenizer, scale, args.windows, args.metrics)
            results["runs"].setdefault(arm.name, []).append(
                {"seed": seed, "train": info, "heldout": rows}
            )
            results["wall_seconds"] = time.time() - started
            write(results, out)
            longest = rows[str(args.windows[-1])]
            print(
                f"{arm.name} seed {seed}: window {args.windows[-1]}: compression "
                f"{longest['input_compression']:.3f}, strict bits/byte "
                f"{longest['bits_per_byte']['strict']:.4f}",
                flush=True,
            )
    results["complete"] = True
    write(results, out)
    print(markdown(results))


if __name__ == "__main__":
    main()
