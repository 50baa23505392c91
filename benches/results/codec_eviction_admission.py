"""Base tokens per id when a full codebook creates only every k-th new entry (admission), under
the eviction oracle's lru and clock, on bench_long_context's streams (a throwaway measurement:
benches/results/codec_eviction_floor.md).

    python benches/results/codec_eviction_admission.py code   # or perl
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "benches"), str(ROOT / "tests")]

import bench_long_context as bench  # noqa: E402
from eviction_oracle import LZW  # noqa: E402


class Admitting(LZW):
    """The oracle, except that a full codebook drops all but every ``every``-th new entry."""

    def __init__(self, *args: Any, every: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.every, self.attempts = every, 0

    def _create(self, tokens: tuple[int, ...]) -> None:
        if self.is_full():
            self.attempts += 1
            if self.attempts % self.every:
                return
        super()._create(tokens)


def main(corpus: str) -> None:
    tokenizer = bench.load_tokenizer()
    vocab = tokenizer.get_vocab_size(with_added_tokens=True)
    disabled = sorted(tokenizer.get_added_tokens_decoder())
    files = bench.stdlib_files() if corpus == "code" else bench.perl_files()
    ids = bench.stream(tokenizer, files, 131_072)
    for policy in ("lru", "clock"):
        for every in (1, 2, 4, 8):
            row = []
            for n in (32_768, 131_072):
                lzw = Admitting(vocab, bench.SIZE, bench.SUBTOKENS, disabled, policy, every=every)
                row.append(f"{n}: {n / len(lzw.encode(ids[:n])):.3f}")
            print(corpus, policy, "admitting 1 in", every, " ".join(row), flush=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "code")
