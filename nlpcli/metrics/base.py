"""What every metric is, in sacrebleu's pattern: per-record sufficient statistics
that sum over any subset of records, figures computed from their totals, and a
signature naming the metric, its settings, the resampling and the library versions.

Summing statistics is what makes resampling cheap and exact: a bootstrap resample
or a shuffled pseudo-system is a different weighting of the same rows."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version

import numpy as np


def library_version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


@dataclass
class Signature:
    """Everything needed to reproduce a score. ``format()`` is one line in
    sacrebleu's style (``name|key:value|...|version:...``)."""

    metric: str
    settings: dict[str, object] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    resampling: dict[str, object] = field(default_factory=dict)  # e.g. {"bs": 1000, "rs": 12345}

    def format(self) -> str:
        parts = [self.metric, *(f"{key}:{value}" for key, value in {**self.settings, **self.resampling}.items())]
        parts.append("version:" + ",".join(f"{name}-{number}" for name, number in self.versions.items()))
        return "|".join(parts)

    def as_dict(self) -> dict:
        return {"text": self.format(), "metric": self.metric, "settings": dict(self.settings),
                "resampling": dict(self.resampling), "versions": dict(self.versions)}


class Metric(ABC):
    """A corpus metric over records (sentences, documents, questions, texts).

    Subclasses give ``record_statistics`` (an n x k array, one row per record)
    and ``figures_from`` (the reported figures, x100, from summed rows; it must
    accept a stack of totals, shape (..., k), so resamples are scored at once)."""

    name: str = ""
    figures: tuple[str, ...] = ()  # reported figures, in display order
    ranking_figure: str = ""  # per-record figure that --worst sorts by (lowest first)
    record_unit: str = "records"
    higher_is_better: bool = True
    libraries: tuple[str, ...] = ()  # packages whose versions the signature names

    @abstractmethod
    def record_statistics(self, system: list, references: list) -> np.ndarray:
        """Sufficient statistics of each record (rows sum to the corpus's)."""

    @abstractmethod
    def figures_from(self, totals: np.ndarray) -> dict[str, np.ndarray]:
        """The figures (x100) from summed statistics; leading axes are kept."""

    def settings(self) -> dict[str, object]:
        return {}

    def details(self, totals: np.ndarray) -> dict:
        """What else the corpus report shows (per-label or per-type scores, counts)."""
        return {}

    def report(self, statistics: np.ndarray, resampling: dict | None = None) -> dict:
        """Figures (x100, 2 decimals), the number of records, details and the Signature object."""
        figures = {name: round(value, 2) for name, value in self.corpus_figures(statistics).items()}
        return {**figures, self.record_unit: len(statistics), **self.details(statistics.sum(axis=0)),
                "signature": self.signature(resampling)}

    def corpus_figures(self, statistics: np.ndarray) -> dict[str, float]:
        return {name: float(value) for name, value in self.figures_from(statistics.sum(axis=0)).items()}

    def record_figures(self, statistics: np.ndarray) -> list[dict[str, float]]:
        """Each record's own figures (the metric applied to that record alone)."""
        scored = self.figures_from(statistics)
        return [{name: float(values[i]) for name, values in scored.items()} for i in range(len(statistics))]

    def signature(self, resampling: dict | None = None) -> Signature:
        versions = {package: library_version(package) for package in (*self.libraries, "nlpcli")}
        return Signature(self.name, self.settings(), versions, dict(resampling or {}))


def safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (precision of no guesses)."""
    numerator, denominator = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    return np.divide(numerator, denominator, out=np.zeros(np.broadcast(numerator, denominator).shape), where=denominator != 0)


def harmonic_f1(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    return safe_ratio(2 * precision * recall, precision + recall)
