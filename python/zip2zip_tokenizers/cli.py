"""Console entry point: ``zip2zip-tokenizers demo``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
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
    demo.add_argument("--max-codebook-size", type=int, default=2048)
    demo.add_argument("--max-subtokens", type=int, default=4)
    args = parser.parse_args(argv)
    if args.command == "demo":
        from zip2zip_tokenizers.demo import run

        run(args.tokenizer, args.max_codebook_size, args.max_subtokens)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
