"""Fit one temperature per task on its dev set (SST-2 dev, CoNLL-2003 dev, the
carved SQuAD dev split: the sets recipes/evaluate.py scores) and report the
negative log-likelihood and expected calibration error before and after.

    python recipes/calibrate.py --data ../shared/data --checkpoint checkpoints/nlpcli-base [--record]

--record stores the temperatures in CHECKPOINT/config.json (model settings
``sentiment_temperature``, ``entity_temperature``, ``answer_temperature``, which
the task commands apply to the probabilities they report) and the report under
``calibration``. Entity rows are words (their first pieces); answer rows are
span boundaries (start and end), over the windows that hold the answer.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from evaluate import ENTITIES, SENTIMENT, SQUAD

from nlpcli.calibration import calibrate
from nlpcli.checkpoint import load_checkpoint
from nlpcli.tasks import TASKS
from nlpcli.training.recipe import DatasetSpec

DEV_SETS = {
    "classify-sentiment": [SENTIMENT[0]],  # SST-2 dev
    "tag-entities": [DatasetSpec("conll2003-dev", ENTITIES, task="tag-entities", format="conll")],
    "answer": [SQUAD],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--checkpoint", default="checkpoints/nlpcli-base")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N examples of each dev set")
    parser.add_argument("--record", action="store_true", help="write the temperatures into CHECKPOINT/config.json")
    args = parser.parse_args()

    loaded = load_checkpoint(args.checkpoint)
    config = loaded.model.config
    pools = {}
    for task, specs in DEV_SETS.items():
        if task not in loaded.info.tasks:
            continue
        window = loaded.info.tasks[task].get("window", config.max_positions)
        pools[task] = []
        for spec in specs:
            examples = spec.load(Path(args.data))
            examples = examples[: args.limit] if args.limit else examples
            pools[task].append(TASKS[task].pool(spec, examples, loaded.tokenizer, window, config))
    with torch.inference_mode():
        reports = calibrate(loaded.model, pools, loaded.tokenizer.pad_id)
    if args.record:
        config_path = Path(args.checkpoint) / "config.json"
        stored = json.loads(config_path.read_text())
        for task in reports:
            field = TASKS[task].temperature_field
            stored["model"][field] = getattr(config, field)
        stored["calibration"] = reports
        config_path.write_text(json.dumps(stored, indent=2) + "\n")
    print(json.dumps(reports, indent=2))


if __name__ == "__main__":
    main()
