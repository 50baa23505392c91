"""What an evaluation measured: per window, and summed per file, per domain and overall, with
bits per byte, byte-level perplexity and input compression derived from the sums."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class WindowResult:
    """One scored window: where it is, what it covers, its negative log-likelihood in nats
    under each metric (``base`` is the base model alone; the others are the wrapper's), and how
    its canonical ids fared as the wrapper's argmax: ids predicted exactly (``correct``),
    hypertoken targets, those predicted exactly, and argmaxes that were hypertokens."""

    file: str
    domain: str
    window: int
    base_start: int
    byte_start: int
    bytes: int
    base_tokens: int
    ids: int
    nll: dict[str, float]
    tree_nodes: int = 0
    correct: int = 0
    hyper_targets: int = 0
    hyper_correct: int = 0
    hyper_predicted: int = 0


@dataclass
class Totals:
    """Sums over windows, and the metrics derived from them."""

    name: str
    windows: int = 0
    bytes: int = 0
    base_tokens: int = 0
    ids: int = 0
    nll: dict[str, float] = field(default_factory=dict)
    correct: int = 0
    hyper_targets: int = 0
    hyper_correct: int = 0
    hyper_predicted: int = 0

    def add(self, result: WindowResult) -> None:
        self.windows += 1
        self.bytes += result.bytes
        self.base_tokens += result.base_tokens
        self.ids += result.ids
        self.correct += result.correct
        self.hyper_targets += result.hyper_targets
        self.hyper_correct += result.hyper_correct
        self.hyper_predicted += result.hyper_predicted
        for metric, value in result.nll.items():
            self.nll[metric] = self.nll.get(metric, 0.0) + value

    @property
    def compression(self) -> float:
        """Input compression: base tokens per id."""
        return self.base_tokens / self.ids if self.ids else float("nan")

    @property
    def accuracy(self) -> float:
        """Share of canonical ids that were the wrapper's argmax."""
        return self.correct / self.ids if self.ids else float("nan")

    @property
    def hyper_accuracy(self) -> float:
        """Share of hypertoken targets that were the wrapper's argmax (NaN without any)."""
        return self.hyper_correct / self.hyper_targets if self.hyper_targets else float("nan")

    @property
    def hyper_target_share(self) -> float:
        """Share of canonical ids that are hypertokens."""
        return self.hyper_targets / self.ids if self.ids else float("nan")

    @property
    def hyper_prediction_share(self) -> float:
        """Share of positions where the wrapper's argmax is a hypertoken: well below the target
        share, a model that rarely writes hypertokens when it generates greedily."""
        return self.hyper_predicted / self.ids if self.ids else float("nan")

    def bits_per_byte(self, metric: str) -> float:
        return self.nll[metric] / (self.bytes * math.log(2)) if self.bytes else float("nan")

    def byte_perplexity(self, metric: str) -> float:
        return math.exp(self.nll[metric] / self.bytes) if self.bytes else float("nan")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "windows": self.windows,
            "bytes": self.bytes,
            "base_tokens": self.base_tokens,
            "ids": self.ids,
            "compression": self.compression,
            "accuracy": self.accuracy,
            "hyper_accuracy": self.hyper_accuracy,
            "hyper_target_share": self.hyper_target_share,
            "hyper_prediction_share": self.hyper_prediction_share,
            "nll": dict(self.nll),
            "bits_per_byte": {m: self.bits_per_byte(m) for m in self.nll},
            "byte_perplexity": {m: self.byte_perplexity(m) for m in self.nll},
        }
        return out


@dataclass
class Skipped:
    """A file or window left out, with where and why."""

    file: str
    offset: int
    reason: str


@dataclass
class EvalReport:
    """Every window's result, what was skipped, the settings and the seconds each part took
    (``base``: the base model alone; ``wrapper``: the wrapper's metrics, of which
    ``strict_pass`` was the canonical forward and ``multi_view`` the first-piece and exact work
    after it)."""

    metrics: list[str]
    windows: list[WindowResult] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    generation: list[dict[str, Any]] = field(default_factory=list)

    def totals(self, key: str) -> list[Totals]:
        """Sums per ``"file"`` or per ``"domain"``, in first-seen order."""
        groups: dict[str, Totals] = {}
        for result in self.windows:
            name = result.file if key == "file" else result.domain
            groups.setdefault(name, Totals(name)).add(result)
        return list(groups.values())

    def total(self) -> Totals:
        return _sum("all", self.windows)

    def to_dict(self, *, include_windows: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "metrics": self.metrics,
            "settings": self.settings,
            "seconds": self.seconds,
            "total": self.total().to_dict(),
            "domains": [t.to_dict() for t in self.totals("domain")],
            "files": [t.to_dict() for t in self.totals("file")],
            "skipped": [asdict(s) for s in self.skipped],
            "generation": self.generation,
        }
        if include_windows:
            out["windows"] = [asdict(w) for w in self.windows]
        return out


def _sum(name: str, results: Iterable[WindowResult]) -> Totals:
    totals = Totals(name)
    for result in results:
        totals.add(result)
    return totals
