"""Score a checkpoint on every dev set of every task it serves, with the real
commands: `nlpcli <task>` writes predictions, `nlpcli evaluate <task>` scores them.

    python recipes/evaluate.py --data ../shared/data --checkpoint checkpoints/nlpcli-base [--record]

Dev sets: translation (Multi30k val, newstest2013, the ManyThings split carved
by the recipe), summarization (the dev splits of AESLC, against its annotations
and against the emails' own subject lines, Reuters headlines, BBC headlines,
with the lead baselines), SST-2 dev and the carved IMDB dev split, CoNLL-2003
dev (testa), and the SQuAD dev split carved from train by article.
Inputs, references and predictions are written under --work so that every
figure can be re-checked with the printed commands; --record stores the scores
in the checkpoint's config.json (shown by `nlpcli info`). The commands run the
checkpoint as it runs by default, or in --bf16 / --fp32; --record with one of
them makes it the scored tasks' default compute dtype (config.json tasks.TASK.compute_dtype).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from nlpcli.tasks.summarize import lead_baseline
from nlpcli.training.recipe import DatasetSpec

TRANSLATION = [
    DatasetSpec("multi30k-val", "translate/multi30k/val", languages=["en", "de"], directions=["en-de", "de-en"]),
    DatasetSpec("newstest2013", "translate/wmt-newstest-de-en/dev", languages=["en", "de"], directions=["en-de", "de-en"]),
    DatasetSpec("manythings-dev", "translate/manythings-deu-eng/deu.txt", languages=["en", "de"], directions=["en-de", "de-en"],
                format="tsv", carve_percent=1.0, split="dev"),
]
# AESLC is scored against two references: the first of its three human annotations (as the AESLC
# paper scores) and each email's own subject line (what the model learns from, and what issue 14's
# held-out figures match: docs/release-2.md, "AESLC: which reference"). Both read the same emails,
# which are summarized once.
SUMMARIES = [
    DatasetSpec("aeslc-dev", "summarize/aeslc/dev.jsonl", task="summarize", format="jsonl", fields=["email", "annotations"]),
    DatasetSpec("aeslc-dev-subject", "summarize/aeslc/dev.jsonl", task="summarize", format="jsonl", fields=["email", "subject"]),
    DatasetSpec("reuters-headlines-dev", "summarize/reuters21578-headlines/dev.jsonl", task="summarize", format="jsonl",
                fields=["document", "summary"], lowercase_target=True),
    DatasetSpec("bbc-headlines-dev", "summarize/bbc-news-summary/dev.jsonl", task="summarize", format="jsonl",
                fields=["document", "title"]),
]
SENTIMENT = [
    DatasetSpec("sst2-dev", "classify-sentiment/sst2/dev.tsv", task="classify-sentiment", format="glue-tsv", fields=["sentence", "label"]),
    DatasetSpec("imdb-dev", "classify-sentiment/imdb/train.jsonl", task="classify-sentiment", format="jsonl",
                fields=["text", "label"], carve_percent=4.0, split="dev"),
]
ENTITIES = "tag-entities/conll2003/dev.txt"
SQUAD = DatasetSpec("squad-dev", "answer/squad-v1.1/train-v1.1.json", task="answer", format="squad", carve_percent=5.0, split="dev")
LEAD_WORDS = 10  # the first-N-words baseline: about the length of a subject line or headline


def run(command: list[str]) -> str:
    """Run an ``nlpcli ...`` command with this Python's nlpcli; returns its stdout."""
    print("$ " + " ".join(command), file=sys.stderr, flush=True)
    done = subprocess.run([sys.executable, "-m", *command], capture_output=True, text=True)
    if done.returncode != 0:  # its one-line error, not only a CalledProcessError without it
        sys.exit(f"{command[0]} {command[1]} failed (exit {done.returncode}): {done.stderr.strip()}")
    return done.stdout


def write_lines(path: Path, lines) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def evaluate_translation(args, work: Path) -> dict:
    scores = {}
    for spec in TRANSLATION:
        if spec.name not in args.translation_sets.split(","):
            continue
        examples = spec.load(Path(args.data))
        for direction in spec.directions:
            source, target = direction.split("-")
            stem = work / f"{spec.name}.{direction}"
            src = write_lines(Path(f"{stem}.src.{source}"), (ex[source] for ex in examples))
            ref = write_lines(Path(f"{stem}.ref.{target}"), (ex[target] for ex in examples))
            hyp = Path(f"{stem}.hyp.{target}")
            run(["nlpcli", "translate", "-c", args.checkpoint, "--src", source, "--tgt", target, "--beam", args.beam,
                 "-i", str(src), "-o", str(hyp), *args.precision])
            report = json.loads(run(["nlpcli", "evaluate", "translate", "--hyp", str(hyp), "--ref", str(ref), "--json"]))
            values = {entry["name"].lower().rstrip("2"): entry["score"] for entry in report}
            scores[f"{spec.name}.{direction}"] = {"sentences": len(examples), "beam": int(args.beam), **values,
                                                  "bleu_signature": report[0]["signature"]}
    return scores


def rouge(hyp: Path, ref: Path) -> dict:
    return json.loads(run(["nlpcli", "evaluate", "summarize", "--hyp", str(hyp), "--ref", str(ref), "--json"]))


