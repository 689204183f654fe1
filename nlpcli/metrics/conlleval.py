"""Entity precision, recall and F1, counted exactly as conlleval.pl counts them:
a chunk is correct when gold and predicted chunks start and end at the same
tokens with the same type; an ``I-X`` after ``O`` opens a chunk; a sentence end
closes every chunk."""
from __future__ import annotations

from collections import Counter

import numpy as np

from nlpcli.metrics.base import Metric, harmonic_f1, safe_ratio


def split_tag(tag: str) -> tuple[str, str]:
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


def chunk_counts(gold_tags: list[str], guessed_tags: list[str]) -> tuple[Counter, Counter, Counter]:
    """Correct, gold and guessed chunks of one sentence, per type."""
    correct, found_gold, found_guessed = Counter(), Counter(), Counter()
    in_correct = False
    last_gold, last_gold_type, last_guess, last_guess_type = "O", "", "O", ""
    for gold_tag, guess_tag in list(zip(gold_tags, guessed_tags)) + [("O", "O")]:  # the boundary closes chunks
        g, g_type = split_tag(gold_tag)
        p, p_type = split_tag(guess_tag)
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
    return correct, found_gold, found_guessed


def chunk_spans(tags: list[str]) -> set[tuple[int, int, str]]:
    """The chunks of one sentence as (first token, last token, type), by conlleval's rules."""
    spans, start = set(), None
    last, last_type = "O", ""
    for i, tag in enumerate([*tags, "O"]):
        prefix, kind = split_tag(tag)
        if start is not None and _chunk_ends(last, prefix, last_type, kind):
            spans.add((start, i - 1, last_type))
            start = None
        if _chunk_starts(last, prefix, last_type, kind):
            start = i
        last, last_type = prefix, kind
    return spans


def entity_types(*tag_sets) -> list[str]:
    """Every entity type named by the tags of any of the given lists of sentences."""
    return sorted({split_tag(tag)[1] for sentences in tag_sets for tags in sentences for tag in tags} - {""})


class Conlleval(Metric):
    name = "conlleval"
    figures = ("precision", "recall", "f1", "token_accuracy")
    ranking_figure = "f1"
    record_unit = "sentences"

    def __init__(self, types: list[str]):
        self.types = list(types)

    def record_statistics(self, system: list[list[str]], references: list[list[str]]) -> np.ndarray:
        """Per sentence: correct, gold and guessed chunks of each type, then tokens and correct tags."""
        rows = []
        for guessed_tags, gold_tags in zip(system, references):
            counts = chunk_counts(gold_tags, guessed_tags)
            row = [float(counter[kind]) for counter in counts for kind in self.types]
            row += [float(len(gold_tags)), float(sum(a == b for a, b in zip(gold_tags, guessed_tags)))]
            rows.append(row)
        return np.array(rows, dtype=float).reshape(-1, 3 * len(self.types) + 2)

    def _counts(self, totals: np.ndarray):
        n = len(self.types)
        return totals[..., :n], totals[..., n:2 * n], totals[..., 2 * n:3 * n]

    @staticmethod
    def _prf(correct, guessed, gold) -> dict[str, np.ndarray]:
        precision, recall = safe_ratio(correct, guessed), safe_ratio(correct, gold)
        return {"precision": 100 * precision, "recall": 100 * recall, "f1": 100 * harmonic_f1(precision, recall)}

    def figures_from(self, totals: np.ndarray) -> dict[str, np.ndarray]:
        correct, gold, guessed = (part.sum(axis=-1) for part in self._counts(totals))
        return {**self._prf(correct, guessed, gold),
                "token_accuracy": 100 * safe_ratio(totals[..., -1], totals[..., -2])}

    def record_figures(self, statistics: np.ndarray) -> list[dict[str, float]]:
        """Entity counts of each sentence, and its F1 (100 when it has no entity and none is found)."""
        records = []
        for row in statistics:
            correct, gold, guessed = (float(part.sum()) for part in self._counts(row))
            f1 = 100.0 if gold == guessed == 0 else float(self._prf(correct, guessed, gold)["f1"])
            records.append({"correct": int(correct), "gold": int(gold), "predicted": int(guessed), "f1": f1})
        return records

    def details(self, totals: np.ndarray) -> dict:
        correct, gold, guessed = self._counts(totals)
        per_type = {}
        for i, kind in enumerate(self.types):
            scores = {k: round(float(v), 2) for k, v in self._prf(correct[i], guessed[i], gold[i]).items()}
            per_type[kind] = {**scores, "predicted": int(guessed[i])}
        return {"phrases_gold": int(gold.sum()), "phrases_predicted": int(guessed.sum()), "per_type": per_type}

    def settings(self) -> dict[str, object]:
        return {"level": "entity", "match": "exact-span-and-type", "scheme": "conlleval"}
