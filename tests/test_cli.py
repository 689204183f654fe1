"""The real command line, run as users run it."""
import json
import math
import os
import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import write_toy_recipe

ENV = {**os.environ, "NO_COLOR": "1", "OMP_NUM_THREADS": "1"}


def nlpcli(*args, stdin: str | bytes = "", **kwargs):
    data = stdin.encode() if isinstance(stdin, str) else stdin
    return subprocess.run([sys.executable, "-m", "nlpcli", *map(str, args)], input=data, capture_output=True,
                          env=ENV, timeout=300, **kwargs)


def lines(result) -> list[str]:
    return result.stdout.decode().split("\n")[:-1]


def test_translate_keeps_one_line_per_input_line_in_order(toy_checkpoint):
    text = "a man runs\n\n   \nthe big dog sees a ball\na cat sleeps\n"
    result = nlpcli("translate", "-c", toy_checkpoint, "--batch-size", "2", stdin=text)
    assert result.returncode == 0, result.stderr
    assert lines(result) == ["ein mann rennt", "", "", "der gross hund sieht ein ball",
                             "ein katze schlaeft"]


def test_translate_the_other_direction_from_arguments_to_a_file(toy_checkpoint, tmp_path):
    out = tmp_path / "out.txt"
    result = nlpcli("translate", "-c", toy_checkpoint, "--src", "de", "--tgt", "en", "--beam", "1",
                    "ein hund isst brot", "-o", out)
    assert result.returncode == 0, result.stderr
    assert out.read_text() == "a dog eats bread\n" and result.stdout == b""


def test_jsonl_and_n_best(toy_checkpoint):
    result = nlpcli("translate", "-c", toy_checkpoint, "--format", "jsonl", "--n-best", "2", stdin="a dog\n\n")
    first, empty = [json.loads(line) for line in lines(result)]
    assert first["source"] == "a dog" and first["translation"] == "ein hund" and first["score"] < 0
    assert len(first["n_best"]) == 2
    assert empty == {"source": "", "translation": "", "score": None, "empty": True}
    moses = nlpcli("translate", "-c", toy_checkpoint, "--n-best", "3", stdin="a dog\na cat\n")
    rows = [line.split(" ||| ") for line in lines(moses)]
    assert [r[0] for r in rows] == ["0"] * 3 + ["1"] * 3 and rows[0][1] == "ein hund"
    # n-best: the best first, distinct hypotheses, total log-probabilities (ranked per token, which
    # test_decoding checks: a longer hypothesis may follow with a higher total)
    assert first["n_best"][0] == {"translation": first["translation"], "score": first["score"]}
    assert first["n_best"][1]["translation"] != first["translation"] and first["n_best"][1]["score"] < 0
    for sentence in (rows[:3], rows[3:]):
        assert all(float(r[2]) < 0 for r in sentence)
        assert len({r[1] for r in sentence}) == 3
    assert float(rows[0][2]) == pytest.approx(first["score"], abs=1e-4) and rows[3][1] == "ein katze"
    # jsonl tokens: the translation's pieces and </s>, each with its probability; together they make the score
    assert first["tokens"][-1] == "</s>" and "".join(first["tokens"][:-1]).replace("▁", " ").strip() == "ein hund"
    assert len(first["token_probs"]) == len(first["tokens"]) and all(0 < p <= 1 for p in first["token_probs"])
    assert sum(math.log(p) for p in first["token_probs"]) == pytest.approx(first["score"], abs=1e-3 * len(first["tokens"]))


def test_crlf_and_bom_input_give_lf_output(toy_checkpoint, tmp_path):
    source = tmp_path / "in.txt"
    source.write_bytes(b"\xef\xbb\xbfa man\r\na cat\r\n")
    result = nlpcli("translate", "-c", toy_checkpoint, "-i", source)
    assert result.stdout == b"ein mann\nein katze\n"


