"""Compare SentencePiece tokenizers for a recipe: pieces per word and single-piece words per task.

Trains each candidate on the recipe's training text (all tasks), then encodes each
dev set's input text and prints, per task, pieces per whitespace word and the share of
words that are one piece, plus the output layer's size (vocabulary x d_model), which
is what decoding pays per generated token. The chosen tokenizer is written to --save.

    python benchmarks/tokenizer_compare.py recipes/nlpcli-2.toml --data ../shared/data \
        --candidates 8000,16000,16000:digits,24000:digits --save runs/tokenizers
"""
from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from nlpcli.tokenizer import Tokenizer
from nlpcli.training.recipe import load_recipe
from nlpcli.training.trainer import special_tokens, training_texts

DEV_TEXT_FIELDS = {"translate": None, "summarize": "source", "classify-sentiment": "text", "answer": "context"}


def dev_texts(recipe, data_root: Path, per_task: int = 2000) -> dict[str, list[str]]:
    texts: dict[str, list[str]] = {}
    for spec in recipe.dev_data:
        examples = spec.load(data_root)
        if spec.task == "translate":
            found = [ex[lang] for ex in examples for lang in spec.languages]
        elif spec.task == "tag-entities":
            found = [" ".join(ex["tokens"]) for ex in examples]
        elif spec.task == "answer":
            found = [ex["context"] for ex in examples] + [ex["question"] for ex in examples]
        else:
            found = [ex[DEV_TEXT_FIELDS[spec.task]] for ex in examples]
        texts.setdefault(spec.task, []).extend(found)
    rng = random.Random(1)
    return {task: rng.sample(found, min(per_task, len(found))) for task, found in texts.items()}


def word_statistics(tokenizer: Tokenizer, texts: list[str]) -> tuple[float, float]:
    """Pieces per whitespace word, and the share of words that are a single piece."""
    words = [word for text in texts for word in text.split()]
    pieces = [len(tokenizer.encode(word)) for word in words]
    return sum(pieces) / len(words), sum(p == 1 for p in pieces) / len(words)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe")
    parser.add_argument("--data", required=True)
    parser.add_argument("--candidates", default="8000,16000,16000:digits",
                        help="comma-separated VOCAB[:digits][:COVERAGE] (digits: every digit its own piece; "
                             "COVERAGE: SentencePiece's character_coverage, default 0.9995)")
    parser.add_argument("--baseline", default="checkpoints/nlpcli-base/tokenizer.model")
    parser.add_argument("--max-sentences", type=int, default=300_000)
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--save", default="", help="folder to write each candidate's tokenizer.model to")
    args = parser.parse_args()

    recipe = load_recipe(Path(args.recipe))
    data_root = Path(args.data)
    train = [(spec, spec.load(data_root)) for spec in recipe.train_data]
    dev = dev_texts(recipe, data_root)
    candidates = {"release 1 (8,004, translation text)": Tokenizer.load(args.baseline)}
    for candidate in args.candidates.split(","):
        vocab, *options = candidate.split(":")
        coverage = next((float(o) for o in options if o != "digits"), 0.9995)
        started = time.time()
        texts = (text for spec, examples in train for text in training_texts(spec, examples))
        tokenizer = Tokenizer.train(texts, int(vocab), special_tokens(recipe), max_sentences=args.max_sentences,
                                    split_digits="digits" in options, character_coverage=coverage)
        candidates[f"{candidate} (all tasks)"] = tokenizer
        print(f"trained {candidate}: {len(tokenizer):,} pieces in {time.time() - started:.0f} s", flush=True)
        if args.save:
            folder = Path(args.save) / candidate.replace(":", "-")
            folder.mkdir(parents=True, exist_ok=True)
            tokenizer.save(folder / "tokenizer.model")

    tasks = sorted(dev)
    print("\npieces per word / single-piece words, dev text of each task; output layer = vocabulary x d_model")
    print("| tokenizer | " + " | ".join(tasks) + " | output layer |")
    print("|---|" + "---|" * (len(tasks) + 1))
    for name, tokenizer in candidates.items():
        cells = []
        for task in tasks:
            per_word, single = word_statistics(tokenizer, dev[task])
            cells.append(f"{per_word:.2f} / {100 * single:.0f} %")
        print(f"| {name} | " + " | ".join(cells) + f" | {len(tokenizer) * args.d_model / 1e6:.2f} M |")
    for name, tokenizer in candidates.items():
        print(f"{name}: " + "  ".join(f"{text!r} -> {' '.join(tokenizer.pieces(tokenizer.encode(text)))}"
                                      for text in ("(world)", "Saint 1876", "Tesla’s", "1914–1918")))


if __name__ == "__main__":
    main()
