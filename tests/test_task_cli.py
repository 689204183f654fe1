"""summarize, answer, classify-sentiment and tag-entities, run as users run them,
on a tiny model trained on toy versions of all five tasks."""
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from test_cli import interrupt_after_first_chunk, lines, nlpcli


def test_classify_sentiment_one_label_per_line(toy_tasks_checkpoint):
    result = nlpcli("classify-sentiment", "-c", toy_tasks_checkpoint, stdin="a dog is good\n\n  \na cat sleeps awful\n")
    assert result.returncode == 0, result.stderr
    out = lines(result)
    assert len(out) == 4 and out[1] == out[2] == ""
    assert out[0].split("\t")[0] == "positive" and out[3].split("\t")[0] == "negative"
    assert 0.5 <= float(out[0].split("\t")[1]) <= 1
    record = json.loads(lines(nlpcli("classify-sentiment", "-c", toy_tasks_checkpoint, "--format", "jsonl", "great house"))[0])
    assert record["text"] == "great house" and record["label"] == "positive" and 0.5 <= record["score"] <= 1


def test_sentiment_predictions_evaluate(toy_tasks_checkpoint, toy_data, tmp_path):
    dev = toy_data / "classify-sentiment" / "dev.jsonl"
    predictions = tmp_path / "pred.txt"
    result = nlpcli("classify-sentiment", "-c", toy_tasks_checkpoint, "-i", dev, "--input-format", "jsonl", "-o", predictions)
    assert result.returncode == 0, result.stderr
    report = nlpcli("evaluate", "classify-sentiment", "--predictions", predictions, "--gold", dev, "--json")
    assert json.loads(report.stdout)["accuracy"] >= 90


def test_tag_entities_inline_jsonl_and_conll(toy_tasks_checkpoint):
    text = "Mary Smith eats in Berlin"
    inline = nlpcli("tag-entities", "-c", toy_tasks_checkpoint, text, "", "Anna runs at Siemens")
    assert inline.returncode == 0, inline.stderr
    assert lines(inline) == ["[PER Mary Smith] eats in [LOC Berlin]", "", "[PER Anna] runs at [ORG Siemens]"]
    record = json.loads(lines(nlpcli("tag-entities", "-c", toy_tasks_checkpoint, "--format", "jsonl", text))[0])
    assert [(e["text"], e["type"]) for e in record["entities"]] == [("Mary Smith", "PER"), ("Berlin", "LOC")]
    assert all(text[e["start"]:e["end"]] == e["text"] and 0 < e["score"] <= 1 for e in record["entities"])
    conll = nlpcli("tag-entities", "-c", toy_tasks_checkpoint, "--format", "conll", text)
    assert lines(conll) == ["Mary\tB-PER", "Smith\tI-PER", "eats\tO", "in\tO", "Berlin\tB-LOC", ""]


def test_conll_input_lines_up_with_the_gold_file(toy_tasks_checkpoint, toy_data, tmp_path):
    gold = toy_data / "tag-entities" / "dev.txt"
    predictions = tmp_path / "pred.conll"
    result = nlpcli("tag-entities", "-c", toy_tasks_checkpoint, "-i", gold, "--input-format", "conll", "-o", predictions)
    assert result.returncode == 0, result.stderr
    gold_lines, predicted = gold.read_text().splitlines(), predictions.read_text().splitlines()
    assert len(predicted) == len(gold_lines)
    assert [p.split()[0] if p else "" for p in predicted] == [g.split()[0] if g.strip() else "" for g in gold_lines]
    report = json.loads(nlpcli("evaluate", "tag-entities", "--predictions", predictions, "--gold", gold, "--json").stdout)
    assert report["f1"] >= 90


