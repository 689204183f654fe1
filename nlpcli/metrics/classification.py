"""Accuracy and macro-F1 (the unweighted mean of each label's F1) over a fixed label set."""
from __future__ import annotations

import numpy as np

from nlpcli.metrics.base import Metric, harmonic_f1, safe_ratio


class Classification(Metric):
    name = "classification"
    figures = ("accuracy", "macro_f1")
    ranking_figure = "correct"
    record_unit = "examples"

    def __init__(self, labels: list[str]):
        self.labels = sorted(labels)

    def record_statistics(self, system: list[str], references: list[str]) -> np.ndarray:
        """Per text: correct, 1, then for each label: true positive, predicted, gold."""
        rows = []
        for predicted, gold in zip(system, references):
            row = [float(predicted == gold), 1.0]
            for label in self.labels:
                row += [float(predicted == gold == label), float(predicted == label), float(gold == label)]
            rows.append(row)
        return np.array(rows, dtype=float).reshape(-1, 2 + 3 * len(self.labels))

    def _per_label(self, totals: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
        scores = {}
        for i, label in enumerate(self.labels):
            tp, guessed, actual = (totals[..., 2 + 3 * i + j] for j in range(3))
            precision, recall = safe_ratio(tp, guessed), safe_ratio(tp, actual)
            scores[label] = {"precision": 100 * precision, "recall": 100 * recall,
                             "f1": 100 * harmonic_f1(precision, recall), "support": actual}
        return scores

    def figures_from(self, totals: np.ndarray) -> dict[str, np.ndarray]:
        per_label = self._per_label(totals)
        macro = sum(scores["f1"] for scores in per_label.values()) / max(len(per_label), 1)
        return {"accuracy": 100 * safe_ratio(totals[..., 0], totals[..., 1]), "macro_f1": macro}

    def record_figures(self, statistics: np.ndarray) -> list[dict[str, float]]:
        return [{"correct": bool(row[0])} for row in statistics]

    def details(self, totals: np.ndarray) -> dict:
        """Each label's precision, recall, F1 and support (gold count)."""
        return {"per_label": {label: {k: round(float(v), 2) if k != "support" else int(v) for k, v in scores.items()}
                              for label, scores in self._per_label(totals).items()}}

    def settings(self) -> dict[str, object]:
        return {"labels": ",".join(self.labels), "average": "macro"}
