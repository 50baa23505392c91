"""Evaluate a model on text files: read, window, score under each metric, sum."""

from __future__ import annotations

import contextlib
import glob
import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zip2zip_tokenizers._core import CompressionConfig
from zip2zip_tokenizers.torch.checkpoint import is_peft
from zip2zip_tokenizers.torch.encoders import HyperEncoderConfig
from zip2zip_tokenizers.torch.evaluation.errors import EvaluationError
from zip2zip_tokenizers.torch.evaluation.results import EvalReport, Skipped, WindowResult
from zip2zip_tokenizers.torch.evaluation.scorer import (
    DEFAULT_MAX_TREE_NODES,
    METRICS,
    score_segmentation,
)
from zip2zip_tokenizers.torch.evaluation.segments import canonical
from zip2zip_tokenizers.torch.evaluation.windows import prefix_token_id, rolling_windows, tokenize

if TYPE_CHECKING:
    from zip2zip_tokenizers.torch.model import Zip2ZipForCausalLM

DEFAULT_WINDOW = 1024


@dataclass(frozen=True)
class Document:
    """A text to evaluate: its file (or name), its domain and its text."""

    file: str
    domain: str
    text: str


def expand_paths(patterns: Sequence[str | Path]) -> list[Path]:
    """Files named by ``patterns`` (files, directories read recursively for ``*.txt``, globs),
    sorted within each pattern, each once."""
    found: list[Path] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            matches = sorted(p for p in path.rglob("*.txt") if p.is_file())
        elif path.is_file():
            matches = [path]
        else:
            matches = sorted(Path(p) for p in glob.glob(str(pattern), recursive=True))
            matches = [p for p in matches if p.is_file()]
        if not matches:
            raise EvaluationError(f"no file matches {str(pattern)!r}")
        found.extend(p for p in matches if p not in found)
    return found


def read_documents(
    paths: Sequence[str | Path], *, max_chars: int | None = None, strict: bool = False
) -> tuple[list[Document], list[Skipped]]:
    """Each file as one document, its domain the name of its folder. An empty file or one that
    is not UTF-8 is skipped (and named, with the byte offset of the first bad byte), or raises
    ``EvaluationError`` when ``strict``. ``max_chars`` (at least 1) cuts each text."""
    if max_chars is not None and not max_chars >= 1:
        raise EvaluationError(f"max_chars must be at least 1 (or None), got {max_chars}")
    documents, skipped = [], []
    for path in map(Path, paths):
        data = path.read_bytes()
        problem: Skipped | None = None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            bad = data[error.start : error.start + 1].hex()
            problem = Skipped(str(path), error.start, f"not UTF-8 (byte 0x{bad})")
        else:
            if not text.strip():
                problem = Skipped(str(path), 0, "empty")
        if problem is not None:
            if strict:
                raise EvaluationError(f"{problem.file}: {problem.reason} at byte {problem.offset}")
            skipped.append(problem)
            continue
        documents.append(Document(str(path), path.parent.name, text[:max_chars]))
    return documents, skipped


def base_only(model: Zip2ZipForCausalLM) -> Zip2ZipForCausalLM:
    """The same base model behind a wrapper with no codebook (``C = 0``): the base model alone."""
    from zip2zip_tokenizers.torch.model import Zip2ZipForCausalLM

    config = model.compression
    plain = CompressionConfig(
        config.initial_vocab_size,
        0,
        config.max_subtokens,
        config.disabled_ids,
        config.pad_token_id,
    )
    return Zip2ZipForCausalLM(
        model.base_model,
        plain,
        HyperEncoderConfig(kind="mean"),
        position_mode=model.position_mode,
        base_model_name_or_path=model.base_model_name_or_path,
    ).eval()


def _without_adapter(model: Zip2ZipForCausalLM) -> contextlib.AbstractContextManager[Any]:
    if is_peft(model.base_model):
        manager: contextlib.AbstractContextManager[Any] = model.base_model.disable_adapter()
        return manager
    return contextlib.nullcontext()


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="tok", desc="eval", dynamic_ncols=True)


