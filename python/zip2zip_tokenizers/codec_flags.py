"""The codec flags every command shares (``--max-codebook-size``, ``--max-subtokens``,
``--disable-digits``, ``--eviction``), defined without importing torch so the commands stay
fast, and the advice naming the flags that make two commands' codec settings agree."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from zip2zip_tokenizers.settings import (
    DEFAULT_DISABLE_DIGITS,
    DEFAULT_EVICTION,
    DEFAULT_MAX_CODEBOOK_SIZE,
    DEFAULT_MAX_SUBTOKENS,
    EVICTION_POLICIES,
)

CODEC_FLAGS = ("max_codebook_size", "max_subtokens", "disable_digits", "eviction")


def add_codec_arguments(container: argparse._ActionsContainer) -> None:
    """Adds the codec flags to a parser or argument group; left out, each means "as the
    tokenizer or model directory's zip2zip_config.json says", then the package default."""
    container.add_argument(
        "--max-codebook-size",
        type=int,
        help=f"hypertokens per codebook (default: as saved, else {DEFAULT_MAX_CODEBOOK_SIZE})",
    )
    container.add_argument(
        "--max-subtokens",
        type=int,
        help=f"longest hypertoken in base tokens (default: as saved, else {DEFAULT_MAX_SUBTOKENS})",
    )
    container.add_argument(
        "--disable-digits",
        action=argparse.BooleanOptionalAction,
        help="never merge digit tokens "
        f"(default: as saved, else {'on' if DEFAULT_DISABLE_DIGITS else 'off'})",
    )
    container.add_argument(
        "--eviction",
        choices=EVICTION_POLICIES,
        help="what a full codebook does with a new entry: none (frozen, the paper's codec) or "
        "lru (it takes the slot of the least recently used entry; for long contexts) "
        f"(default: as saved, else {DEFAULT_EVICTION})",
    )


def codec_flag_advice(
    differences: Sequence[tuple[str, Any, Any]], *, expected_by: str, got_by: str
) -> str:
    """Which flag to pass to the command ``got_by`` (or ``expected_by``) so that its codec
    settings equal the other's, for each ``(field, expected, got)`` of
    ``settings.codec_differences``."""
    advice = []
    for name, expected, got in differences:
        if name in ("max_codebook_size", "max_subtokens"):
            flag = "--" + name.replace("_", "-")
            advice.append(f"pass {flag} {expected} to {got_by}, or {flag} {got} to {expected_by}")
        elif name == "disabled_ids" and set(got) < set(expected):
            advice.append(
                f"pass --disable-digits to {got_by}, or --no-disable-digits to {expected_by}"
            )
        elif name == "disabled_ids" and set(expected) < set(got):
            advice.append(
                f"pass --no-disable-digits to {got_by}, or --disable-digits to {expected_by}"
            )
        elif name == "eviction":
            advice.append(
                f"pass --eviction {expected} to {got_by}, or --eviction {got} to {expected_by}"
            )
        else:
            advice.append(f"run {got_by} with the tokenizer of the model {expected_by} uses")
    return "; ".join(dict.fromkeys(advice))
