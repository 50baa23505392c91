"""Where the codebook gains or costs: held-out bits on repeated and on new text, by window.

A base model that copies from its context predicts a repeat of text it has already read far
better than new text; so does the codebook, whose entries are the window's repeats. This scores
one trained checkpoint with a codebook (``--recipe``) and its ``C = 0`` control
(``--control``) on the same held-out windows, target by target, and splits the targets of the
recipe's canonical ids in two: **repeated**, where the last base token of the id's span ends a
run of ``--run`` base tokens that occurred earlier in the window, and **new**, the rest. Each
C = 0 view is charged the base tokens of the same spans, so every view is scored on the same
tokens in each class. The views: the recipe (exact), the recipe with its codebook off (its
base model and adapter behind a wrapper with no codebook), the base model alone (the adapter
disabled) and the control. Bits per base token in each class, and each class's share of the
base tokens.

    python benches/repeated_spans.py --recipe RUN/recipe-seed0 --control RUN/control-seed0 \\
        --windows 512,2048 --documents 3 --chars 12000 --out benches/results/repeated_spans
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from uptraining import heldout, write_report
from zip2zip_tokenizers.torch import Zip2ZipForCausalLM
from zip2zip_tokenizers.torch.checkpoint import is_peft
from zip2zip_tokenizers.torch.evaluation import load_for_eval
from zip2zip_tokenizers.torch.evaluation.run import base_only
from zip2zip_tokenizers.torch.evaluation.scorer import score_segmentation
from zip2zip_tokenizers.torch.evaluation.segments import canonical
from zip2zip_tokenizers.torch.evaluation.windows import prefix_token_id, rolling_windows, tokenize

VIEWS = ("recipe", "recipe, codebook off", "base", "control")
CLASSES = ("repeated", "new")


def repeated_ends(base: np.ndarray, run: int) -> np.ndarray:
    """``ends[t]``: the ``run`` base tokens ending at ``t`` occurred, in that order, ending
    before ``t``."""
    ends = np.zeros(len(base), dtype=bool)
    seen: set[tuple[int, ...]] = set()
    for t in range(run - 1, len(base)):
        key = tuple(int(token) for token in base[t - run + 1 : t + 1])
        ends[t] = key in seen
        seen.add(key)
    return ends


def per_token(model: Zip2ZipForCausalLM, base: np.ndarray) -> np.ndarray:
    """Log-probability in nats of each target base token (``base[1:]``) read with no codebook."""
    scores = score_segmentation(model, canonical(model.compression, base))
    logprobs: np.ndarray = scores.logprobs["strict"].astype(np.float64)
    return logprobs


def window_nats(
    recipe: Zip2ZipForCausalLM,
    plain: Zip2ZipForCausalLM,
    control: Zip2ZipForCausalLM,
    base: np.ndarray,
    run: int,
) -> Iterator[tuple[str, str, float, int]]:
    """``(view, class, nats, base tokens)`` for each target id of the recipe in one window;
    ``plain`` is the recipe's base model and adapter with no codebook (``base_only``)."""
    segmentation = canonical(recipe.compression, base)
    exact = score_segmentation(recipe, segmentation, 1, ("exact",)).logprobs["exact"]
    tokens = {"recipe, codebook off": per_token(plain, base), "control": per_token(control, base)}
    with recipe.base_model.disable_adapter():
        tokens["base"] = per_token(plain, base)
    repeated = repeated_ends(base, run)
    starts, ends = segmentation.starts[1:], segmentation.ends[1:]
    for j, (start, end) in enumerate(zip(starts, ends, strict=True)):
        kind = CLASSES[0] if repeated[end - 1] else CLASSES[1]
        count = int(end - start)
        yield "recipe", kind, -float(exact[j]), count
        for view, logprobs in tokens.items():
            # logprobs[i] scores base[i + 1].
            yield view, kind, -float(logprobs[start - 1 : end - 1].sum()), count


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    device = getattr(args, "device", None)
    recipe, tokenizer = load_for_eval(args.recipe, device=device)
    control, _ = load_for_eval(args.control, device=device)
    if recipe.max_codebook_size == 0 or control.max_codebook_size != 0:
        raise SystemExit("--recipe needs a checkpoint with a codebook, --control one without")
    if not is_peft(recipe.base_model):
        raise SystemExit(
            "--recipe needs an adapter checkpoint: the base model alone is the recipe with its "
            "adapter disabled, and a fully fine-tuned checkpoint has none"
        )
    base_tokenizer = getattr(tokenizer, "base_tokenizer", tokenizer)
    prefix = prefix_token_id(base_tokenizer, recipe.compression)
    documents = heldout(args.documents, args.chars, ("code",))
    plain = base_only(recipe)
    rows = []
    for window in [int(w) for w in args.windows.split(",")]:
        nats = {(v, c): 0.0 for v in VIEWS for c in CLASSES}
        counts = dict.fromkeys(CLASSES, 0)
        with torch.no_grad():
            for document in documents:
                text = tokenize(base_tokenizer, document.text)
                for item in rolling_windows(text, window, prefix):
                    for view, kind, value, count in window_nats(
                        recipe, plain, control, item.base, args.run
                    ):
                        nats[(view, kind)] += value
                        if view == "recipe":
                            counts[kind] += count
        total = sum(counts.values())
        for kind in CLASSES:
            bits = {v: nats[(v, kind)] / counts[kind] / math.log(2) for v in VIEWS}
            rows.append(
                {
                    "window": window,
                    "class": kind,
                    "share": counts[kind] / total,
                    "base_tokens": counts[kind],
                    "bits_per_base_token": bits,
                }
            )
            print(rows[-1], flush=True)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| window (base tokens) | class | share of base tokens | "
        + " | ".join(VIEWS)
        + " | recipe / base |",
        "|---:|---|---:|" + "---:|" * (len(VIEWS) + 1),
    ]
    for row in rows:
        bits = row["bits_per_base_token"]
        cells = " | ".join(f"{bits[v]:.3f}" for v in VIEWS)
        ratio = bits["recipe"] / bits["base"]
        lines.append(
            f"| {row['window']:,} | {row['class']} | {row['share']:.2f} | {cells} | {ratio:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", required=True, help="a checkpoint with a codebook")
    parser.add_argument("--control", required=True, help="its C = 0 control")
    parser.add_argument("--windows", default="512,2048")
    parser.add_argument("--run", type=int, default=4, help="base tokens a repeat must match")
    parser.add_argument("--documents", type=int, default=3, help="held-out code files")
    parser.add_argument("--chars", type=int, default=12000, help="characters of each file")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default=None, help="where the models run (default: cpu)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.run < 1:
        parser.error("--run must be at least 1")
    torch.set_num_threads(args.threads)
    rows = measure(args)
    report = table(rows)
    print(report)
    if args.out is not None:
        title = "Held-out bits per base token on repeated and on new spans"
        write_report(args.out, "repeated_spans", title, argv, rows, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
