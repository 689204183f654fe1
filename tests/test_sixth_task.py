"""A sixth task is one new module plus one registry line: this module defines a
toy task, reverse-words (the decoder writes the input's words in reverse
order), registers it, trains it with ``nlpcli train``, runs it from the command
line and evaluates it, without any other file of nlpcli changed."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from nlpcli.cli import main
from nlpcli.data.task_data import read_document_pairs
from nlpcli.tasks import TASKS, DecoderTask, register

WORDS = "red green blue cat dog bird tree house river stone light night".split()


class ReverseWords(DecoderTask):
    """Data sets: format "jsonl", ``fields`` = [words field, reversed field]."""

    name = "reverse-words"
    token = "<reverse>"
    formats = {"jsonl": read_document_pairs}
    input_field, output_field = "words", "reversed"


RECIPE = """
name = "reverse"
[model]
d_model = 64
n_heads = 4
ffn_dim = 128
encoder_layers = 1
decoder_layers = 1
dropout = 0.0
max_positions = 32
[tokenizer]
vocab_size = 300
[train]
max_steps = 200
batch_tokens = 400
lr = 0.005
warmup_steps = 10
eval_every = 100
max_length = 32
seed = 2
[[data.train]]
name = "reversals"
task = "reverse-words"
format = "jsonl"
path = "train.jsonl"
fields = ["words", "reversed"]
[[data.dev]]
name = "reversals-dev"
task = "reverse-words"
format = "jsonl"
path = "dev.jsonl"
fields = ["words", "reversed"]
"""


def write_reversals(path, n: int, rng: random.Random) -> list[list[str]]:
    rows = [rng.sample(WORDS, rng.randint(2, 4)) for _ in range(n)]
    path.write_text("".join(json.dumps({"words": " ".join(r), "reversed": " ".join(reversed(r))}) + "\n" for r in rows))
    return rows


@pytest.fixture(scope="module")
def reverse_words():
    task = register(ReverseWords())  # the one line that adds the task
    yield task
    del TASKS[task.name]  # the other tests see the five built-in tasks


@pytest.fixture(scope="module")
def reverse_checkpoint(reverse_words, tmp_path_factory):
    folder = tmp_path_factory.mktemp("reverse-words")
    rng = random.Random(4)
    write_reversals(folder / "train.jsonl", 600, rng)
    write_reversals(folder / "dev.jsonl", 20, rng)
    (folder / "reverse.toml").write_text(RECIPE)
    assert main(["train", str(folder / "reverse.toml"), "--data", str(folder), "--out", str(folder / "run"),
                 "--threads", "1"]) == 0
    return folder / "run" / "checkpoint"


def test_nlpcli_train_trains_a_registered_task(reverse_checkpoint):
    config = json.loads((reverse_checkpoint / "config.json").read_text())
    assert config["tasks"] == {"reverse-words": {"window": 32}}
    assert config["training"]["data"] == [{"name": "reversals", "task": "reverse-words", "path": "train.jsonl", "weight": 1.0}]
    assert set(config["training"]["dev_scores_greedy"]) == {"reversals-dev"}
    events = [json.loads(line) for line in (reverse_checkpoint.parent / "metrics.jsonl").read_text().splitlines()]
    dev = [e["dev"]["reversals-dev"]["loss"] for e in events if "dev" in e]
    assert len(dev) == 2 and dev[1] < dev[0]


def test_the_trained_task_runs_through_its_runner(reverse_words, reverse_checkpoint):
    from nlpcli.checkpoint import load_checkpoint
    from nlpcli.decoding import GenerationSettings

    runner = reverse_words.runner(load_checkpoint(reverse_checkpoint), "cpu")
    results, cut = reverse_words.run(runner, ["red cat tree", "", "dog bird"], GenerationSettings(beam=1))
    assert [r and r.text for r in results] == ["tree cat red", None, "bird dog"] and cut == [False, False, False]


def test_the_registered_task_runs_from_the_command_line(reverse_checkpoint, tmp_path, capsys):
    source, out = tmp_path / "in.txt", tmp_path / "out.txt"
    source.write_text("red cat tree\n\ndog bird\n")
    assert main(["reverse-words", "-c", str(reverse_checkpoint), "-i", str(source), "-o", str(out), "--beam", "1"]) == 0
    assert out.read_text() == "tree cat red\n\nbird dog\n"  # one line per input line, a blank one kept
    assert main(["reverse-words", "-c", str(reverse_checkpoint), "--format", "jsonl", "stone river"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert (record["words"], record["reversed"], record["tokens"][-1]) == ("stone river", "river stone", "</s>")
    assert record["score"] < 0
    assert main(["--help"]) == 0 and "reverse-words" in capsys.readouterr().out


def test_the_registered_task_is_evaluated_from_the_command_line(reverse_checkpoint, tmp_path, capsys):
    rows = write_reversals(tmp_path / "held-out.jsonl", 12, random.Random(9))
    (tmp_path / "words.txt").write_text("".join(" ".join(r) + "\n" for r in rows))
    (tmp_path / "gold.txt").write_text("".join(" ".join(reversed(r)) + "\n" for r in rows))
    (tmp_path / "copied.txt").write_text("".join(" ".join(r) + "\n" for r in rows))  # a system that does nothing
    assert main(["evaluate", "reverse-words", "-c", str(reverse_checkpoint), "--source", str(tmp_path / "words.txt"),
                 "--ref", str(tmp_path / "gold.txt"), "--keep-output", str(tmp_path / "system.txt"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["signature"]["metric"] == "bleu" and report["signature"]["text"].startswith("nrefs:1|")
    assert report["bleu"] > 60 and report["sentences"] == 12
    assert len((tmp_path / "system.txt").read_text().splitlines()) == 12
    assert main(["evaluate", "reverse-words", "--hyp", str(tmp_path / "copied.txt"), "--ref", str(tmp_path / "gold.txt")]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("nrefs:1|") and "version:" in printed[0]  # the signature, first
    assert float(next(line for line in printed if line.startswith("bleu")).split("=")[1]) < report["bleu"]


def test_an_installed_plugin_adds_the_task_to_the_shell_command(reverse_checkpoint, tmp_path):
    """From the shell the registry line is an entry point that an installed package
    declares (here a bare .dist-info folder on PYTHONPATH naming this module's class):
    a plain ``nlpcli`` lists the task and runs it, and a plugin that fails to load is
    left out with a warning instead of taking the built-in tasks down."""
    site = tmp_path / "site"
    for name, target in (("reverse_words_plugin", "test_sixth_task:ReverseWords"), ("broken_plugin", "no_such_module:Task")):
        info = site / f"{name}-1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[nlpcli.tasks]\n{name} = {target}\n")
    path = [str(site), str(Path(__file__).parent), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}

    def nlpcli(*args):
        return subprocess.run([sys.executable, "-m", "nlpcli", *args], capture_output=True, text=True, env=env, timeout=300)

    listed = nlpcli("--help")
    assert listed.returncode == 0 and "reverse-words" in listed.stdout and "translate" in listed.stdout
    assert "task plugin broken_plugin (no_such_module:Task) left out: ModuleNotFoundError" in listed.stderr
    done = nlpcli("reverse-words", "-c", str(reverse_checkpoint), "--beam", "1", "--quiet", "red cat tree")
    assert (done.returncode, done.stdout) == (0, "tree cat red\n")
