"""SQuAD v1.1 exact match and F1, the official evaluation script's arithmetic:
normalised answers, the best over each question's gold answers, the mean over
questions; an unanswered question scores 0."""
from __future__ import annotations

import re
import string
from collections import Counter

import numpy as np

from nlpcli.metrics.base import Metric, safe_ratio

PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation, the articles a/an/the, and extra whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def answer_f1(prediction: str, gold: str) -> float:
    predicted, expected = normalize_answer(prediction).split(), normalize_answer(gold).split()
    same = sum((Counter(predicted) & Counter(expected)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(expected)
    return 2 * precision * recall / (precision + recall)


def exact_and_f1(prediction: str, golds: list[str]) -> tuple[float, float]:
    """One answer's exact match and F1, each the best over the question's gold answers."""
    return (max(float(normalize_answer(prediction) == normalize_answer(gold)) for gold in golds),
            max(answer_f1(prediction, gold) for gold in golds))


class SquadAnswers(Metric):
    name = "squad-v1.1"
    figures = ("exact_match", "f1")
    ranking_figure = "f1"
    record_unit = "questions"

    def record_statistics(self, system: list[str | None], references: list[list[str]]) -> np.ndarray:
        """``system``: each question's answer (None: unanswered); ``references``: its gold answers.
        Per question: exact match, F1, 1, answered."""
        rows = []
        for prediction, golds in zip(system, references):
            if prediction is None or not golds:
                rows.append([0.0, 0.0, 1.0, float(prediction is not None)])
                continue
            rows.append([*exact_and_f1(prediction, golds), 1.0, 1.0])
        return np.array(rows, dtype=float).reshape(-1, 4)

    def figures_from(self, totals: np.ndarray) -> dict[str, np.ndarray]:
        return {"exact_match": 100 * safe_ratio(totals[..., 0], totals[..., 2]),
                "f1": 100 * safe_ratio(totals[..., 1], totals[..., 2])}

    def details(self, totals: np.ndarray) -> dict:
        return {"unanswered": int(totals[2] - totals[3])}

    def settings(self) -> dict[str, object]:
        return {"normalize": "lower,punct,articles,space", "max-over": "gold", "unanswered": 0}
