"""ROUGE-1/2/L F1 from Google's rouge-score with Porter stemming, the mean over
documents; with several references a document scores its best reference
(rouge-score's ``score_multi``, per ROUGE type)."""
from __future__ import annotations

import numpy as np

from nlpcli.metrics.base import Metric, safe_ratio

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


class Rouge(Metric):
    name = "rouge"
    figures = ROUGE_TYPES
    ranking_figure = "rougeL"
    record_unit = "documents"
    libraries = ("rouge-score",)

    def __init__(self, references_per_document: int = 1):
        from rouge_score import rouge_scorer  # imports nltk (about 1 s): only when ROUGE is asked for

        self.references_per_document = references_per_document
        self.scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)

    def record_statistics(self, system: list[str], references: list[list[str]]) -> np.ndarray:
        """``references``: the list of reference summaries of each document."""
        rows = []
        for hypothesis, golds in zip(system, references):
            scores = self.scorer.score_multi(golds, hypothesis)
            rows.append([scores[kind].fmeasure for kind in ROUGE_TYPES] + [1.0])
        return np.array(rows, dtype=float).reshape(-1, len(ROUGE_TYPES) + 1)

    def figures_from(self, totals: np.ndarray) -> dict[str, np.ndarray]:
        documents = totals[..., -1]
        return {kind: 100 * safe_ratio(totals[..., i], documents) for i, kind in enumerate(ROUGE_TYPES)}

    def settings(self) -> dict[str, object]:
        refs = self.references_per_document
        return {"nrefs": refs, "stemmer": "porter", "measure": "f1", **({"multi": "best"} if refs != 1 else {}),
                "mean-over": "documents"}
