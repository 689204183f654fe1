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


def rouge_report(hypotheses: list[str], references: list[str]) -> dict:
    """Mean ROUGE-1/2/L F1 (x100) from Google's rouge-score with Porter stemming."""
    from importlib.metadata import version

    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    totals = {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    for hypothesis, reference in zip(hypotheses, references):
        for name, score in scorer.score(reference, hypothesis).items():
            totals[name] += score.fmeasure
    n = len(hypotheses)
    return {
        **{name: round(100 * total / n, 2) for name, total in totals.items()},
        "documents": n,
        "signature": f"rouge-score:{version('rouge-score')}|stemmer:porter|measure:f1|mean-over:documents",
    }


# ---- SQuAD v1.1, as the official evaluation script computes it ----------------
def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation, the articles a/an/the, and extra whitespace."""
    import re
    import string

    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def answer_f1(prediction: str, gold: str) -> float:
    from collections import Counter

    predicted, expected = normalize_answer(prediction).split(), normalize_answer(gold).split()
    same = sum((Counter(predicted) & Counter(expected)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(expected)
    return 2 * precision * recall / (precision + recall)


def squad_report(predictions: dict[str, str], questions) -> dict:
    """EM and F1 (x100), max over each question's gold answers; an unanswered question scores 0."""
    exact = f1 = 0.0
    unanswered = 0
    for question in questions:
        if question.id not in predictions:
            unanswered += 1
            continue
        prediction = predictions[question.id]
        exact += max(float(normalize_answer(prediction) == normalize_answer(g)) for g in question.answers)
        f1 += max(answer_f1(prediction, g) for g in question.answers)
    total = len(questions)
    return {"exact_match": round(100 * exact / total, 2), "f1": round(100 * f1 / total, 2), "questions": total,
            "unanswered": unanswered, "signature": "squad-v1.1-official|normalize:lower,punct,articles,space|max-over:gold"}


# ---- classification --------------------------------------------------------------
def classification_report(predicted: list[str], gold: list[str]) -> dict:
    """Accuracy and macro-F1 (x100) over the labels that occur in either list."""
    labels = sorted(set(gold) | set(predicted))
    per_label = {}
    for label in labels:
        tp = sum(p == g == label for p, g in zip(predicted, gold))
        guessed, actual = predicted.count(label), gold.count(label)
        precision = tp / guessed if guessed else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = {"precision": round(100 * precision, 2), "recall": round(100 * recall, 2),
                            "f1": round(100 * f1, 2), "support": actual}
    accuracy = sum(p == g for p, g in zip(predicted, gold)) / len(gold)
    return {"accuracy": round(100 * accuracy, 2),
            "macro_f1": round(sum(v["f1"] for v in per_label.values()) / len(labels), 2),
            "examples": len(gold), "per_label": per_label}


# ---- entities, counted exactly as conlleval counts them ---------------------------
def _split_tag(tag: str) -> tuple[str, str]:
    """'B-PER' -> ('B', 'PER'); a tag without '-' (O) has no type."""
    prefix, sep, kind = tag.partition("-")
    return (prefix, kind) if sep else (tag, "")


def _chunk_ends(prev_tag, tag, prev_type, kind) -> bool:
    return (prev_tag in ("E", "S")
            or (prev_tag in ("B", "I") and tag in ("B", "S", "O"))
            or (prev_tag not in ("O", ".") and prev_type != kind))


def _chunk_starts(prev_tag, tag, prev_type, kind) -> bool:
    return (tag in ("B", "S")
            or (prev_tag in ("E", "S", "O") and tag in ("E", "I"))
            or (tag not in ("O", ".") and prev_type != kind))


def conlleval_report(gold_sentences: list[list[str]], predicted_sentences: list[list[str]]) -> dict:
    """Entity-level precision, recall, F1 (x100), overall and per type.

    Follows conlleval.pl: a chunk is correct when gold and predicted chunks start
    and end at the same tokens with the same type; sentence ends close chunks."""
    from collections import Counter

    correct, found_gold, found_guessed = Counter(), Counter(), Counter()
    tokens = correct_tags = 0
    for gold_tags, guessed_tags in zip(gold_sentences, predicted_sentences):
        in_correct = False
        last_gold, last_gold_type, last_guess, last_guess_type = "O", "", "O", ""
        for gold_tag, guess_tag in list(zip(gold_tags, guessed_tags)) + [("O", "O")]:  # boundary closes chunks
            g, g_type = _split_tag(gold_tag)
            p, p_type = _split_tag(guess_tag)
            if in_correct:
                gold_end = _chunk_ends(last_gold, g, last_gold_type, g_type)
                guess_end = _chunk_ends(last_guess, p, last_guess_type, p_type)
                if gold_end and guess_end and last_gold_type == last_guess_type:
                    in_correct = False
                    correct[last_gold_type] += 1
                elif gold_end != guess_end or g_type != p_type:
                    in_correct = False
            gold_start = _chunk_starts(last_gold, g, last_gold_type, g_type)
            guess_start = _chunk_starts(last_guess, p, last_guess_type, p_type)
            if gold_start and guess_start and g_type == p_type:
                in_correct = True
            if gold_start:
                found_gold[g_type] += 1
            if guess_start:
                found_guessed[p_type] += 1
            last_gold, last_gold_type, last_guess, last_guess_type = g, g_type, p, p_type
        tokens += len(gold_tags)
        correct_tags += sum(a == b for a, b in zip(gold_tags, guessed_tags))

    def prf(c, guessed, gold):
        precision = c / guessed if guessed else 0.0
        recall = c / gold if gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": round(100 * precision, 2), "recall": round(100 * recall, 2), "f1": round(100 * f1, 2)}

    types = sorted(set(found_gold) | set(found_guessed))
    return {
        **prf(sum(correct.values()), sum(found_guessed.values()), sum(found_gold.values())),
        "token_accuracy": round(100 * correct_tags / tokens, 2) if tokens else 0.0,
        "phrases_gold": sum(found_gold.values()), "phrases_predicted": sum(found_guessed.values()),
        "per_type": {t: {**prf(correct[t], found_guessed[t], found_gold[t]), "predicted": found_guessed[t]} for t in types},
        "signature": "conlleval|entity-level|exact-span-and-type",
    }