def test_broken_pipe_exits_quietly(toy_checkpoint):
    command = (f"{sys.executable} -m nlpcli translate -c {toy_checkpoint} --beam 1 --batch-size 4 | head -n 1; "
               "exit ${PIPESTATUS[0]}")
    result = subprocess.run(["bash", "-c", command], input=b"a man runs\n" * 3000, capture_output=True, env=ENV, timeout=300)
    assert result.returncode == 0
    assert result.stdout == b"ein mann rennt\n"
    assert result.stderr == b""


@pytest.mark.parametrize("args, stdin, message", [
    (["-i", "missing.txt"], "", "input file not found: missing.txt"),
    (["-i", "."], "", "is a directory"),
    (["--tgt", "fr"], "a man\n", "does not translate into fr; it supports: en-de, de-en"),
    (["--src", "cs", "--tgt", "de"], "a man\n", "does not translate cs-de; it supports: en-de, de-en"),
    (["--beam", "0"], "a man\n", "--beam must be at least 1"),
    (["--beam", "-2"], "a man\n", "--beam must be at least 1, got -2"),
    (["--max-len", "0"], "a man\n", "--max-len must be at least 1, got 0"),
    (["--device", "cuda"], "a man\n", "no CUDA GPU"),
    (["-o", "no/such/folder/out.txt"], "a man\n", "folder no/such/folder does not exist"),
])
def test_bad_input_is_one_line_and_exit_1(toy_checkpoint, args, stdin, message):
    result = nlpcli("translate", "-c", toy_checkpoint, *args, stdin=stdin)
    assert result.returncode == 1
    error = result.stderr.decode()
    assert message in error and error.count("\n") == 1 and "Traceback" not in error


def test_invalid_utf8_names_the_line_and_replace_mode_goes_on(toy_checkpoint):
    data = b"a man\na \xff cat\n"
    strict = nlpcli("translate", "-c", toy_checkpoint, stdin=data)
    assert strict.returncode == 1 and b"<stdin>, line 2: invalid UTF-8" in strict.stderr
    replaced = nlpcli("translate", "-c", toy_checkpoint, "--encoding-errors", "replace", stdin=data)
    assert replaced.returncode == 0 and len(lines(replaced)) == 2
    assert b"line 2: invalid UTF-8 replaced" in replaced.stderr


def test_missing_checkpoint_and_usage_errors(tmp_path):
    result = nlpcli("translate", "-c", tmp_path / "none", "hello")
    assert result.returncode == 1 and b"checkpoint folder not found" in result.stderr
    assert nlpcli("translate", "--no-such-flag").returncode == 2


def test_evaluate_translate_matches_the_sacrebleu_cli(tmp_path):
    hyp, ref = tmp_path / "hyp.txt", tmp_path / "ref.txt"
    hyp.write_text("The cat sat on the mat.\nA dog runs in the park today.\nHello world\n")
    ref.write_text("The cat sat on a mat.\nA dog is running in the park.\nHello world!\n")
    ours = nlpcli("evaluate", "translate", "--hyp", hyp, "--ref", ref, "--json")
    assert ours.returncode == 0, ours.stderr
    theirs = subprocess.run([sys.executable, "-m", "sacrebleu", str(ref), "-i", str(hyp), "-m", "bleu", "chrf", "ter"],
                            capture_output=True, env=ENV)
    assert ours.stdout == theirs.stdout and len(json.loads(ours.stdout)) == 3
    text = nlpcli("evaluate", "translate", "--hyp", hyp, "--ref", ref, "-m", "bleu,chrf")
    theirs_text = subprocess.run([sys.executable, "-m", "sacrebleu", str(ref), "-i", str(hyp), "-m", "bleu", "chrf",
                                  "-f", "text"], capture_output=True, env=ENV)
    assert text.stdout == theirs_text.stdout and lines(text)[0].strip().startswith("BLEU|nrefs:1|case:mixed|eff:no|tok:13a")


def test_evaluate_refuses_files_of_different_lengths(tmp_path):
    hyp, ref = tmp_path / "hyp.txt", tmp_path / "ref.txt"
    hyp.write_text("a\nb\n")
    ref.write_text("a\n")
    result = nlpcli("evaluate", "translate", "--hyp", hyp, "--ref", ref)
    assert result.returncode == 1 and b"has 2 lines but reference" in result.stderr


