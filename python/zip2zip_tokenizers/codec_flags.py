"""The codec flags every command shares (``--max-codebook-size``, ``--max-subtokens``,
``--disable-digits``, ``--eviction``), defined without importing torch so the commands stay
fast."""

from __future__ import annotations

import argparse

from zip2zip_tokenizers.settings import (
    DEFAULT_EVICTION,
    DEFAULT_MAX_CODEBOOK_SIZE,
    DEFAULT_MAX_SUBTOKENS,
    EVICTION_POLICIES,
)

CODEC_FLAGS = ("max_codebook_size", "max_subtokens", "disable_digits", "eviction")


def add_codec_arguments(
    container: argparse._ActionsContainer, *, digits_default: str = "off"
) -> None:
    """Adds the codec flags to a parser or argument group; left out, each means "as the
    tokenizer or model directory's zip2zip_config.json says", then the default."""
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
        help=f"never merge digit tokens (default: as saved, else {digits_default})",
    )
    container.add_argument(
        "--eviction",
        choices=EVICTION_POLICIES,
        help="what a full codebook does with a new entry: none (frozen, the paper's codec) or "
        "lru (it takes the slot of the least recently used entry; for long contexts) "
        f"(default: as saved, else {DEFAULT_EVICTION})",
    )
