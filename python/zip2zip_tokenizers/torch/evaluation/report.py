"""An evaluation report as a text table, a JSON file and a plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zip2zip_tokenizers.torch.evaluation.results import EvalReport, Totals


def _row(totals: Totals, metrics: list[str]) -> list[str]:
    cells = [
        totals.name,
        f"{totals.bytes:,}",
        f"{totals.base_tokens:,}",
        f"{totals.ids:,}",
        f"{totals.compression:.3f}",
        f"{totals.accuracy:.3f}",
        f"{totals.hyper_accuracy:.3f}",
        f"{totals.hyper_prediction_share:.3f} / {totals.hyper_target_share:.3f}",
    ]
    for metric in metrics:
        cells.append(f"{totals.bits_per_byte(metric):.4f}")
        cells.append(f"{totals.byte_perplexity(metric):.4f}")
    return cells


def format_table(report: EvalReport, *, files: bool = True) -> str:
    """A Markdown table: one row per file (when ``files``), per domain, and overall, with bytes,
    base tokens, ids, input compression (base tokens per id), next-id accuracy (all ids, then
    hypertoken targets), the share of argmaxes that are hypertokens against the share of
    targets that are, then bits per byte and byte-level perplexity for each metric; skipped
    inputs are listed under it."""
    metrics = report.metrics
    header = ["file / domain", "bytes", "base tokens", "ids", "base/id", "acc", "hyper acc"]
    header += ["hyper predicted / targets"]
    for metric in metrics:
        header += [f"{metric} bpb", f"{metric} byte-PPL"]
    rows = []
    if files:
        rows += [_row(t, metrics) for t in report.totals("file")]
    rows += [_row(t, metrics) for t in report.totals("domain")]
    rows.append(_row(report.total(), metrics))
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    for skip in report.skipped:
        lines.append(f"skipped {skip.file} at byte {skip.offset}: {skip.reason}")
    for run in report.generation:
        lines.append(
            f"generation ({run['mode']}): {run['base_tokens']} base tokens in {run['ids']} ids, "
            f"{run['compression']:.3f} base tokens per generated id" + _codec_part(run)
        )
    return "\n".join(lines) + "\n"


def _codec_part(run: dict[str, Any]) -> str:
    """The codec's compression of the same text (absent from reports written before it)."""
    if "codec_compression" not in run:
        return ""
    return f" (the codec's encoding of that text: {run['codec_compression']:.3f})"


def write_json(report: EvalReport, path: str | Path) -> None:
    Path(path).write_text(json.dumps(report.to_dict(), indent=1) + "\n", encoding="utf-8")


def write_plot(report: EvalReport, path: str | Path) -> None:
    """Byte-level perplexity against input compression, one point per domain and metric
    (matplotlib: ``pip install "zip2zip-tokenizers[eval]"``)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError(
            'plots need matplotlib: pip install "zip2zip-tokenizers[eval]"'
        ) from error
    figure, axes = plt.subplots(figsize=(6.4, 4.4))
    markers = {"base": "s", "strict": "o", "first": "^", "exact": "D"}
    domains = report.totals("domain")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, totals in enumerate(domains):
        color = colors[index % len(colors)]
        for metric in report.metrics:
            x = 1.0 if metric == "base" else totals.compression
            axes.scatter(
                x,
                totals.byte_perplexity(metric),
                color=color,
                marker=markers.get(metric, "o"),
                label=f"{totals.name} · {metric}",
            )
    axes.set_xlabel("input compression (base tokens per id)")
    axes.set_ylabel("byte-level perplexity")
    axes.set_title("perplexity vs compression per domain")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(str(path), dpi=120)
    plt.close(figure)