def test_info_shows_the_checkpoint(toy_checkpoint):
    result = nlpcli("info", "-c", toy_checkpoint, "--json")
    details = json.loads(result.stdout)
    assert details["tasks"]["translate"]["directions"] == ["en-de", "de-en"]
    assert details["parameters"] == 188_160


def test_train_command_trains_refuses_to_clobber_and_names_bad_keys(tmp_path, toy_data):
    recipe = write_toy_recipe(tmp_path, steps=4)
    run = tmp_path / "run"
    first = nlpcli("train", recipe, "--data", toy_data, "--out", run, "--set", "train.eval_every=4")
    assert first.returncode == 0, first.stderr
    assert (run / "checkpoint" / "model.safetensors").exists() and (run / "state" / "trainer.pt").exists()
    again = nlpcli("train", recipe, "--data", toy_data, "--out", run)
    assert again.returncode == 1 and b"already holds a run" in again.stderr
    resumed = nlpcli("train", recipe, "--data", toy_data, "--out", run, "--resume", "--steps", "6")
    assert resumed.returncode == 0 and b"resumed" in resumed.stderr
    bad = nlpcli("train", recipe, "--data", toy_data, "--out", tmp_path / "x", "--set", "train.nonsense=1")
    assert bad.returncode == 1 and b"unknown recipe key train.nonsense" in bad.stderr
    missing = nlpcli("train", recipe, "--data", tmp_path / "nodata", "--out", tmp_path / "y")
    assert missing.returncode == 1 and b"data folder not found" in missing.stderr


def test_awkward_input_never_loses_a_record(toy_checkpoint, tmp_path):
    long_line = "a man runs " * 100_000  # ~1 MB on one line
    text = f"a\x00 dog\n{long_line}\n\t\n漢字 Ωμέγα 🙂\nthe cat\n"
    source = tmp_path / "awkward.txt"
    source.write_text(text, encoding="utf-8")
    result = nlpcli("translate", "-c", toy_checkpoint, "--beam", "1", "-i", source)
    assert result.returncode == 0, result.stderr
    out = lines(result)
    assert len(out) == 5 and out[0] == "ein hund" and out[2] == "" and out[4] == "der katze"
    assert f"{source}, line 2: longer than the model's window" in result.stderr.decode()
    quiet = nlpcli("translate", "-c", toy_checkpoint, "--beam", "1", "-i", source, "--quiet")
    assert quiet.stderr == b"" and lines(quiet) == out


def test_only_blank_lines_and_empty_input(toy_checkpoint):
    assert nlpcli("translate", "-c", toy_checkpoint, stdin="\n \n\t\n").stdout == b"\n\n\n"
    empty = nlpcli("translate", "-c", toy_checkpoint, stdin="")
    assert empty.returncode == 0 and empty.stdout == b""


@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\x85\u2028\u2029"),
                        max_size=20), min_size=1, max_size=8))
@settings(max_examples=10, deadline=None)
def test_random_unicode_lines_give_as_many_output_lines(toy_checkpoint, texts):
    result = nlpcli("translate", "-c", toy_checkpoint, "--beam", "1", "--max-len", "8", stdin="".join(t + "\n" for t in texts))
    assert result.returncode == 0, result.stderr
    out = lines(result)
    assert len(out) == len(texts)
    assert all(o == "" for o, t in zip(out, texts) if not t.strip())


