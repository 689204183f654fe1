"""What README.md promises about the command line and no other test checked, run through
the real command line on the toy checkpoints."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import write_toy_recipe
from test_cli import ENV, converse, nlpcli, run_in_process, run_watching_linear_layers

CONTEXT = "Anna lives in Rome . Anna works at Siemens ."

# each task command with two inputs, for the promises that hold for every one of them
TASKS = {
    "summarize": (["--beam", "1"], "a dog eats bread", "the big cat sleeps in the house"),
    "classify-sentiment": ([], "a dog is good", "a cat sleeps awful"),
    "tag-entities": ([], "Mary Smith eats in Berlin", "Anna runs at Siemens"),
    "answer": (["--context", CONTEXT], "Where does Anna live ?", "Where does Anna work ?"),
}


@pytest.mark.parametrize("command", TASKS)
def test_stream_answers_each_line_as_it_is_read_for_every_task(toy_tasks_checkpoint, command):
    options, first, second = TASKS[command]
    code, batch, _ = run_watching_linear_layers([command, "-c", toy_tasks_checkpoint, *options, first, second])
    assert code == 0 and all(batch.splitlines())
    streamed = converse([command, "-c", toy_tasks_checkpoint, *options, "--stream"],
                        [(f"{first}\n", 1), ("\n", b"\n"), (f"{second}\n", 1)])
    assert streamed.decode().split("\n")[:-1] == [batch.splitlines()[0], "", batch.splitlines()[1]]  # as without --stream


def test_blank_lines_in_conll_and_n_best_output(toy_tasks_checkpoint, toy_checkpoint):
    code, conll, error = run_in_process("tag-entities", "-c", toy_tasks_checkpoint, "--format", "conll",
                                        stdin="Mary Smith eats in Berlin\n\nAnna runs at Siemens\n")
    assert code == 0, error
    assert conll.split("\n")[:-1] == ["Mary\tB-PER", "Smith\tI-PER", "eats\tO", "in\tO", "Berlin\tB-LOC", "",
                                      "",  # a blank input line: one blank line
                                      "Anna\tB-PER", "runs\tO", "at\tO", "Siemens\tB-ORG", ""]
    code, n_best, error = run_in_process("translate", "-c", toy_checkpoint, "--n-best", "3", stdin="a dog\n\na cat\n")
    assert code == 0, error
    out = n_best.split("\n")[:-1]
    assert len(out) == 7 and out[3] == ""  # n lines per sentence, one empty line for the blank one
    assert [line.split(" ||| ")[0] for line in out[:3] + out[4:]] == ["0"] * 3 + ["2"] * 3  # numbered by input line
    assert out[0].split(" ||| ")[1] == "ein hund" and out[4].split(" ||| ")[1] == "ein katze"


def test_debug_shows_the_traceback(tmp_path):
    plain = nlpcli("translate", "-c", tmp_path / "none", "hello")
    assert plain.returncode == 1 and b"Traceback" not in plain.stderr and plain.stderr.count(b"\n") == 1
    for args, env in ((["--debug"], ENV), ([], {**ENV, "NLPCLI_DEBUG": "1"})):
        debug = subprocess.run([sys.executable, "-m", "nlpcli", *args, "translate", "-c", str(tmp_path / "none"), "hello"],
                               capture_output=True, env=env, timeout=300)
        error = debug.stderr.decode()
        assert debug.returncode == 1 and "Traceback (most recent call last)" in error, args
        assert "checkpoint folder not found" in error and debug.stdout == b""


def test_jsonl_alignments(toy_checkpoint):
    code, out, error = run_in_process("translate", "-c", toy_checkpoint, "--format", "jsonl", "--alignments",
                                      stdin="a man runs\n\nthe big dog sees a ball\n")
    assert code == 0, error
    first, empty, third = [json.loads(line) for line in out.splitlines()]
    assert first["translation"] == "ein mann rennt" and first["alignments"] == [[0, 0], [1, 1], [2, 2]]
    assert empty["empty"] is True and empty["alignments"] == []
    assert third["alignments"] == [[i, i] for i in range(6)]
    _, out, _ = run_in_process("translate", "-c", toy_checkpoint, "--format", "jsonl", "--alignments", "--n-best", "2", "a man runs")
    with_n_best = json.loads(out)
    assert with_n_best["alignments"] == first["alignments"] and len(with_n_best["n_best"]) == 2


def test_layer_head_svg_and_one_json_file_per_record(toy_checkpoint, tmp_path):
    text = "a man runs\n\nthe cat sleeps\n"
    code, out, shown = run_in_process("translate", "-c", toy_checkpoint, "--show-attention", "--layer", "0", "--head", "1",
                                      "--attention-out", tmp_path / "map.svg", stdin=text)
    assert code == 0, shown
    assert out.split("\n")[:-1] == ["ein mann rennt", "", "der katze schlaeft"]
    assert shown.count("cross-attention, layer 0, head 1") == 2 and "layer 1" not in shown and "mean of" not in shown
    for number in (1, 3):  # SVG: one file per record, numbered by input line
        assert b"<svg" in (tmp_path / f"map-{number}.svg").read_bytes()
    assert not (tmp_path / "map-2.svg").exists() and not (tmp_path / "map.svg").exists()

    _, _, averaged = run_in_process("translate", "-c", toy_checkpoint, "--show-attention", "--layer", "mean", "--head", "mean", "a cat")
    assert "cross-attention, mean of 2 layers, mean of 4 heads" in averaged
    code, _, wrong = run_in_process("translate", "-c", toy_checkpoint, "--show-attention", "--layer", "2", "a cat")
    assert code == 1 and "--layer 2: this model has layers 0 to 1" in wrong

    code, _, error = run_in_process("translate", "-c", toy_checkpoint, "--attention-out", tmp_path / "record{i}.json", stdin=text)
    assert code == 0, error
    assert sorted(p.name for p in tmp_path.glob("record*.json")) == ["record1.json", "record3.json"]
    third = json.loads((tmp_path / "record3.json").read_text())
    assert third["record"] == 3 and third["kind"] == "cross-attention" and third["rows"][-1] == "</s>"
    assert third["layers"] == 2 and third["heads"] == 4 and len(third["weights"][1][3]) == len(third["rows"])


def test_a_checkpoint_without_weights_is_refused(toy_checkpoint, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(toy_checkpoint, broken)
    (broken / "model.safetensors").unlink()
    result = nlpcli("translate", "-c", broken, "a man")
    error = result.stderr.decode()
    assert result.returncode == 1 and f"checkpoint {broken} is missing model.safetensors" in error
    assert error.count("\n") == 1 and "Traceback" not in error and result.stdout == b""


@pytest.mark.parametrize("command", TASKS)
def test_int8_runs_dynamic_int8_linear_layers_for_every_task(toy_tasks_checkpoint, command):
    options, first, second = TASKS[command]
    args = [command, "-c", toy_tasks_checkpoint, *options, first, second]
    code, fp32, calls = run_watching_linear_layers(args)
    assert code == 0 and calls["float"] > 0 and calls["dynamic int8"] == 0
    code, int8, calls = run_watching_linear_layers([*args, "--int8"])
    assert code == 0 and calls["float"] == 0 and calls["dynamic int8"] > 0
    fp32, int8 = fp32.splitlines(), int8.splitlines()
    assert len(int8) == len(fp32) == 2 and all(int8)
    if command == "classify-sentiment":  # the same labels; probabilities close
        assert [line.split("\t")[0] for line in int8] == [line.split("\t")[0] for line in fp32]
        assert all(abs(float(a.split("\t")[1]) - float(b.split("\t")[1])) < 0.05 for a, b in zip(int8, fp32))
    elif command != "summarize":  # the same entities and answers
        assert int8 == fp32


def test_the_checkpoint_can_come_from_the_environment(toy_checkpoint, monkeypatch):
    monkeypatch.setenv("NLPCLI_CHECKPOINT", str(toy_checkpoint))
    assert run_in_process("translate", "a man runs")[:2] == (0, "ein mann rennt\n")
    code, info, _ = run_in_process("info", "--json")
    assert code == 0 and json.loads(info)["parameters"] == 188_160  # the toy model, not the shipped one


def test_help_does_not_import_torch():
    script = ("import sys\nfrom nlpcli.cli import main\n"
              "for args in (['--help'], [], ['translate', '--help'], ['evaluate', '--help'], ['train', '--help']):\n"
              "    main(args)\n"
              "print('torch imported' if 'torch' in sys.modules else 'no torch', file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, env=ENV, timeout=120)
    assert result.returncode == 0, result.stderr
    assert b"Usage: nlpcli translate" in result.stdout and result.stderr.decode().strip().endswith("no torch")


def test_plot_training_draws_a_run(toy_checkpoint, tmp_path):
    pytest.importorskip("matplotlib")
    run = toy_checkpoint.parent
    for name, magic in (("curves.png", b"\x89PNG\r\n\x1a\n"), ("curves.svg", b"<?xml")):
        code, _, error = run_in_process("plot-training", run, "-o", tmp_path / name)
        assert code == 0, error
        assert (tmp_path / name).read_bytes().startswith(magic) and str(tmp_path / name) in error
    code, _, error = run_in_process("plot-training", tmp_path, "-o", tmp_path / "x.png")
    assert code == 1 and "has no metrics.jsonl" in error and not (tmp_path / "x.png").exists()


def test_min_len_makes_summaries_at_least_that_long(toy_tasks_checkpoint):
    document = json.dumps({"document": "a big red house"}) + "\n"

    def summary_tokens(*options) -> list[str]:
        code, out, error = run_in_process("summarize", "-c", toy_tasks_checkpoint, "--input-format", "jsonl", "--format", "jsonl",
                                          "--beam", "2", *options, stdin=document)
        assert code == 0, error
        record = json.loads(out)
        assert record["tokens"][-1] == "</s>"
        return record["tokens"][:-1]

    free = summary_tokens()
    assert 0 < len(free) < 8
    assert len(summary_tokens("--min-len", "8")) >= 8
    assert len(summary_tokens("--min-len", "8", "--max-len", "9", "--no-repeat-ngram", "0")) in (8, 9)


def test_overwrite_replaces_a_run_through_the_command_line(tmp_path, toy_data):
    recipe = write_toy_recipe(tmp_path, steps=2)
    run = tmp_path / "run"
    common = ["train", recipe, "--data", toy_data, "--out", run, "--set", "train.eval_every=1000", "--threads", "1"]
    assert nlpcli(*common).returncode == 0
    (run / "leftover.txt").write_text("from the first run")
    replaced = nlpcli(*common, "--overwrite", "--steps", "1")
    assert replaced.returncode == 0, replaced.stderr
    assert not (run / "leftover.txt").exists()
    assert json.loads((run / "recipe.json").read_text())["train"]["max_steps"] == 1
    assert json.loads((run / "checkpoint" / "config.json").read_text())["training"]["steps"] == 1
    assert os.path.exists(run / "state" / "trainer.pt")