def test_answer_from_a_context_and_from_squad_json(toy_tasks_checkpoint, toy_data, tmp_path):
    context = "Anna lives in Rome . Anna works at Siemens ."
    result = nlpcli("answer", "-c", toy_tasks_checkpoint, "--context", context, "Where does Anna live ?", "Where does Anna work ?")
    assert result.returncode == 0, result.stderr
    assert lines(result) == ["Rome", "Siemens"]
    jsonl = nlpcli("answer", "-c", toy_tasks_checkpoint, "--format", "jsonl",
                   stdin=json.dumps({"id": "x1", "context": context, "question": "Where does Anna work ?"}) + "\n\n")
    first, empty = [json.loads(line) for line in lines(jsonl)]
    assert first["id"] == "x1" and first["answer"] == "Siemens" and context[first["start"]:first["end"]] == "Siemens"
    assert empty["empty"] is True
    squad = toy_data / "answer" / "dev.json"
    predictions = tmp_path / "pred.json"
    assert nlpcli("answer", "-c", toy_tasks_checkpoint, "-i", squad, "--format", "squad", "-o", predictions).returncode == 0
    report = json.loads(nlpcli("evaluate", "answer", "--predictions", predictions, "--data", squad, "--json").stdout)
    assert report["f1"] >= 90 and report["questions"] == 40


def test_summarize_keeps_records_and_warns_about_long_documents(toy_tasks_checkpoint):
    long_document = " ".join(["a man runs in the park"] * 40)
    result = nlpcli("summarize", "-c", toy_tasks_checkpoint, "--beam", "2", stdin=f"a dog eats bread\n\n{long_document}\n")
    assert result.returncode == 0, result.stderr
    out = lines(result)
    assert len(out) == 3 and out[1] == "" and out[0]
    assert "<stdin>, line 3: longer than the summarization window" in result.stderr.decode()
    jsonl = nlpcli("summarize", "-c", toy_tasks_checkpoint, "--input-format", "jsonl", "--format", "jsonl",
                   "--no-repeat-ngram", "1", "--min-len", "3", stdin=json.dumps({"document": "a big red house"}) + "\n")
    record = json.loads(lines(jsonl)[0])
    words = record["summary"].split()
    assert record["document"] == "a big red house" and record["score"] < 0
    assert len(words) == len(set(words))
    assert record["tokens"][-1] == "</s>" and len(record["tokens"]) - 1 >= 3  # --min-len 3: at least 3 tokens


def test_task_input_errors_name_the_line_and_field(toy_tasks_checkpoint, toy_checkpoint):
    cases = [
        (("summarize", "--input-format", "jsonl"), '{"document": "a"}\n{"doc": "b"}\n', "<stdin>, line 2: missing field 'document'"),
        (("classify-sentiment", "--input-format", "jsonl"), '{"text": 5}\n', "line 1: field 'text' must be a string"),
        (("answer",), '{"question": "q", "context": "c"}\nnot json\n', "<stdin>, line 2: invalid JSON"),
        (("tag-entities", "--input-format", "conll"), "John B-PER\n\tO\n", "line 2: malformed CoNLL line"),
        (("answer", "who ?"), "", "need --context"),
        (("summarize", "--min-len", "9", "--max-len", "4"), "x\n", "--min-len 9 cannot exceed --max-len 4"),
    ]
    for args, stdin, message in cases:
        result = nlpcli(args[0], "-c", toy_tasks_checkpoint, *args[1:], stdin=stdin)
        assert result.returncode == 1 and message in result.stderr.decode(), (args, result.stderr)
        assert len(result.stderr.decode().strip().splitlines()) == 1
    translation_only = nlpcli("tag-entities", "-c", toy_checkpoint, "John")
    assert translation_only.returncode == 1
    assert "does not serve tag-entities; it serves: translate" in translation_only.stderr.decode()


def test_info_lists_every_task(toy_tasks_checkpoint):
    out = nlpcli("info", "-c", toy_tasks_checkpoint).stdout.decode()
    for task in ("translate", "summarize", "answer", "classify-sentiment", "tag-entities"):
        assert f"task         {task}" in out


TASK_COMMANDS = [("summarize", "--beam", "1"), ("classify-sentiment",), ("tag-entities",),
                 ("answer", "--context", "Anna lives in Rome .")]


