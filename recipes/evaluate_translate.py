"""Score a translation checkpoint on every dev set with `nlpcli translate` + `nlpcli evaluate`.

    python recipes/evaluate_translate.py --data ../shared/data --checkpoint checkpoints/nlpcli-base [--record]

Dev sets: Multi30k val, WMT newstest2013, the ManyThings split carved by the
recipe (1 % of English sentences), each in both directions. Sources, references
and hypotheses are written under --work so every figure can be re-checked with
the printed commands; --record stores the scores in the checkpoint's config.json
(shown by `nlpcli info`).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from nlpcli.training.recipe import DatasetSpec

DEV_SETS = [
    DatasetSpec("multi30k-val", "translate/multi30k/val", ["en", "de"], ["en-de", "de-en"]),
    DatasetSpec("newstest2013", "translate/wmt-newstest-de-en/dev", ["en", "de"], ["en-de", "de-en"]),
    DatasetSpec("manythings-dev", "translate/manythings-deu-eng/deu.txt", ["en", "de"], ["en-de", "de-en"],
                format="tsv", carve_percent=1.0, split="dev"),
]


def run(command: list[str]) -> str:
    print("$ " + " ".join(command), file=sys.stderr, flush=True)
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--checkpoint", default="checkpoints/nlpcli-base")
    parser.add_argument("--work", default="runs/eval")
    parser.add_argument("--beam", default="4")
    parser.add_argument("--sets", default=",".join(s.name for s in DEV_SETS))
    parser.add_argument("--record", action="store_true", help="write the scores into CHECKPOINT/config.json")
    args = parser.parse_args()

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    scores = {}
    for spec in DEV_SETS:
        if spec.name not in args.sets.split(","):
            continue
        examples = spec.load(Path(args.data))
        for direction in spec.directions:
            source, target = direction.split("-")
            stem = work / f"{spec.name}.{direction}"
            src, ref, hyp = Path(f"{stem}.src.{source}"), Path(f"{stem}.ref.{target}"), Path(f"{stem}.hyp.{target}")
            src.write_text("".join(ex[source] + "\n" for ex in examples), encoding="utf-8")
            ref.write_text("".join(ex[target] + "\n" for ex in examples), encoding="utf-8")
            run(["nlpcli", "translate", "-c", args.checkpoint, "--src", source, "--tgt", target, "--beam", args.beam,
                 "-i", str(src), "-o", str(hyp)])
            report = json.loads(run(["nlpcli", "evaluate", "translate", "--hyp", str(hyp), "--ref", str(ref), "--json"]))
            values = {entry["name"].lower().rstrip("2"): entry["score"] for entry in report}
            scores[f"{spec.name}.{direction}"] = {"sentences": len(examples), "beam": int(args.beam), **values,
                                                  "bleu_signature": report[0]["signature"]}
            print(f"{spec.name:<16}{direction:<7}{len(examples):>6} sentences  BLEU {values['bleu']:5.1f}  "
                  f"chrF {values['chrf']:5.1f}  TER {values['ter']:5.1f}", flush=True)
    if args.record:
        config_path = Path(args.checkpoint) / "config.json"
        config = json.loads(config_path.read_text())
        config.setdefault("evaluation", {}).update(scores)
        config_path.write_text(json.dumps(config, indent=2) + "\n")
    print(json.dumps(scores, indent=2))


if __name__ == "__main__":
    main()
