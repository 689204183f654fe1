"""Metrics in sacrebleu's pattern: an abstract ``Metric`` (base.py), one module per
metric, the ``METRICS`` registry, ``Signature`` objects; resampling.py holds the
bootstrap interval and the paired tests that work on any of them."""
from __future__ import annotations

from nlpcli.metrics.base import Metric, Signature
from nlpcli.metrics.bleu import BLEU, bleu
from nlpcli.metrics.chrf import CHRF
from nlpcli.metrics.classification import Classification
from nlpcli.metrics.conlleval import Conlleval, entity_types
from nlpcli.metrics.rouge import Rouge
from nlpcli.metrics.squad import SquadAnswers, answer_f1, exact_and_f1, normalize_answer
from nlpcli.metrics.ter import TER

METRICS: dict[str, type[Metric]] = {
    "bleu": BLEU, "chrf": CHRF, "ter": TER, "rouge": Rouge, "squad-v1.1": SquadAnswers,
    "classification": Classification, "conlleval": Conlleval,
}


def rouge_report(hypotheses: list[str], references: list[str] | list[list[str]]) -> dict:
    """Mean ROUGE-1/2/L F1 (x100); each reference a string, or a list of references."""
    golds = [[ref] if isinstance(ref, str) else list(ref) for ref in references]
    metric = Rouge(max(len(g) for g in golds) if golds else 1)
    return metric.report(metric.record_statistics(hypotheses, golds))


def squad_report(predictions: dict[str, str], questions) -> dict:
    """EM and F1 (x100), max over each question's gold answers; an unanswered question scores 0."""
    metric = SquadAnswers()
    return metric.report(metric.record_statistics([predictions.get(q.id) for q in questions],
                                                  [q.answers for q in questions]))


def classification_report(predicted: list[str], gold: list[str]) -> dict:
    """Accuracy and macro-F1 (x100) over the labels that occur in either list."""
    metric = Classification(sorted(set(gold) | set(predicted)))
    return metric.report(metric.record_statistics(predicted, gold))


def conlleval_report(gold_sentences: list[list[str]], predicted_sentences: list[list[str]]) -> dict:
    """Entity-level precision, recall, F1 (x100), overall and per type, as conlleval.pl counts."""
    metric = Conlleval(entity_types(gold_sentences, predicted_sentences))
    return metric.report(metric.record_statistics(predicted_sentences, gold_sentences))


__all__ = ["METRICS", "Metric", "Signature", "BLEU", "CHRF", "TER", "Rouge", "SquadAnswers", "Classification",
           "Conlleval", "bleu", "rouge_report", "squad_report", "classification_report", "conlleval_report",
           "normalize_answer", "answer_f1", "exact_and_f1", "entity_types"]
