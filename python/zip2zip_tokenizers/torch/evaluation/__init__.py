"""Evaluation of any model with or without hypertokens (see ``docs/evaluation.md``).

Byte-level perplexity and bits per byte over lm-eval-style rolling windows under four metrics —
``base`` (the base model alone), ``strict`` (canonical ids), ``first`` (multi-view, first piece:
an upper bound) and ``exact`` (multi-view, every segmentation of each target's span, scored with
tree attention) — input compression per domain, and compression at write time.
"""

from __future__ import annotations

from zip2zip_tokenizers.torch.evaluation.errors import EvaluationError
from zip2zip_tokenizers.torch.evaluation.generation import generation_compression
from zip2zip_tokenizers.torch.evaluation.loading import check_codec, load_for_eval
from zip2zip_tokenizers.torch.evaluation.report import format_table, write_json, write_plot
from zip2zip_tokenizers.torch.evaluation.results import EvalReport, Skipped, Totals, WindowResult
from zip2zip_tokenizers.torch.evaluation.run import (
    Document,
    base_only,
    evaluate,
    expand_paths,
    read_documents,
)
from zip2zip_tokenizers.torch.evaluation.scorer import METRICS, TargetScores, score_segmentation
from zip2zip_tokenizers.torch.evaluation.segments import (
    Segmentation,
    canonical,
    canonical_with_break,
)
from zip2zip_tokenizers.torch.evaluation.windows import Window, rolling_windows, tokenize

__all__ = [
    "METRICS",
    "Document",
    "EvalReport",
    "EvaluationError",
    "Segmentation",
    "Skipped",
    "TargetScores",
    "Totals",
    "Window",
    "WindowResult",
    "base_only",
    "canonical",
    "canonical_with_break",
    "check_codec",
    "evaluate",
    "expand_paths",
    "format_table",
    "generation_compression",
    "load_for_eval",
    "read_documents",
    "rolling_windows",
    "score_segmentation",
    "tokenize",
    "write_json",
    "write_plot",
]
