"""summarize, answer, classify-sentiment and tag-entities, run as users run them,
on a tiny model trained on toy versions of all five tasks."""
import json

from test_cli import lines, nlpcli


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