def evaluate_summaries(args, work: Path) -> dict:
    scores, summaries = {}, {}  # summaries: the hypothesis file of each list of documents
    for spec in SUMMARIES:
        examples = spec.load(Path(args.data))
        ref = write_lines(work / f"{spec.name}.ref", (ex["target"] for ex in examples))
        sources = tuple(ex["source"] for ex in examples)
        hyp = summaries.get(sources)
        if hyp is None:
            documents = write_lines(work / f"{spec.name}.documents", sources)
            hyp = summaries[sources] = work / f"{spec.name}.hyp"
            run(["nlpcli", "summarize", "-c", args.checkpoint, "--beam", args.beam, "-i", str(documents), "-o", str(hyp), "-q",
                 *args.precision])
        lead = write_lines(work / f"{spec.name}.lead-sentence", (lead_baseline(ex["source"]) for ex in examples))
        lead_n = write_lines(work / f"{spec.name}.lead-{LEAD_WORDS}-words", (lead_baseline(ex["source"], LEAD_WORDS) for ex in examples))
        scores[spec.name] = {"beam": int(args.beam), **rouge(hyp, ref),
                             "lead_sentence": rouge(lead, ref), f"lead_{LEAD_WORDS}_words": rouge(lead_n, ref)}
    return scores


def evaluate_sentiment(args, work: Path) -> dict:
    scores = {}
    for spec in SENTIMENT:
        examples = spec.load(Path(args.data))
        texts = write_lines(work / f"{spec.name}.txt", (ex["text"] for ex in examples))
        gold = write_lines(work / f"{spec.name}.gold", (["negative", "positive"][ex["label"]] for ex in examples))
        predictions = work / f"{spec.name}.pred"
        run(["nlpcli", "classify-sentiment", "-c", args.checkpoint, "-i", str(texts), "-o", str(predictions), "-q", *args.precision])
        scores[spec.name] = json.loads(run(["nlpcli", "evaluate", "classify-sentiment", "--predictions", str(predictions),
                                            "--gold", str(gold), "--json"]))
    return scores


def evaluate_entities(args, work: Path) -> dict:
    gold = Path(args.data) / ENTITIES
    predictions = work / "conll2003-dev.pred"
    run(["nlpcli", "tag-entities", "-c", args.checkpoint, "--input-format", "conll", "-i", str(gold), "-o", str(predictions), "-q", *args.precision])
    report = json.loads(run(["nlpcli", "evaluate", "tag-entities", "--predictions", str(predictions), "--gold", str(gold), "--json"]))
    return {"conll2003-dev": report}


def evaluate_answers(args, work: Path) -> dict:
    titles = {ex["carve_key"] for ex in SQUAD.load(Path(args.data))}
    # the carved articles in SQuAD form, with every gold answer of the source file
    source = json.loads((Path(args.data) / SQUAD.path).read_text())
    dev = {"version": "1.1", "data": [a for a in source["data"] if a["title"] in titles]}
    data = work / "squad-dev.json"
    data.write_text(json.dumps(dev))
    predictions = work / "squad-dev.pred.json"
    run(["nlpcli", "answer", "-c", args.checkpoint, "-i", str(data), "--format", "squad", "-o", str(predictions), "-q", *args.precision])
    report = json.loads(run(["nlpcli", "evaluate", "answer", "--predictions", str(predictions), "--data", str(data), "--json"]))
    return {"squad-dev": {**report, "articles": len(dev["data"])}}


EVALUATORS = {"translate": evaluate_translation, "summarize": evaluate_summaries, "classify-sentiment": evaluate_sentiment,
              "tag-entities": evaluate_entities, "answer": evaluate_answers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--checkpoint", default="checkpoints/nlpcli-base")
    parser.add_argument("--work", default="runs/eval")
    parser.add_argument("--beam", default="4")
    parser.add_argument("--tasks", default=",".join(EVALUATORS), help="comma-separated subset of the tasks")
    parser.add_argument("--translation-sets", default=",".join(s.name for s in TRANSLATION), help="comma-separated subset")
    parser.add_argument("--record", action="store_true", help="write the scores into CHECKPOINT/config.json")
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument("--bf16", dest="precision", action="store_const", const=["--bf16"], default=[],
                           help="run every command in bfloat16; with --record the scored tasks then run in it by default")
    precision.add_argument("--fp32", dest="precision", action="store_const", const=["--fp32"],
                           help="run every command in float32; with --record the scored tasks' default is float32 again")
    args = parser.parse_args()

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    config_path = Path(args.checkpoint) / "config.json"
    served = json.loads(config_path.read_text())["tasks"]
    scored = [task for task in args.tasks.split(",") if task in served]
    scores = {}
    for task in scored:
        scores.update(EVALUATORS[task](args, work))
    if args.record:
        config = json.loads(config_path.read_text())
        config.setdefault("evaluation", {}).update(scores)
        if args.precision:  # the scores were measured in this dtype, so it becomes the scored tasks' own
            for task in scored:
                config["tasks"][task]["compute_dtype"] = "bfloat16" if args.precision == ["--bf16"] else "float32"
        config_path.write_text(json.dumps(config, indent=2) + "\n")
    print(json.dumps(scores, indent=2))


if __name__ == "__main__":
    main()
