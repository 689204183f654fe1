"""recipes/evaluate.py scores the summary dev sets with the real commands; AESLC's
emails are scored against both of their references from one set of summaries."""
import importlib.util
import json
import types
from pathlib import Path

RECIPE = Path(__file__).resolve().parent.parent / "recipes" / "evaluate.py"


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_aeslc_is_scored_against_its_annotations_and_its_subject_lines_from_one_set_of_summaries(
        toy_tasks_checkpoint, tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("evaluate_recipe", RECIPE)
    evaluate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(evaluate)

    data = tmp_path / "data"
    emails = ["John sent the report. Mary reads it today.", "The meeting moves to Monday. Please come."]
    # each subject line is the email's first sentence, so the lead baseline matches it exactly;
    # the annotations share no word with it
    write_jsonl(data / "summarize/aeslc/dev.jsonl", [{"email": email, "subject": email.split(".")[0] + ".",
                                                     "annotations": ["quarterly budget", "budget", "money"]} for email in emails])
    write_jsonl(data / "summarize/reuters21578-headlines/dev.jsonl", [{"document": "Oil prices rose.", "summary": "OIL RISES"}])
    write_jsonl(data / "summarize/bbc-news-summary/dev.jsonl", [{"document": "The team won the cup.", "title": "Cup win"}])

    commands = []
    run = evaluate.run
    monkeypatch.setattr(evaluate, "run", lambda command: commands.append(command) or run(command))
    args = types.SimpleNamespace(data=str(data), checkpoint=str(toy_tasks_checkpoint), beam="2", precision=[])
    work = tmp_path / "work"
    work.mkdir()
    scores = evaluate.evaluate_summaries(args, work)

    assert set(scores) == {"aeslc-dev", "aeslc-dev-subject", "reuters-headlines-dev", "bbc-headlines-dev"}
    summarized = [command for command in commands if command[1] == "summarize"]
    assert len(summarized) == 3  # the AESLC emails once for both of their references, and the two other sets
    assert scores["aeslc-dev-subject"]["lead_sentence"]["rougeL"] == 100.0
    assert scores["aeslc-dev"]["lead_sentence"]["rougeL"] == 0.0
    assert scores["aeslc-dev"]["documents"] == scores["aeslc-dev-subject"]["documents"] == 2
