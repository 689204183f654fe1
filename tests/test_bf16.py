"""--bf16: the model runs in bfloat16 on every task command and answers as in float32 on clear inputs."""
import json
import os
import subprocess
import sys

import pytest
import torch

ENV = {**os.environ, "NO_COLOR": "1", "OMP_NUM_THREADS": "1"}


def nlpcli(*args, stdin: str = ""):
    return subprocess.run([sys.executable, "-m", "nlpcli", *map(str, args)], input=stdin.encode(), capture_output=True,
                          env=ENV, timeout=300)


def test_bf16_casts_every_weight_to_bfloat16(toy_tasks_checkpoint):
    from nlpcli.cli import load_for

    loaded, _ = load_for("translate", toy_tasks_checkpoint, "cpu", None, True, bf16=True)
    assert {p.dtype for p in loaded.model.parameters()} == {torch.bfloat16}
    plain, _ = load_for("translate", toy_tasks_checkpoint, "cpu", None, True)
    assert {p.dtype for p in plain.model.parameters()} == {torch.float32}


@pytest.mark.parametrize("cpu_has_bf16", [True, False])
def test_bf16_warns_where_the_cpu_would_emulate_it(toy_tasks_checkpoint, monkeypatch, capsys, cpu_has_bf16):
    """Emulated bfloat16 is slower than float32: the user who asked for speed is told."""
    from nlpcli.cli import load_for

    monkeypatch.setattr("nlpcli.runtime.cpu_has_bf16", lambda: cpu_has_bf16)
    loaded, _ = load_for("translate", toy_tasks_checkpoint, "cpu", None, False, bf16=True)
    assert {p.dtype for p in loaded.model.parameters()} == {torch.bfloat16}  # still done as asked
    assert ("slower than float32" in capsys.readouterr().err) != cpu_has_bf16


@pytest.mark.parametrize("command, stdin, extra", [
    ("translate", "a man runs\nthe big dog sees a ball\n", []),  # on the translation toy: the five-task toy translates poorly
    ("summarize", "a man runs in the park and the dog sleeps\n", []),
    ("classify-sentiment", "a great dog\nthe awful cat\n", []),
    ("tag-entities", "John Smith lives in Paris\n", []),
    ("answer", "Where does Mary live ?\n", ["--context", "Mary lives in Rome . Mary works at Google ."]),
])
def test_every_task_command_answers_in_bf16_as_in_float32(request, command, stdin, extra):
    checkpoint = request.getfixturevalue("toy_checkpoint" if command == "translate" else "toy_tasks_checkpoint")
    fp32 = nlpcli(command, "-c", checkpoint, "--format", "jsonl", *extra, stdin=stdin)
    bf16 = nlpcli(command, "-c", checkpoint, "--format", "jsonl", "--bf16", *extra, stdin=stdin)
    assert fp32.returncode == 0 and bf16.returncode == 0, bf16.stderr
    ours, theirs = ([json.loads(line) for line in r.stdout.decode().splitlines()] for r in (bf16, fp32))
    assert len(ours) == len(theirs) == len(stdin.splitlines())
    for a, b in zip(ours, theirs):  # the same labels, tags, spans and texts; scores within bf16's precision
        assert {k: v for k, v in a.items() if not k.endswith(("score", "probs", "probability"))} | {"entities": None} == \
               {k: v for k, v in b.items() if not k.endswith(("score", "probs", "probability"))} | {"entities": None}
        if "entities" in a:
            assert [(e["text"], e["type"]) for e in a["entities"]] == [(e["text"], e["type"]) for e in b["entities"]]


def test_bf16_and_int8_together_are_refused(toy_tasks_checkpoint):
    result = nlpcli("classify-sentiment", "-c", toy_tasks_checkpoint, "--bf16", "--int8", "a great dog")
    assert result.returncode == 1
    assert result.stderr.decode() == "nlpcli: error: --bf16 and --int8 are two ways to speed up the model: give one of them\n"
