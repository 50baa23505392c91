"""Pieces the uptraining benches share: offline training texts, held-out documents and prompts
from ``zip2zip_tokenizers.corpora``, a generation printed with its hypertokens marked, and the
``mean ± sd`` cells and JSON + Markdown outputs of the benches that tabulate rows."""

from __future__ import annotations

import json
import random
import shlex
import statistics
import sys
from pathlib import Path
from typing import Any

from zip2zip_tokenizers import corpora
from zip2zip_tokenizers.torch.evaluation import Document


def training_texts(
    max_chars: int, seed: int, domains: tuple[str, ...] = corpora.DOMAINS
) -> list[str]:
    """The ``train`` split's documents of ``domains`` (each cut to ``max_chars``), shuffled."""
    texts = [doc.text for doc in corpora.documents("train", domains, max_chars=max_chars)]
    random.Random(seed).shuffle(texts)
    return texts


def heldout(
    documents: int, max_chars: int, domains: tuple[str, ...] = corpora.DOMAINS
) -> list[Document]:
    """The first ``documents`` held-out documents of each domain, cut to ``max_chars``."""
    chosen: list[Document] = []
    for domain in domains:
        docs = corpora.documents("heldout", (domain,), max_chars=max_chars)[:documents]
        chosen += [Document(f"{d.domain}/{d.name}", d.domain, d.text) for d in docs]
    return chosen


def prompts(count: int, chars: int) -> list[str]:
    """The first ``chars`` characters of ``count`` held-out code files (not the first file)."""
    docs = corpora.documents("heldout", ("code",), max_chars=4000)
    return [doc.text[:chars] for doc in docs[1 : count + 1]]


def marked(tokenizer: Any, ids: list[int], start: int) -> str:
    """The text of ``ids[start:]`` with each hypertoken in brackets (``ids`` is the whole
    sequence: a hypertoken means something only within it)."""
    pieces = tokenizer.convert_ids_to_tokens(ids)[start:]
    vocab = tokenizer.initial_vocab_size
    text = tokenizer.base_tokenizer.convert_tokens_to_string
    return "".join(
        f"[{text([p])}]" if i >= vocab else text([p])
        for i, p in zip(ids[start:], pieces, strict=True)
    )


def mean_sd(values: list[float], digits: int = 2) -> str:
    """``mean ± sample sd`` of ``values`` (sd 0 for one value)."""
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.{digits}f} ± {sd:.{digits}f}"


def bench_command(script: str, argv: list[str] | None) -> str:
    """The command line that ran ``benches/<script>`` with ``argv`` (``None``: this process's own
    arguments), quoted as a shell would need it."""
    given = sys.argv[1:] if argv is None else argv
    return shlex.join(["python", f"benches/{script}", *given])


def write_report(
    out: Path,
    stem: str,
    title: str,
    argv: list[str] | None,
    rows: list[dict[str, Any]],
    report: str,
) -> None:
    """``out/stem.json`` (the command and the rows) and ``out/stem.md`` (a title, the command
    and the table ``report``); the command is ``benches/<stem>.py`` run with ``argv`` (see
    ``bench_command``)."""
    command = bench_command(f"{stem}.py", argv)
    out.mkdir(parents=True, exist_ok=True)
    payload = {"command": command, "rows": rows}
    (out / f"{stem}.json").write_text(json.dumps(payload, indent=1) + "\n")
    (out / f"{stem}.md").write_text(f"# {title}\n\nCommand: `{command}`\n\n{report}")
