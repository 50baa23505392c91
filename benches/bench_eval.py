"""Evaluation cost and the SmolLM2-135M table, in one run.

Sections:
  ratio  exact multi-view vs strict wall time on the same windows (target <= 2x): a tiny Llama
         with a trained-from-scratch byte-level BPE vocabulary, and SmolLM2-135M-Instruct.
  base   strict scoring of the base model through our wrapper at C=0 vs transformers' own
         rolling log-likelihood (the base model's forward, log-softmax, gather) on the same
         windows (target <= 1.05x), tiny model and SmolLM2.
  table  SmolLM2-135M-Instruct on the held-out split of ``zip2zip_tokenizers.corpora`` (each
         document cut to --max-chars): the base model alone (C=0) and the fresh, untrained
         wrapper with mean and transformer encoders at C=2048, M=4, under strict, first-piece
         and exact multi-view byte perplexity; the full table, generation compression and the
         exact/strict cost ratio per encoder (the seconds of the whole wrapper run over those of
         its canonical pass, measured in the same run).

Timings are best-of-N of interleaved runs (the CPU of this project's machine is shared).
Usage:
  python benches/bench_eval.py [--sections ratio,base,table] [--models tiny,smollm2]
      [--device cpu|cuda]
      [--max-chars 2000] [--window 1024] [--repeats 3] [--json benches/results/eval.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from zip2zip_tokenizers.corpora import documents
from zip2zip_tokenizers.torch import HyperEncoderConfig
from zip2zip_tokenizers.torch.bundled import smollm2_135m_instruct
from zip2zip_tokenizers.torch.evaluation import (
    Document,
    base_only,
    canonical,
    evaluate,
    format_table,
    generation_compression,
    load_for_eval,
    rolling_windows,
    score_segmentation,
    tokenize,
    write_plot,
)

ROOT = Path(__file__).resolve().parent.parent
SMOLLM2_ENCODERS = {
    "mean": HyperEncoderConfig(kind="mean"),
    "transformer": HyperEncoderConfig(kind="transformer"),
}


def heldout(max_chars: int, limit: int | None = None) -> list[Document]:
    docs = [
        Document(f"{d.domain}/{d.name}", d.domain, d.text)
        for d in documents("heldout", max_chars=max_chars)
    ]
    return docs[:limit] if limit else docs


def best_of(fn: Callable[[], Any], repeats: int, device: str) -> float:
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def models(names: list[str]) -> dict[str, Path]:
    """Model directories: the tiny one (built here) and SmolLM2 (converted from the GGUF)."""
    out = {}
    if "tiny" in names:
        sys.path.insert(0, str(ROOT / "tests" / "torch"))
        from tiny_text_model import save_tiny_model

        out["tiny"] = save_tiny_model(Path(tempfile.mkdtemp(prefix="bench-eval-")) / "tiny")
    if "smollm2" in names:
        out["smollm2"] = smollm2_135m_instruct()
    return out


def section_ratio(
    paths: dict[str, Path], docs: list[Document], args: argparse.Namespace
) -> list[dict[str, Any]]:
    return [ratio_one(name, path, docs, args) for name, path in paths.items()]


def ratio_one(
    name: str, path: Path, docs: list[Document], args: argparse.Namespace
) -> dict[str, Any]:
    model, tok = load_for_eval(path, device=args.device, dtype=args.dtype)
    runs: dict[str, float] = {}
    reports: dict[str, Any] = {}

    def run(metrics: tuple[str, ...]) -> None:
        reports[metrics[-1]] = evaluate(model, tok, docs, window=args.window, metrics=metrics)

    evaluate(model, tok, docs[:1], window=args.window, metrics=("strict", "exact"))  # warm
    for _ in range(args.repeats):
        for metrics in [("strict",), ("strict", "exact")]:
            seconds = best_of(lambda m=metrics: run(m), 1, args.device)
            runs[metrics[-1]] = min(runs.get(metrics[-1], float("inf")), seconds)
    exact = reports["exact"]
    row = {
        "model": name,
        "windows": len(exact.windows),
        "base_tokens": exact.total().base_tokens,
        "ids": exact.total().ids,
        "tree_nodes": sum(w.tree_nodes for w in exact.windows),
        "strict_s": runs["strict"],
        "exact_s": runs["exact"],
        "exact_over_strict": runs["exact"] / runs["strict"],
    }
    print(json.dumps(row), flush=True)
    return row


def section_base(
    paths: dict[str, Path], docs: list[Document], args: argparse.Namespace
) -> list[dict[str, Any]]:
    return [base_one(name, path, docs, args) for name, path in paths.items()]


def base_one(
    name: str, path: Path, docs: list[Document], args: argparse.Namespace
) -> dict[str, Any]:
    model, tok = load_for_eval(path, device=args.device, dtype=args.dtype)
    plain = base_only(model)
    prefix = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    windows = [
        w
        for d in docs
        for w in rolling_windows(tokenize(tok.base_tokenizer, d.text), args.window, prefix)
    ]
    base_model = model.base_model

    @torch.no_grad()
    def ours() -> float:
        return sum(
            float(
                score_segmentation(plain, canonical(plain.compression, w.base))
                .logprobs["strict"]
                .sum()
            )
            for w in windows
        )

    @torch.no_grad()
    def theirs() -> float:
        total = 0.0
        for w in windows:
            ids = torch.from_numpy(w.base).to(args.device)[None]
            logits = base_model(input_ids=ids[:, :-1]).logits[0].float()
            logprobs = logits.log_softmax(-1)
            total += float(logprobs.gather(1, ids[0, 1:, None]).sum())
        return total

    difference = abs(ours() - theirs())
    times: dict[str, float] = {"ours": float("inf"), "transformers": float("inf")}
    for _ in range(args.repeats):
        times["transformers"] = min(times["transformers"], best_of(theirs, 1, args.device))
        times["ours"] = min(times["ours"], best_of(ours, 1, args.device))
    row = {
        "model": name,
        "windows": len(windows),
        "base_tokens": sum(w.targets for w in windows),
        "abs_difference_nats": difference,
        "ours_s": times["ours"],
        "transformers_s": times["transformers"],
        "ours_over_transformers": times["ours"] / times["transformers"],
    }
    print(json.dumps(row), flush=True)
    return row


def section_table(
    docs: list[Document], args: argparse.Namespace, plot_dir: Path | None
) -> dict[str, Any]:
    path = smollm2_135m_instruct()
    out: dict[str, Any] = {"documents": len(docs), "max_chars": args.max_chars}
    for index, (name, encoder) in enumerate(SMOLLM2_ENCODERS.items()):
        model, tok = load_for_eval(
            path,
            max_codebook_size=2048,
            max_subtokens=4,
            encoder=encoder,
            device=args.device,
            dtype=args.dtype,
        )
        report = evaluate(
            model,
            tok,
            docs,
            window=args.window,
            metrics=("strict", "first", "exact"),
            compare_base=index == 0,
            progress=True,
        )
        strict_s, exact_s = report.seconds["strict_pass"], report.seconds["wrapper"]
        report.generation = generation_compression(
            model, tok, [d.text[:400] for d in docs[: args.prompts]], max_new_tokens=32
        )
        table = format_table(report, files=False)
        print(f"\n## SmolLM2-135M-Instruct, {name} encoder, C=2048, M=4\n\n{table}", flush=True)
        print(
            f"strict pass {strict_s:.1f} s, strict + first + exact {exact_s:.1f} s: "
            f"{exact_s / strict_s:.2f}x",
            flush=True,
        )
        out[name] = {
            "report": report.to_dict(include_windows=False),
            "table": table,
            "strict_pass_s": strict_s,
            "strict_first_exact_s": exact_s,
            "exact_over_strict": exact_s / strict_s,
        }
        if plot_dir is not None:
            write_plot(report, plot_dir / f"eval_smollm2_{name}.png")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sections", default="ratio,base,table")
    parser.add_argument("--models", default="tiny,smollm2", help="for ratio and base")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--max-chars", type=int, default=2000, help="per held-out document")
    parser.add_argument("--timing-docs", type=int, default=6, help="documents timed (ratio/base)")
    parser.add_argument("--prompts", type=int, default=8, help="generation prompts (table)")
    parser.add_argument("--window", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--plots", type=Path, help="folder for the table's plots")
    args = parser.parse_args()
    args.dtype = getattr(torch, args.dtype)
    sections = set(args.sections.split(","))
    results: dict[str, Any] = {
        "device": args.device,
        "threads": torch.get_num_threads(),
        "window": args.window,
        "torch": torch.__version__,
    }
    timing_docs = heldout(args.max_chars, args.timing_docs)
    if sections & {"ratio", "base"}:
        paths = models(args.models.split(","))
        if "ratio" in sections:
            results["ratio"] = section_ratio(paths, timing_docs, args)
        if "base" in sections:
            results["base"] = section_base(paths, timing_docs, args)
    if "table" in sections:
        results["table"] = section_table(heldout(args.max_chars), args, args.plots)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
