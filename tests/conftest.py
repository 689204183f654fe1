"""Tiny models and data made inside the tests; nothing is read from ../shared."""
from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

# a toy language pair: every English word has one "German" word, same order
LEXICON = {
    "a": "ein", "man": "mann", "woman": "frau", "dog": "hund", "cat": "katze", "runs": "rennt",
    "sleeps": "schlaeft", "big": "gross", "small": "klein", "red": "rot", "blue": "blau",
    "house": "haus", "in": "im", "the": "der", "park": "park", "eats": "isst", "bread": "brot",
    "and": "und", "sees": "sieht", "ball": "ball",
}


def toy_corpus(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    words = list(LEXICON)
    pairs = []
    for _ in range(n):
        sentence = [rng.choice(words) for _ in range(rng.randint(2, 6))]
        pairs.append((" ".join(sentence), " ".join(LEXICON[w] for w in sentence)))
    return pairs


def write_toy_data(root: Path, n_train: int = 2000, n_dev: int = 40) -> Path:
    folder = root / "translate" / "toy"
    folder.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", n_train, 1), ("dev", n_dev, 2)):
        pairs = toy_corpus(n, seed)
        (folder / f"{split}.en").write_text("\n".join(p[0] for p in pairs) + "\n")
        (folder / f"{split}.de").write_text("\n".join(p[1] for p in pairs) + "\n")
    return root


TOY_RECIPE = """
name = "toy"
[model]
d_model = 64
n_heads = 4
ffn_dim = 128
encoder_layers = 2
decoder_layers = 2
dropout = 0.0
max_positions = 64
[tokenizer]
vocab_size = 320
[train]
max_steps = {steps}
batch_tokens = 600
lr = 0.005
warmup_steps = 30
eval_every = {steps}
save_every = 50
max_length = 40
seed = 3
[[data.train]]
name = "toy"
path = "translate/toy/train"
languages = ["en", "de"]
directions = ["en-de", "de-en"]
[[data.dev]]
name = "toy-dev"
path = "translate/toy/dev"
languages = ["en", "de"]
directions = ["en-de"]
"""


def write_toy_recipe(folder: Path, steps: int) -> Path:
    path = folder / "toy.toml"
    path.write_text(TOY_RECIPE.format(steps=steps))
    return path


@pytest.fixture(scope="session")
def toy_data(tmp_path_factory) -> Path:
    return write_toy_data(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def toy_checkpoint(tmp_path_factory, toy_data) -> Path:
    """A tiny en<->de model trained on the toy language until it translates it."""
    from nlpcli.training.recipe import load_recipe
    from nlpcli.training.trainer import Trainer

    work = tmp_path_factory.mktemp("toy-run")
    recipe = load_recipe(write_toy_recipe(work, steps=400))
    return Trainer(recipe, toy_data, work / "run").train()


@pytest.fixture
def tiny_model():
    from nlpcli.model import ModelConfig, Seq2SeqTransformer

    torch.manual_seed(0)
    config = ModelConfig(vocab_size=50, d_model=32, n_heads=4, ffn_dim=64, encoder_layers=2, decoder_layers=2,
                         dropout=0.0, max_positions=64)
    return Seq2SeqTransformer(config).eval()
