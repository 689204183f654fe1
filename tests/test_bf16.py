"""--bf16: the model runs in bfloat16 on every task command and answers as in float32 on clear inputs;
a task scored in bfloat16 (config.json tasks.TASK.compute_dtype) runs in it by default where the hardware has it."""
import json
import os
import shutil
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


@pytest.fixture
def bf16_checkpoint(toy_tasks_checkpoint, tmp_path):
    """The five-task toy as `recipes/evaluate.py --tasks translate,classify-sentiment --bf16 --record`
    leaves it: those two tasks' compute_dtype is bfloat16, the others' float32."""
    staged = shutil.copytree(toy_tasks_checkpoint, tmp_path / "bf16")
    config = json.loads((staged / "config.json").read_text())
    for task in ("translate", "classify-sentiment"):
        config["tasks"][task]["compute_dtype"] = "bfloat16"
    (staged / "config.json").write_text(json.dumps(config))
    return staged


def dtypes(loaded) -> set:
    return {p.dtype for p in loaded.model.parameters()}


@pytest.mark.parametrize("cpu_has_bf16", [True, False])
def test_a_task_scored_in_bf16_runs_in_it_only_where_the_cpu_has_it(bf16_checkpoint, monkeypatch, capsys, cpu_has_bf16):
    from nlpcli.cli import load_for

    monkeypatch.setattr("nlpcli.runtime.cpu_has_bf16", lambda: cpu_has_bf16)
    loaded, _ = load_for("translate", bf16_checkpoint, "cpu", None, False)
    assert dtypes(loaded) == ({torch.bfloat16} if cpu_has_bf16 else {torch.float32})  # never emulated by default
    assert capsys.readouterr().err == ""
    other_task, _ = load_for("tag-entities", bf16_checkpoint, "cpu", None, False)  # scored in float32
    assert dtypes(other_task) == {torch.float32}
    fp32, _ = load_for("translate", bf16_checkpoint, "cpu", None, False, bf16=False)  # --fp32
    assert dtypes(fp32) == {torch.float32}
    quantized, _ = load_for("translate", bf16_checkpoint, "cpu", None, False, int8=True)  # --int8 alone: int8 on float32
    assert torch.bfloat16 not in dtypes(quantized)


def test_a_checkpoint_without_compute_dtype_runs_in_float32(toy_tasks_checkpoint, monkeypatch):
    """Release 1 and every checkpoint trained before compute_dtype existed keep their float32 outputs."""
    from nlpcli.cli import load_for

    monkeypatch.setattr("nlpcli.runtime.cpu_has_bf16", lambda: True)
    for task in ("translate", "classify-sentiment", "answer"):
        loaded, _ = load_for(task, toy_tasks_checkpoint, "cpu", None, True)
        assert dtypes(loaded) == {torch.float32}


def test_the_command_runs_as_the_checkpoint_says_and_fp32_overrides_it(bf16_checkpoint):
    from nlpcli.runtime import cpu_has_bf16

    runs = {flags: nlpcli("classify-sentiment", "-c", bf16_checkpoint, "--format", "jsonl", *flags,
                          stdin="a great dog\nJohn lives in Paris and the dog\n")
            for flags in [(), ("--bf16",), ("--fp32",)]}
    assert all(run.returncode == 0 for run in runs.values()), runs[()].stderr
    assert runs[()].stdout == runs[("--bf16",) if cpu_has_bf16() else ("--fp32",)].stdout
    assert runs[("--bf16",)].stdout != runs[("--fp32",)].stdout  # the unclear one's probability differs in its last digits


def test_an_unknown_compute_dtype_is_refused(bf16_checkpoint):
    from nlpcli.checkpoint import load_checkpoint
    from nlpcli.errors import CheckpointError

    config = json.loads((bf16_checkpoint / "config.json").read_text())
    config["tasks"]["answer"]["compute_dtype"] = "float8"
    (bf16_checkpoint / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="answer's compute_dtype 'float8' is not one of float32, bfloat16"):
        load_checkpoint(bf16_checkpoint)
