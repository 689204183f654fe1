"""BLEU through sacrebleu (13a tokenization, exponential smoothing, as sacrebleu defaults)."""
from __future__ import annotations

from functools import cached_property

from sacrebleu.metrics import BLEU as SacreBLEU

from nlpcli.metrics.sacrebleu_metric import SacrebleuMetric


class BLEU(SacrebleuMetric):
    name = "bleu"
    scorer_class = SacreBLEU

    @cached_property
    def sentence_scorer(self):
        # sentence BLEU needs effective order, as `sacrebleu --sentence-level` sets it
        return SacreBLEU(**{**self.options, "effective_order": True})


def bleu(hypotheses: list[str], references: list[str]) -> float:
    """Corpus BLEU of one reference stream (the trainer's dev score)."""
    return SacreBLEU().corpus_score(hypotheses, [references]).score
