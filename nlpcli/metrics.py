"""Metrics, reported with their signatures so scores are reproducible."""
from __future__ import annotations


def translation_report(hypotheses: list[str], references: list[list[str]], metrics=("bleu", "chrf", "ter"),
                       as_json: bool = False) -> str:
    """Corpus BLEU/chrF/TER with sacrebleu's defaults, rendered exactly as the
    ``sacrebleu`` command prints them (metrics in its order, one decimal)."""
    import contextlib
    import io
    from argparse import Namespace

    from sacrebleu.metrics import BLEU, CHRF, TER
    from sacrebleu.utils import print_single_results

    classes = {"bleu": BLEU, "chrf": CHRF, "ter": TER}
    lines = []
    for name in sorted(metrics):
        metric = classes[name]()
        score = metric.corpus_score(hypotheses, references)
        lines.append(score.format(width=1, signature=metric.get_signature().format(), is_json=as_json))
    rendered = io.StringIO()
    with contextlib.redirect_stdout(rendered):
        print_single_results(lines, Namespace(format="json" if as_json else "text"))
    return rendered.getvalue().rstrip("\n")


def bleu(hypotheses: list[str], references: list[str]) -> float:
    from sacrebleu.metrics import BLEU

    return BLEU().corpus_score(hypotheses, [references]).score
