"""``zip2zip-tokenizers eval``: load, read, score, print and write the report."""

from __future__ import annotations

import argparse
import os

import torch

from zip2zip_tokenizers.torch.encoders import HyperEncoderConfig
from zip2zip_tokenizers.torch.evaluation import (
    evaluate,
    expand_paths,
    format_table,
    generation_compression,
    load_for_eval,
    read_documents,
    write_json,
    write_plot,
)
from zip2zip_tokenizers.torch.evaluation.run import iter_metrics


def run_eval(args: argparse.Namespace) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model, tokenizer = load_for_eval(
        args.model,
        tokenizer_dir=args.tokenizer,
        max_codebook_size=args.max_codebook_size,
        max_subtokens=args.max_subtokens,
        disable_digits=args.disable_digits,
        eviction=args.eviction,
        encoder=HyperEncoderConfig(kind=args.encoder),
        position_mode=args.position_mode,
        dtype=getattr(torch, args.dtype),
        device=device,
    )
    documents, skipped = read_documents(
        expand_paths(args.data), max_chars=args.max_chars, strict=args.strict
    )
    report = evaluate(
        model,
        tokenizer,
        documents,
        window=args.window,
        metrics=list(iter_metrics(args.metrics)),
        compare_base=args.compare_base,
        max_tree_nodes=args.max_tree_nodes,
        progress=not args.no_progress,
    )
    report.skipped[:0] = skipped
    report.settings["model"] = str(args.model)
    if args.generate:
        prompts = [d.text[:512] for d in documents]
        report.generation = generation_compression(
            model, tokenizer, prompts, max_new_tokens=args.generate
        )
    print(format_table(report), end="")
    if args.json:
        write_json(report, args.json)
    if args.plot:
        write_plot(report, args.plot)
    return 0
