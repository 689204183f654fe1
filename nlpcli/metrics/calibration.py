"""Expected calibration error: do the model's probabilities mean what they say?
Predictions are put in equal-width bins by confidence; ECE is the mean of
|accuracy - mean confidence| over the bins, weighted by their share of predictions
(Guo et al. 2017)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from nlpcli.errors import InputError


def calibration_report(confidences: list[float], correct: list[bool], bins: int = 10) -> dict:
    """ECE (x100) and each bin's range, count, mean confidence and accuracy."""
    confidence, hit = np.asarray(confidences, dtype=float), np.asarray(correct, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    # a bin holds (low, high]; a confidence of exactly 0 goes to the first
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        members = which == b
        count = int(members.sum())
        mean_confidence = float(confidence[members].mean()) if count else 0.0
        accuracy = float(hit[members].mean()) if count else 0.0
        ece += count / len(confidence) * abs(accuracy - mean_confidence)
        table.append({"low": round(float(edges[b]), 4), "high": round(float(edges[b + 1]), 4), "count": count,
                      "confidence": round(mean_confidence, 4), "accuracy": round(accuracy, 4)})
    return {"ece": round(100 * ece, 2), "bins": table, "predictions": len(confidence)}


def plot_reliability(report: dict, path: str | Path, title: str) -> Path:
    """A reliability diagram (accuracy per confidence bin against the diagonal) as an image."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError('reliability diagrams need matplotlib: pip install "nlpcli[plot]"') from None
    path = Path(path)
    bins = [b for b in report["bins"] if b["count"]]
    figure, axes = plt.subplots(figsize=(4.5, 4.5))
    axes.bar([b["low"] for b in bins], [b["accuracy"] for b in bins], width=[b["high"] - b["low"] for b in bins],
             align="edge", edgecolor="black", label="accuracy")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    axes.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="accuracy",
             title=f"{title} (ECE {report['ece']})")
    axes.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
