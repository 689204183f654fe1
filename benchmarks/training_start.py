"""What a training run spends before its first step: reading and encoding each
training and dev set of a recipe (one thread), with the tokenizer of a trunk or
checkpoint. Every `nlpcli train` pays this once, and a GPU lease once per stage.

    python benchmarks/training_start.py recipes/nlpcli-2.toml --data ../shared/data --tokenizer trunk/nlpcli-2/tokenizer.model
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from nlpcli.tokenizer import Tokenizer
from nlpcli.training.recipe import load_recipe
from nlpcli.training.trainer import build_dev_sets, encode_set, with_task_heads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--tokenizer", type=Path, required=True, help="a tokenizer.model of the recipe's vocabulary")
    args = parser.parse_args()
    torch.set_num_threads(1)
    recipe = load_recipe(args.recipe)
    tokenizer = Tokenizer.load(args.tokenizer)
    recipe.model.vocab_size = len(tokenizer)
    with_task_heads(recipe.model, recipe.tasks)
    started = time.perf_counter()
    print(f"{'training set':<22} {'examples':>9} {'read s':>7} {'encode s':>9}")
    for spec in recipe.train_data:
        read = time.perf_counter()
        examples = spec.load(args.data)
        encode = time.perf_counter()
        pool = encode_set(spec, examples, tokenizer, recipe)
        print(f"{spec.name:<22} {len(pool):>9,} {encode - read:>7.1f} {time.perf_counter() - encode:>9.1f}")
    dev = time.perf_counter()
    dev_sets = build_dev_sets(recipe, args.data, tokenizer)
    print(f"{len(dev_sets)} dev sets: {time.perf_counter() - dev:.1f} s; in all {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
