"""Console entry point: ``zip2zip-tokenizers demo | preprocess | verify | eval | train``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from zip2zip_tokenizers.codec_flags import add_codec_arguments
from zip2zip_tokenizers.flag_ranges import check_ranges
from zip2zip_tokenizers.train_cli import TRAINABLE_ENCODER_KINDS, add_train, run_train


def _add_preprocess(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "preprocess",
        help="tokenize and hypertokenize a corpus into Parquet shards of training windows",
        description="Reads .txt (one document per file), .jsonl, .jsonl.gz, .jsonl.zst and "
        ".parquet inputs and writes Parquet shards of lossless training windows, a manifest "
        "(running the same command again resumes) and a report.",
    )
    parser.add_argument("--tokenizer", required=True, help="a local HF tokenizer directory")
    parser.add_argument(
        "--input", required=True, nargs="+", help="input files, directories or globs"
    )
    parser.add_argument("--output", required=True, help="output directory")
    parser.add_argument("--text-field", default="text", help="JSON field / Parquet column")
    parser.add_argument("--window", type=int, default=1024, help="hypertokens per window")
    add_codec_arguments(parser)
    parser.add_argument(
        "--no-eos", action="store_true", help="do not end each document with the EOS token"
    )
    parser.add_argument(
        "--workers",
        type=int,
        help="processes sharing the cores (default: one per core)",
    )
    parser.add_argument("--engine", choices=("local", "ray"), default="local")
    parser.add_argument("--ray-address", help="address of a running Ray cluster (engine ray)")
    parser.add_argument(
        "--shard-mb", type=float, help="text per shard (and per task), in MB (default: 16)"
    )
    parser.add_argument("--strict", action="store_true", help="stop at the first bad record")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_verify(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "verify",
        help="decode a preprocessed output and check it (against the input, if given)",
    )
    parser.add_argument("output", help="a directory written by preprocess")
    parser.add_argument(
        "--input", nargs="+", help="the inputs preprocessed: also check exact base ids"
    )
    parser.add_argument("--tokenizer", help="tokenizer directory (default: the manifest's)")


def _add_eval(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "eval",
        help="byte-level perplexity (base, strict, multi-view) and compression on text files",
        description="Scores text files in rolling windows of base tokens, each window with its "
        "own codebook, and prints a table per file and domain (a file's domain is its folder). "
        "--model is a zip2zip checkpoint or a plain HF model directory, wrapped with fresh "
        "encoders and the codec settings given here.",
    )
    parser.add_argument("--model", required=True, help="checkpoint or base model directory")
    parser.add_argument("--data", required=True, nargs="+", help="text files, folders or globs")
    parser.add_argument("--tokenizer", help="tokenizer directory (default: the model's)")
    parser.add_argument("--window", type=int, default=1024, help="base tokens per window")
    parser.add_argument("--metrics", default="strict", help="comma-separated: strict, first, exact")
    parser.add_argument(
        "--compare-base", action="store_true", help="also score the base model alone (C=0)"
    )
    parser.add_argument("--json", help="write the report as JSON here")
    parser.add_argument("--plot", help="write a perplexity-vs-compression plot (PNG) here")
    parser.add_argument("--max-chars", type=int, help="cut each file to this many characters")
    add_codec_arguments(parser)
    parser.add_argument(
        "--encoder", choices=TRAINABLE_ENCODER_KINDS, default="mean", help="base models only"
    )
    parser.add_argument(
        "--position-mode",
        choices=("sequential", "base_token_end"),
        default="sequential",
        help="base models only",
    )
    parser.add_argument(
        "--generate",
        type=int,
        default=0,
        metavar="N",
        help="also measure compression of N generated ids per document (greedy and sampled)",
    )
    parser.add_argument(
        "--max-tree-nodes",
        type=int,
        default=2048,
        help="exact metric: tree nodes per packed forward (whole trees per chunk)",
    )
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32")
    parser.add_argument("--device", help="torch device (default: cuda when available)")
    parser.add_argument("--strict", action="store_true", help="stop at the first bad file")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    """Every command and its flags."""
    parser = argparse.ArgumentParser(
        prog="zip2zip-tokenizers", description="LZW hypertokens for Hugging Face tokenizers."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="hypertokenize real text of several domains and print a table"
    )
    demo.add_argument(
        "--tokenizer", help="a local HF tokenizer directory (default: DeepSeek-V4's, bundled)"
    )
    demo.add_argument("--max-codebook-size", type=int)
    demo.add_argument("--max-subtokens", type=int)
    _add_preprocess(commands)
    _add_verify(commands)
    _add_eval(commands)
    add_train(commands)
    harness = commands.add_parser(
        "lm-eval",
        help="lm-evaluation-harness's command line with the zip2zip model registered",
        description="Runs lm-eval's own command line (arguments passed as they are) after "
        "registering --model zip2zip, e.g. lm-eval --model zip2zip --model_args "
        "pretrained=CKPT --tasks TASK.",
    )
    harness.add_argument("arguments", nargs=argparse.REMAINDER)
    return parser


def given_options(argv: Sequence[str]) -> frozenset[str]:
    """The destinations of the options written in ``argv``, whatever their values (a default
    given on purpose included): ``argv`` parsed again with every default suppressed."""
    parser = build_parser()
    parsers = [parser]
    while parsers:
        for action in parsers.pop()._actions:
            action.default = argparse.SUPPRESS
            if isinstance(action, argparse._SubParsersAction):
                parsers.extend(action.choices.values())
    return frozenset(vars(parser.parse_args(argv)))


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    if given[:1] == ["lm-eval"]:
        # Everything after it is lm-eval's (argparse would read its options as ours).
        return _lm_eval(given[1:])
    args = build_parser().parse_args(given)
    if args.command == "demo":
        from zip2zip_tokenizers.demo import run

        run(args.tokenizer, args.max_codebook_size, args.max_subtokens)
        return 0
    from zip2zip_tokenizers import Zip2ZipError

    try:
        check_ranges(args.command, args)
        if args.command == "preprocess":
            return _preprocess(args)
        if args.command == "eval":
            from zip2zip_tokenizers.torch.eval_cli import run_eval

            return run_eval(args)
        if args.command == "train":
            return run_train(args, given_options(given))
        return _verify(args)
    except (Zip2ZipError, OSError) as error:  # an OSError names its file (a full disk...)
        print(f"error: {error}", file=sys.stderr)
        return 2


def _preprocess(args: argparse.Namespace) -> int:
    from zip2zip_tokenizers.data import format_report, preprocess

    report = preprocess(
        args.tokenizer,
        args.input,
        args.output,
        text_field=args.text_field,
        window=args.window,
        max_codebook_size=args.max_codebook_size,
        max_subtokens=args.max_subtokens,
        disable_digits=args.disable_digits,
        eviction=args.eviction,
        append_eos=not args.no_eos,
        workers=args.workers,
        engine=args.engine,
        ray_address=args.ray_address,
        strict=args.strict,
        progress=not args.no_progress,
        **({} if args.shard_mb is None else {"shard_bytes": int(args.shard_mb * 1e6)}),
    )
    print(format_report(report), end="")
    return 0 if report["complete"] else 1


def _verify(args: argparse.Namespace) -> int:
    from zip2zip_tokenizers.data import verify

    result = verify(args.output, args.input, args.tokenizer)
    print(json.dumps(result, indent=1))
    return 0 if result["complete"] else 1


def _lm_eval(arguments: list[str]) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from lm_eval.__main__ import cli_evaluate

    import zip2zip_tokenizers.torch.evaluation.harness  # noqa: F401  (registers "zip2zip")

    saved = sys.argv
    sys.argv = ["lm-eval", *arguments]
    try:
        cli_evaluate()
    finally:
        sys.argv = saved
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