@pytest.mark.parametrize("command", TASK_COMMANDS, ids=lambda c: c[0])
def test_awkward_input_gives_one_record_per_line_for_every_task(toy_tasks_checkpoint, tmp_path, command):
    long_line = "John runs in Paris " * 50_000  # ~1 MB on one line
    source = tmp_path / "awkward.txt"
    source.write_text(f"a\x00 dog\n{long_line}\n\t\n漢字 Ωμέγα 🙂\n", encoding="utf-8")
    result = nlpcli(*command[:1], "-c", toy_tasks_checkpoint, *command[1:], "-i", source)
    assert result.returncode == 0, result.stderr
    out = lines(result)
    assert len(out) == 4 and out[2] == ""
    if command[0] != "answer":  # an answer's context is read in windows, never cut
        assert f"{source}, line 2: longer than" in result.stderr.decode()


@pytest.mark.parametrize("command", TASK_COMMANDS, ids=lambda c: c[0])
def test_ctrl_c_exits_130_keeping_finished_records_whole_for_every_task(toy_tasks_checkpoint, tmp_path, command):
    code, error, output = interrupt_after_first_chunk([command[0], "-c", toy_tasks_checkpoint, *command[1:]],
                                                      b"John likes Paris .\n", tmp_path / "out.txt")
    assert code == 130 and b"interrupted" in error and b"Traceback" not in error
    records = output.decode().splitlines()
    assert output.endswith(b"\n") and len(records) == 128  # the first chunk (16 x batch size), whole
    assert len(set(records)) == 1 and records[0]  # the same line in gives the same record out


@pytest.mark.parametrize("command", TASK_COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize("args, message", [
    (["-i", "missing.txt"], "input file not found: missing.txt"),
    (["--batch-size", "0"], "--batch-size must be at least 1"),
    (["--device", "cuda"], "no CUDA GPU"),
    (["-o", "no/such/folder/out.txt"], "folder no/such/folder does not exist"),
])
def test_bad_options_are_one_line_and_exit_1_for_every_task(toy_tasks_checkpoint, command, args, message):
    result = nlpcli(*command[:1], "-c", toy_tasks_checkpoint, *command[1:], *args, stdin="a dog\n")
    error = result.stderr.decode()
    assert result.returncode == 1 and message in error and error.count("\n") == 1, error


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                           lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
                           max_leaves=6)


@given(st.lists(st.one_of(st.builds(lambda t: json.dumps({"text": t}), st.text(max_size=15)),
                          json_values.map(json.dumps), st.just("")), min_size=1, max_size=6))
@settings(max_examples=8, deadline=None)
def test_random_jsonl_gives_one_record_per_line_or_an_error_naming_the_line(toy_tasks_checkpoint, records):
    stdin = "".join(r.replace("\n", " ") + "\n" for r in records)
    result = nlpcli("classify-sentiment", "-c", toy_tasks_checkpoint, "--input-format", "jsonl", "--format", "jsonl", stdin=stdin)
    texts = [jsonl_text(r) for r in records]  # None: the line is not a valid record
    if result.returncode == 0:
        out = [json.loads(line) for line in lines(result)]
        assert len(out) == len(records)
    else:
        error = result.stderr.decode()
        assert result.returncode == 1 and "<stdin>, line " in error and error.count("\n") == 1, error
    if None in texts:  # an error, naming the first bad line
        assert result.returncode == 1 and f"<stdin>, line {texts.index(None) + 1}: " in result.stderr.decode()
    else:  # valid input never fails: each record's text, labelled unless blank
        assert result.returncode == 0, result.stderr
        assert [o["text"] for o in out] == texts
        assert [o.get("empty", False) for o in out] == [not t.strip() for t in texts]
        assert all(o["label"] in ("positive", "negative") for o, t in zip(out, texts) if t.strip())


def jsonl_text(line: str) -> str | None:
    """The text of a jsonl input line as the README defines it ('' for a blank line), None if invalid:
    an object whose "text" is a string (or a non-empty list of strings, read joined by spaces)."""
    if not line.strip():
        return ""
    value = json.loads(line)
    text = value.get("text") if isinstance(value, dict) else None
    if isinstance(text, list) and text and all(isinstance(t, str) for t in text):
        return " ".join(text)
    return text if isinstance(text, str) else None
