"""How long should an answer be, and which of a question's windows should give
it? EM / F1 on the carved SQuAD dev split (the split recipes/evaluate.py scores)
for several span caps (answer_max_tokens) and length penalties
(answer_length_penalty), from one pass of the model: the span scores of every
window are computed once and the search is repeated.

    python benchmarks/answer_span_length.py --data ../shared/data --checkpoint checkpoints/nlpcli-base --limit 1000

Scored against every gold answer of a question (SQuAD v1.1 arithmetic). The
defaults (cap 30, penalty 0) are what `nlpcli answer` does without the settings.
A second table, at the checkpoint's own cap and penalty, compares rules for
picking the window a longer context's answer comes from: the best span's summed
logit (what `nlpcli answer` does), that less the window's no-answer score
(position 0, which answer_no_answer_windows models are trained to point at when
the window lacks the answer), and the span's probability within its window.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "recipes"))
from evaluate import SQUAD  # noqa: E402

from nlpcli.checkpoint import load_checkpoint  # noqa: E402
from nlpcli.metrics import exact_and_f1  # noqa: E402
from nlpcli.tasks.answer import best_span, encode_windows, span_text, window_batch  # noqa: E402


def gold_answers(data: Path) -> dict[tuple[str, str], list[str]]:
    """(question, context) -> every gold answer text, from the SQuAD file."""
    source = json.loads((data / SQUAD.path).read_text())
    return {(qa["question"], paragraph["context"]): [a["text"] for a in qa["answers"]]
            for article in source["data"] for paragraph in article["paragraphs"] for qa in paragraph["qas"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--checkpoint", default="checkpoints/nlpcli-base")
    parser.add_argument("--limit", type=int, default=1000, help="first N questions of the dev split")
    parser.add_argument("--caps", default="30,20,15,10")
    parser.add_argument("--penalties", default="0,0.1,0.2,0.3,0.5")
    args = parser.parse_args()

    loaded = load_checkpoint(args.checkpoint)
    model, tok = loaded.model, loaded.tokenizer
    window_tokens = loaded.info.tasks["answer"].get("window", 256)
    examples = SQUAD.load(Path(args.data))[: args.limit]
    golds = gold_answers(Path(args.data))
    caps, penalties = [int(c) for c in args.caps.split(",")], [float(p) for p in args.penalties.split(",")]
    scored = []  # per question: [(window, start scores, end band)]
    for example in examples:
        windows = encode_windows(tok, example["question"], example["context"], window_tokens, window_tokens // 2)
        with torch.inference_mode():
            src, question_match, question_mask = window_batch(windows, tok.pad_id)
            start, band = model.span_pair_logits(src, question_match, max(caps + [model.config.answer_max_tokens]),
                                                 question_mask)
        scored.append([(w, start[i], band[i]) for i, w in enumerate(windows)])
    print("| cap | penalty | EM | F1 | mean answer pieces |")
    print("|---|---|---|---|---|")
    for cap in caps:
        for penalty in penalties:
            em = f1 = pieces = 0.0
            for example, windows in zip(examples, scored):
                best = max((found + (w,) for w, start, band in windows
                            if (found := best_span(start, band[:, :cap], w, model.config.answer_end_given_start,
                                                   length_penalty=penalty))), key=lambda f: f[0], default=None)
                text = span_text(example["context"], best[4].spans, best[1], best[2])[0] if best else ""
                exact, overlap = exact_and_f1(text, golds[(example["question"], example["context"])])
                em, f1 = em + exact, f1 + overlap
                pieces += (best[2] - best[1] + 1) if best else 0
            n = len(examples)
            print(f"| {cap} | {penalty} | {100 * em / n:.1f} | {100 * f1 / n:.1f} | {pieces / n:.1f} |", flush=True)
    compare_window_rules(examples, scored, golds, model.config)


WINDOW_RULES = {  # found: (summed logit, first, last, probability); no_answer: start[0] + end[0] of the window
    "summed logit (nlpcli answer)": lambda found, no_answer: found[0],
    "summed logit - no-answer score": lambda found, no_answer: found[0] - no_answer,
    "probability within the window": lambda found, no_answer: found[3],
}


def compare_window_rules(examples, scored, golds, config) -> None:
    several = sum(len(windows) > 1 for windows in scored)
    print(f"\n{several} of {len(examples)} questions have more than one window\n")
    print("| window rule | EM | F1 |")
    print("|---|---|---|")
    totals = {name: [0.0, 0.0] for name in WINDOW_RULES}  # EM, F1
    for example, windows in zip(examples, scored):
        # each window's best span is searched once; the rules only rank the windows' results
        candidates = [(found, float(start[0] + band[0, 0]), w) for w, start, band in windows
                      if (found := best_span(start, band[:, : config.answer_max_tokens], w, config.answer_end_given_start,
                                             config.answer_temperature, config.answer_length_penalty))]
        answers = golds[(example["question"], example["context"])]
        for name, rule in WINDOW_RULES.items():
            best = max(candidates, key=lambda c: rule(c[0], c[1]), default=None)
            text = span_text(example["context"], best[2].spans, best[0][1], best[0][2])[0] if best else ""
            exact, overlap = exact_and_f1(text, answers)
            totals[name][0] += exact
            totals[name][1] += overlap
    for name, (em, f1) in totals.items():
        print(f"| {name} | {100 * em / len(examples):.2f} | {100 * f1 / len(examples):.2f} |", flush=True)


if __name__ == "__main__":
    main()
