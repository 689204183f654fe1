"""chrF through sacrebleu (character 6-grams, beta 2, no word n-grams by default)."""
from __future__ import annotations

from sacrebleu.metrics import CHRF as SacreCHRF

from nlpcli.metrics.sacrebleu_metric import SacrebleuMetric


class CHRF(SacrebleuMetric):
    name = "chrf"
    scorer_class = SacreCHRF