def evaluate(
    model: Zip2ZipForCausalLM,
    tokenizer: Any,
    documents: Sequence[Document],
    *,
    window: int = DEFAULT_WINDOW,
    metrics: Collection[str] = ("strict",),
    compare_base: bool = False,
    max_tree_nodes: int = DEFAULT_MAX_TREE_NODES,
    progress: bool = False,
) -> EvalReport:
    """Scores every document in rolling windows of ``window`` base tokens under ``metrics``
    (``strict``, ``first``, ``exact``), plus ``base`` (the base model alone) with
    ``compare_base``. ``tokenizer`` is a ``Zip2ZipTokenizer`` or its base tokenizer."""
    if isinstance(metrics, str):
        raise TypeError(f"metrics must be a collection of names, not one str ({metrics!r})")
    chosen = [m for m in METRICS if m in set(metrics)]
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown or not chosen:
        raise EvaluationError(f"metrics must be some of {list(METRICS)}, got {sorted(metrics)}")
    base_tokenizer = getattr(tokenizer, "base_tokenizer", tokenizer)
    config = model.compression
    prefix = prefix_token_id(base_tokenizer, config)
    report = EvalReport(
        metrics=(["base"] if compare_base else []) + chosen,
        settings={
            "window": window,
            "initial_vocab_size": config.initial_vocab_size,
            "max_codebook_size": config.max_codebook_size,
            "max_subtokens": config.max_subtokens,
            "position_mode": model.position_mode,
            "encoder": model.encoder_config.kind,
            "prefix_token_id": prefix,
        },
        seconds={"base": 0.0, "wrapper": 0.0, "strict_pass": 0.0, "multi_view": 0.0},
    )
    plan = []
    for document in documents:
        text = tokenize(base_tokenizer, document.text)
        if not len(text.ids):
            report.skipped.append(Skipped(document.file, 0, "no tokens"))
            continue
        plan.append((document, rolling_windows(text, window, prefix)))
    reference = base_only(model) if compare_base else None
    bar = _progress(sum(w.targets for _, ws in plan for w in ws), progress)
    for document, windows in plan:
        for item in windows:
            report.windows.append(
                _score_window(model, reference, document, item, chosen, max_tree_nodes, report)
            )
            if bar is not None:
                bar.update(item.targets)
    if bar is not None:
        bar.close()
    return report


def _score_window(
    model: Zip2ZipForCausalLM,
    reference: Zip2ZipForCausalLM | None,
    document: Document,
    window: Any,
    metrics: list[str],
    max_tree_nodes: int,
    report: EvalReport,
) -> WindowResult:
    nll: dict[str, float] = {}
    if reference is not None:
        started = time.perf_counter()
        with _without_adapter(model):
            plain = score_segmentation(reference, canonical(reference.compression, window.base))
        report.seconds["base"] += time.perf_counter() - started
        nll["base"] = -float(plain.logprobs["strict"].astype("float64").sum())
    started = time.perf_counter()
    segmentation = canonical(model.compression, window.base)
    scores = score_segmentation(
        model, segmentation, 1, metrics, max_tree_nodes=max_tree_nodes, greedy=True
    )
    report.seconds["wrapper"] += time.perf_counter() - started
    report.seconds["strict_pass"] += scores.seconds.get("strict", 0.0)
    report.seconds["multi_view"] += scores.seconds.get("multi_view", 0.0)
    for metric in metrics:
        nll[metric] = -float(scores.logprobs[metric].astype("float64").sum())
    assert scores.predictions is not None and scores.greedy is not None
    vocab = model.compression.initial_vocab_size
    hyper_targets = segmentation.ids[1:] >= vocab
    return WindowResult(
        file=document.file,
        domain=document.domain,
        window=window.index,
        base_start=window.base_start,
        byte_start=window.byte_start,
        bytes=window.bytes,
        base_tokens=window.targets,
        ids=len(segmentation.ids) - 1,
        nll=nll,
        tree_nodes=scores.tree_nodes,
        correct=int(scores.greedy.sum()),
        hyper_targets=int(hyper_targets.sum()),
        hyper_correct=int((scores.greedy & hyper_targets).sum()),
        hyper_predicted=int((scores.predictions >= vocab).sum()),
    )


def iter_metrics(value: str) -> Iterator[str]:
    """``"strict,first"`` -> ``strict``, ``first``."""
    for part in value.split(","):
        if part.strip():
            yield part.strip()
