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
    recipe = load_recipe(write_toy_recipe(work, steps=500), ["train.eval_every=250"])  # validated twice: the best is kept
    return Trainer(recipe, toy_data, work / "run").train()


# ---- a toy of every other task, for a tiny multi-task model ----------------------
PEOPLE, PLACES, COMPANIES, NATIONS = ["John", "Mary", "Anna"], ["Paris", "Berlin", "Rome"], ["Google", "Siemens"], ["German", "French"]


def toy_entity_sentence(rng) -> list[tuple[str, str]]:
    person = [(rng.choice(PEOPLE), "B-PER")] + ([("Smith", "I-PER")] if rng.random() < 0.5 else [])
    tail = rng.choice([[("in", "O"), (rng.choice(PLACES), "B-LOC")],
                       [("at", "O"), (rng.choice(COMPANIES), "B-ORG")],
                       [("the", "O"), (rng.choice(NATIONS), "B-MISC"), ("dog", "O")]])
    return person + [(rng.choice(["sees", "eats", "runs"]), "O")] + tail


def toy_squad(n: int, rng) -> dict:
    paragraphs = []
    for _ in range(n):
        who, where, firm = rng.choice(PEOPLE), rng.choice(PLACES), rng.choice(COMPANIES)
        context = f"{who} lives in {where} . {who} works at {firm} ."
        qas = [{"id": f"q{len(paragraphs)}a", "question": f"Where does {who} live ?",
                "answers": [{"text": where, "answer_start": context.index(where)}]},
               {"id": f"q{len(paragraphs)}b", "question": f"Where does {who} work ?",
                "answers": [{"text": firm, "answer_start": context.index(firm)}]}]
        paragraphs.append({"context": context, "qas": qas})
    return {"version": "1.1", "data": [{"title": "Toy", "paragraphs": paragraphs}]}


def write_toy_task_data(root: Path, seed: int = 5) -> Path:
    import json

    rng = random.Random(seed)
    for task in ("summarize", "classify-sentiment", "tag-entities", "answer"):
        (root / task).mkdir(parents=True, exist_ok=True)
    for split, n in (("train", 1500), ("dev", 40)):
        docs = [" ".join(rng.choice(list(LEXICON)) for _ in range(rng.randint(5, 12))) for _ in range(n)]
        (root / "summarize" / f"{split}.jsonl").write_text(
            "".join(json.dumps({"document": d, "summary": " ".join(d.split()[:3])}) + "\n" for d in docs))
        texts = []
        for _ in range(n):
            label = rng.randint(0, 1)
            words = [rng.choice(list(LEXICON)) for _ in range(rng.randint(2, 5))]
            words.insert(rng.randint(0, len(words)), rng.choice(["good", "great"] if label else ["bad", "awful"]))
            texts.append({"text": " ".join(words), "label": label})
        (root / "classify-sentiment" / f"{split}.jsonl").write_text("".join(json.dumps(t) + "\n" for t in texts))
        sentences = ["\n".join(f"{w} {t}" for w, t in toy_entity_sentence(rng)) for _ in range(n)]
        (root / "tag-entities" / f"{split}.txt").write_text("-DOCSTART- O\n\n" + "\n\n".join(sentences) + "\n")
        (root / "answer" / f"{split}.json").write_text(json.dumps(toy_squad(n // 2, rng)))
    return root


TOY_TASKS_RECIPE = """
[mix]
translate = 1
summarize = 1
answer = 1
classify-sentiment = 1
tag-entities = 1
[[data.train]]
name = "toy-summaries"
task = "summarize"
format = "jsonl"
path = "summarize/train.jsonl"
fields = ["document", "summary"]
[[data.dev]]
name = "toy-summaries-dev"
task = "summarize"
format = "jsonl"
path = "summarize/dev.jsonl"
fields = ["document", "summary"]
[[data.train]]
name = "toy-sentiment"
task = "classify-sentiment"
format = "jsonl"
path = "classify-sentiment/train.jsonl"
fields = ["text", "label"]
[[data.train]]
name = "toy-entities"
task = "tag-entities"
format = "conll"
path = "tag-entities/train.txt"
[[data.train]]
name = "toy-squad"
task = "answer"
format = "squad"
path = "answer/train.json"
"""


def write_toy_tasks_recipe(folder: Path, steps: int) -> Path:
    path = folder / "toy-tasks.toml"
    path.write_text(TOY_RECIPE.format(steps=steps).replace('name = "toy"\n', 'name = "toy-tasks"\n', 1) + TOY_TASKS_RECIPE)
    return path


@pytest.fixture(scope="session")
def toy_tasks_checkpoint(tmp_path_factory, toy_data) -> Path:
    """A tiny model trained on all five toy tasks at once."""
    from nlpcli.training.recipe import load_recipe
    from nlpcli.training.trainer import Trainer

    write_toy_task_data(toy_data)
    work = tmp_path_factory.mktemp("toy-tasks-run")
    recipe = load_recipe(write_toy_tasks_recipe(work, steps=700))
    return Trainer(recipe, toy_data, work / "run").train()


@pytest.fixture
def tiny_model():
    from nlpcli.model import ModelConfig, Seq2SeqTransformer

    torch.manual_seed(0)
    config = ModelConfig(vocab_size=50, d_model=32, n_heads=4, ffn_dim=64, encoder_layers=2, decoder_layers=2,
                         dropout=0.0, max_positions=64)
    return Seq2SeqTransformer(config).eval()
