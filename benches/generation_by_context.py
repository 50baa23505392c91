"""Generation compression against prompt length (issue 19).

``reproduce_small.py`` reports greedy generation compression from 300-character prompts, where
the codebook holds few entries when generation starts, while its input compression comes from
512-token windows. This bench generates from longer prompts (the first ``--chars`` characters of
the same held-out files) with each checkpoint and reports base tokens per generated id, greedy
and sampled, next to the prompts' own input compression.

Run: ``python benches/generation_by_context.py --model DIR [--model DIR ...]
--chars 300,1000,2000,4000 --out benches/results/generation_by_context``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch
from uptraining import mean_sd, prompts, write_report
from zip2zip_tokenizers.torch.evaluation import generation_compression, load_for_eval

MODES = ("greedy", "sampled")


def input_compression(tokenizer: Any, texts: list[str]) -> float:
    """Base tokens per id of ``texts`` as the model reads them (the codec's compression)."""
    base = sum(len(tokenizer.base_tokenizer.encode(t, add_special_tokens=False)) for t in texts)
    ids = sum(len(tokenizer.encode(t, add_special_tokens=False)) for t in texts)
    return base / ids


def measure(
    model_dir: str, lengths: list[int], count: int, new_tokens: int
) -> list[dict[str, Any]]:
    model, tokenizer = load_for_eval(model_dir)
    rows = []
    for chars in lengths:
        texts = prompts(count, chars)
        runs = generation_compression(
            model, tokenizer, texts, max_new_tokens=new_tokens, modes=MODES
        )
        rows.append(
            {
                "model": model_dir,
                "chars": chars,
                "prompt_compression": input_compression(tokenizer, texts),
                **{f"{run['mode']}_compression": run["compression"] for run in runs},
                **{f"{run['mode']}_codec_compression": run["codec_compression"] for run in runs},
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def table(rows: list[dict[str, Any]], lengths: list[int]) -> str:
    lines = [
        "| prompt chars | models | prompt input compression | greedy generation compression "
        "| the codec's compression of the greedy text | sampled generation compression "
        "| the codec's compression of the sampled text |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for chars in lengths:
        cell = [r for r in rows if r["chars"] == chars]
        keys = ["prompt_compression", "greedy_compression", "greedy_codec_compression"]
        keys += ["sampled_compression", "sampled_codec_compression"]
        cells = " | ".join(mean_sd([row[key] for row in cell]) for key in keys)
        lines.append(f"| {chars:,} | {len(cell)} | {cells} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="a checkpoint dir")
    parser.add_argument("--chars", default="300,1000,2000,4000")
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    lengths = [int(c) for c in args.chars.split(",")]
    rows = [
        row
        for model_dir in args.model
        for row in measure(model_dir, lengths, args.prompts, args.new_tokens)
    ]
    report = table(rows, lengths)
    print(report)
    if args.out is not None:
        title = "Generation compression by prompt length"
        write_report(args.out, "generation_by_context", title, argv, rows, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