def interrupt_after_first_chunk(args: list, line: bytes, out) -> tuple[int, bytes, bytes]:
    """Feed 200 copies of ``line`` with stdin left open, send SIGINT once the first
    chunk (16 x batch size 8 = 128 records) is written: (exit code, stderr, output)."""
    import signal
    import time

    with open(out, "wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "nlpcli", *map(str, args), "--batch-size", "8"],
                                   stdin=subprocess.PIPE, stdout=sink, stderr=subprocess.PIPE, env=ENV,
                                   # a shell without job control starts background jobs with SIGINT ignored,
                                   # and Python keeps it so; a terminal's Ctrl-C reaches a default handler
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        process.stdin.write(line * 200)
        process.stdin.flush()  # stdin stays open: nlpcli handles the first chunk, then waits for more input
        deadline = time.time() + 120
        while out.stat().st_size == 0 and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        _, error = process.communicate(timeout=60)
    return process.returncode, error, out.read_bytes()


def test_ctrl_c_exits_130_keeping_finished_records_whole(toy_checkpoint, tmp_path):
    code, error, output = interrupt_after_first_chunk(["translate", "-c", toy_checkpoint, "--beam", "1"],
                                                      b"a man runs\n", tmp_path / "out.txt")
    assert code == 130 and b"interrupted" in error and b"Traceback" not in error
    assert output.endswith(b"\n") and set(output.decode().splitlines()) == {"ein mann rennt"}
    assert len(output.splitlines()) == 128  # the first chunk (16 x batch size), whole


def test_evaluate_the_other_tasks_from_files(tmp_path):
    squad = tmp_path / "squad.json"
    squad.write_text(json.dumps({"version": "1.1", "data": [{"title": "T", "paragraphs": [{
        "context": "The Eiffel Tower is in Paris.", "qas": [
            {"id": "a", "question": "Where?", "answers": [{"text": "Paris", "answer_start": 23}]},
            {"id": "b", "question": "What?", "answers": [{"text": "The Eiffel Tower", "answer_start": 0}]}]}]}]}))
    predictions = tmp_path / "pred.json"
    predictions.write_text(json.dumps({"a": "in Paris", "b": "Eiffel Tower"}))
    answer = json.loads(nlpcli("evaluate", "answer", "--predictions", predictions, "--data", squad, "--json").stdout)
    assert answer["exact_match"] == 50.0 and answer["f1"] == pytest.approx(100 * (2 / 3 + 1) / 2, abs=0.01)

    gold, tagged = tmp_path / "gold.conll", tmp_path / "pred.conll"
    gold.write_text("-DOCSTART- -X- -X- O\n\nJohn NNP B-NP B-PER\nlives VBZ B-VP O\nin IN B-PP O\nParis NNP B-NP B-LOC\n\n")
    tagged.write_text("John\tB-PER\nlives\tO\nin\tO\nParis\tB-ORG\n\n")
    entities = nlpcli("evaluate", "tag-entities", "--predictions", tagged, "--gold", gold)
    assert entities.returncode == 0 and "overall precision = 50.0 recall = 50.0 f1 = 50.0" in entities.stdout.decode()
    tagged.write_text("John\tB-PER\nlives\tO\n\n")
    mismatch = nlpcli("evaluate", "tag-entities", "--predictions", tagged, "--gold", gold)
    assert mismatch.returncode == 1 and b"does not match gold" in mismatch.stderr

    hyp, ref = tmp_path / "hyp.txt", tmp_path / "ref.txt"
    hyp.write_text("the cat sat\n")
    ref.write_text("the cat sat on the mat\n")
    rouge = json.loads(nlpcli("evaluate", "summarize", "--hyp", hyp, "--ref", ref, "--json").stdout)
    assert rouge["rouge2"] == pytest.approx(57.14, abs=0.01) and rouge["documents"] == 1
    hyp.write_text("")
    assert b"is empty" in nlpcli("evaluate", "summarize", "--hyp", hyp, "--ref", ref).stderr

    pred, labels = tmp_path / "sent.txt", tmp_path / "gold.tsv"
    pred.write_text("positive\t0.9\nnegative\t0.8\n")
    labels.write_text("sentence\tlabel\ngood \t1\nbad \t1\n")
    sentiment = nlpcli("evaluate", "classify-sentiment", "--predictions", pred, "--gold", labels)
    assert sentiment.returncode == 0 and "accuracy = 50.0" in sentiment.stdout.decode()


class LineReader:
    """The lines a running process writes to ``stream``, each awaited at most ``timeout``
    seconds, so a process that stops answering fails the test instead of hanging it."""

    def __init__(self, stream, timeout: float = 60) -> None:
        import queue
        import threading

        self.lines, self.timeout = queue.Queue(), timeout
        threading.Thread(target=lambda: [self.lines.put(line) for line in iter(stream.readline, b"")], daemon=True).start()

    def next(self) -> bytes:
        import queue

        try:
            return self.lines.get(timeout=self.timeout)
        except queue.Empty:
            pytest.fail(f"no output line within {self.timeout} s")


def converse(args: list, exchanges: list[tuple[str, bytes | int]]) -> bytes:
    """Run nlpcli as a co-process (stdin left open) and check that each line sent is answered
    before the next is sent: ``expected`` is the answer's bytes, or how many lines it has.
    Returns all the answers."""
    process = subprocess.Popen([sys.executable, "-m", "nlpcli", *map(str, args)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    answers = b""
    try:
        reader = LineReader(process.stdout)
        for source, expected in exchanges:
            process.stdin.write(source.encode())
            process.stdin.flush()  # stdin stays open, as with a co-process
            answer = b"".join(reader.next() for _ in range(expected if isinstance(expected, int) else 1))
            assert isinstance(expected, int) or answer == expected, source
            answers += answer
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0, process.stderr.read()
    return answers


def test_stream_mode_answers_each_line_as_it_is_read(toy_checkpoint):
    converse(["translate", "-c", toy_checkpoint, "--stream"],
             [("a man runs\n", b"ein mann rennt\n"), ("\n", b"\n"), ("a cat\n", b"ein katze\n")])


def test_int8_weights_translate_like_fp32(toy_checkpoint):
    text = "a man runs\nthe big dog sees a ball\na cat sleeps\n"
    fp32 = nlpcli("translate", "-c", toy_checkpoint, stdin=text)
    int8 = nlpcli("translate", "-c", toy_checkpoint, "--int8", stdin=text)
    assert int8.returncode == 0 and int8.stderr == b"", int8.stderr
    assert int8.stdout == fp32.stdout
    # the model that ran had dynamic int8 linear layers only (and without --int8, float ones only)
    code, out, calls = run_watching_linear_layers(["translate", "-c", toy_checkpoint, "--int8", *text.split("\n")[:-1]])
    assert code == 0 and out == fp32.stdout.decode()
    assert calls["float"] == 0 and calls["dynamic int8"] > 0 and calls["weights"] == {torch.qint8}
    code, out, calls = run_watching_linear_layers(["translate", "-c", toy_checkpoint, "a man runs"])
    assert code == 0 and calls["float"] > 0 and calls["dynamic int8"] == 0


def run_in_process(*args, stdin: str = "") -> tuple[int, str, str]:
    """Run the command line in this process (no interpreter start-up, and the model that
    runs can be watched): (exit code, stdout, stderr)."""
    import contextlib
    import io
    from unittest import mock

    from nlpcli.cli import main

    stdout, stderr = io.TextIOWrapper(io.BytesIO(), encoding="utf-8"), io.StringIO()
    with mock.patch.object(sys, "stdout", stdout), contextlib.redirect_stderr(stderr), \
            mock.patch.object(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode()), encoding="utf-8")):
        code = main([str(a) for a in args])
        stdout.flush()
    return code, stdout.buffer.getvalue().decode(), stderr.getvalue()


def run_watching_linear_layers(args: list) -> tuple[int, str, dict]:
    """Run the command line in this process, counting the forward calls of float
    (torch.nn.Linear) and dynamic int8 linear layers: (exit code, stdout, counts)."""
    from unittest import mock

    dynamic = torch.ao.nn.quantized.dynamic.Linear
    calls = {"float": 0, "dynamic int8": 0, "weights": set()}
    float_forward, int8_forward = torch.nn.Linear.forward, dynamic.forward

    def watch_float(self, x):
        calls["float"] += 1
        return float_forward(self, x)

    def watch_int8(self, x):
        calls["dynamic int8"] += 1
        calls["weights"].add(self.weight().dtype)
        return int8_forward(self, x)

    with mock.patch.object(torch.nn.Linear, "forward", watch_float), mock.patch.object(dynamic, "forward", watch_int8):
        code, out, _ = run_in_process(*args)
    return code, out, calls
