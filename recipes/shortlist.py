"""Build a checkpoint's vocabulary shortlist (nlpcli/shortlist.py) from the
translation training sets of a recipe, tokenized with the checkpoint's own
tokenizer, and write it into the checkpoint folder as shortlist.safetensors;
``nlpcli translate`` then uses it (``--no-shortlist`` scores the whole vocabulary).

    python recipes/shortlist.py --data ../shared/data --recipe recipes/nlpcli-2.toml --checkpoint RUN/checkpoint

Only the recipe's train splits are read (a carved set gives its train side), so
dev and test sentences never shape the shortlist.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from nlpcli.checkpoint import SHORTLIST_FILE, load_checkpoint
from nlpcli.shortlist import build_shortlist
from nlpcli.tasks import TASKS
from nlpcli.training.recipe import load_recipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--recipe", required=True)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--per-source", type=int, default=64, help="target pieces kept per source piece")
    parser.add_argument("--frequent", type=int, default=500, help="most frequent target pieces every batch may produce")
    args = parser.parse_args()

    loaded = load_checkpoint(args.checkpoint)
    tokenizer, task = loaded.tokenizer, TASKS["translate"]
    pairs = []
    for spec in load_recipe(Path(args.recipe)).train_data:
        if spec.task == task.name:
            pool = task.pool(spec, spec.load(Path(args.data)), tokenizer, loaded.model.config.max_positions)
            pairs.extend(zip(pool.sources, pool.targets))
            print(f"{spec.name}: {len(pool.sources):,} sentence pairs")
    always = [tokenizer.eos_id, tokenizer.unk_id]
    shortlist = build_shortlist(pairs, len(tokenizer), args.per_source, args.frequent, always)
    shortlist.save(args.checkpoint)
    print(f"{Path(args.checkpoint) / SHORTLIST_FILE}: {len(shortlist.frequent):,} pieces for every batch, "
          f"up to {args.per_source} more per source piece")


if __name__ == "__main__":
    main()
