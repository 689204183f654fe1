"""TER through sacrebleu (lower is better)."""
from __future__ import annotations

from sacrebleu.metrics import TER as SacreTER

from nlpcli.metrics.sacrebleu_metric import SacrebleuMetric


class TER(SacrebleuMetric):
    name = "ter"
    scorer_class = SacreTER
    higher_is_better = False
