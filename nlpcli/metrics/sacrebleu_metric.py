"""sacrebleu's own metrics behind nlpcli's Metric interface: statistics and scores
are sacrebleu's, so intervals and paired tests equal the ``sacrebleu`` command's."""
from __future__ import annotations

import numpy as np

from nlpcli.metrics.base import Metric, Signature


class SacrebleuSignature(Signature):
    """sacrebleu's signature, printed exactly as sacrebleu prints it."""

    def __init__(self, metric: str, native):
        info = dict(native.info)
        version = info.pop("version", "")
        super().__init__(metric, {k: v for k, v in info.items() if k not in ("bs", "ar", "seed")},
                         {"sacrebleu": version}, {k: info[k] for k in ("bs", "ar", "seed") if info.get(k) is not None})
        self.native = native

    def format(self) -> str:
        return self.native.format()


class SacrebleuMetric(Metric):
    """One sacrebleu metric class (``scorer_class``); ``options`` are its own."""

    scorer_class: type
    ranking_figure = "score"
    record_unit = "sentences"
    libraries = ("sacrebleu",)

    def __init__(self, **options):
        self.options = options
        self.scorer = self.scorer_class(**options)
        self.figures = (self.name,)
        self.ranking_figure = self.name

    def record_statistics(self, system: list[str], references: list[list[str]]) -> np.ndarray:
        """``references``: one list of lines per reference file, as sacrebleu takes them."""
        return np.array(self.scorer._extract_corpus_statistics(system, references), dtype=float)

    def figures_from(self, totals: np.ndarray) -> dict[str, np.ndarray]:
        rows = np.asarray(totals).reshape(-1, np.shape(totals)[-1])
        scores = np.array([self.scorer._compute_score_from_stats(list(row)).score for row in rows])
        return {self.name: scores.reshape(np.shape(totals)[:-1])}

    def sentence_figure(self, hypothesis: str, references: list[str]) -> float:
        """The metric of one sentence as ``sacrebleu --sentence-level`` computes it."""
        return self.sentence_scorer.sentence_score(hypothesis, references).score

    @property
    def sentence_scorer(self):
        return self.scorer

    def signature(self, resampling: dict | None = None) -> Signature:
        return SacrebleuSignature(self.name, self.scorer.get_signature())
