"""The task registry: order, the Task interface as training reads it, plugins."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from nlpcli.errors import RecipeError
from nlpcli.model import ModelConfig
from nlpcli.tasks import ENTITY_TAGS, SENTIMENT_LABELS, TASK_TOKENS, TASKS, DecoderTask, get_task, register
from nlpcli.training.recipe import load_recipe
from nlpcli.training.trainer import special_tokens, with_task_heads

ROOT = Path(__file__).resolve().parent.parent
BUILT_IN = ["translate", "summarize", "answer", "classify-sentiment", "tag-entities"]


def test_the_registry_holds_the_five_tasks_in_training_order():
    assert list(TASKS) == BUILT_IN
    assert all(TASKS[name].name == name for name in TASKS)
    assert TASK_TOKENS == {"summarize": "<summarize>", "answer": "<answer>", "classify-sentiment": "<sentiment>",
                           "tag-entities": "<entities>"}
    with pytest.raises(KeyError, match="unknown task 'parse'.*known: translate, summarize, answer"):
        get_task("parse")


def test_release_1_recipe_gives_release_1_config_entries_and_tokens():
    recipe = load_recipe(ROOT / "recipes" / "nlpcli-base.toml")
    shipped = json.loads((ROOT / "checkpoints" / "nlpcli-base" / "config.json").read_text())
    assert recipe.tasks == BUILT_IN
    assert {task: TASKS[task].served(recipe) for task in recipe.tasks} == shipped["tasks"]
    assert special_tokens(recipe) == ["<2en>", "<2de>", "<summarize>", "<answer>", "<sentiment>", "<entities>"]


def test_output_layers_follow_the_trained_tasks():
    config = with_task_heads(ModelConfig(entity_crf=True), ["translate", "answer"])
    assert (config.sentiment_labels, config.entity_tags, config.entity_crf, config.answer_spans) == (0, 0, False, True)
    config = with_task_heads(ModelConfig(entity_crf=True), BUILT_IN)
    assert (config.sentiment_labels, config.entity_tags, config.entity_crf, config.answer_spans) == \
        (len(SENTIMENT_LABELS), len(ENTITY_TAGS), True, True)


class Echo(DecoderTask):
    """A plugin task for the registry test: the decoder repeats its input."""

    name = "echo"
    token = "<echo>"
    formats = {"echo-lines": lambda spec, path: []}


def test_a_registered_task_trains_from_recipes_after_the_built_in_ones(tmp_path, monkeypatch):
    recipe_text = """
[[data.train]]
name = "echoes"
task = "echo"
format = "echo-lines"
path = "echo.txt"
[[data.train]]
name = "pairs"
path = "pairs"
languages = ["en", "de"]
directions = ["en-de"]
"""
    (tmp_path / "echo.toml").write_text(recipe_text)
    with pytest.raises(RecipeError, match="unknown task 'echo'"):
        load_recipe(tmp_path / "echo.toml")
    monkeypatch.setitem(TASKS, "echo", Echo())  # what register() does, undone after the test
    assert register(TASKS["echo"]) is TASKS["echo"] and list(TASKS)[-1] == "echo"
    recipe = load_recipe(tmp_path / "echo.toml", ["mix.echo=2"])
    assert recipe.tasks == ["translate", "echo"] and recipe.mix == {"echo": 2.0}
    assert special_tokens(recipe) == ["<2en>", "<2de>", "<echo>"]
    assert TASKS["echo"].served(recipe) == {"window": recipe.train.max_length}


def test_no_module_outside_the_tasks_compares_task_names():
    name = "|".join(re.escape(task) for task in BUILT_IN)
    comparison = re.compile(rf'(==|!=|\bin)\s*\(?"({name})"|"({name})"\s*(==|!=|\bin\b)')
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
             for path in sorted((ROOT / "nlpcli").rglob("*.py"))
             if "tasks" not in path.relative_to(ROOT / "nlpcli").parts[:1]
             for number, line in enumerate(path.read_text().splitlines(), start=1) if comparison.search(line)]
    assert found == []


def test_summarize_through_the_task_interface_gives_release_1_summaries():
    from nlpcli.checkpoint import load_checkpoint
    from nlpcli.decoding import Constraints, GenerationSettings

    task = TASKS["summarize"]
    runner = task.runner(load_checkpoint(ROOT / "checkpoints" / "nlpcli-base"), "cpu")
    documents = ["The central bank raised interest rates by half a point on Tuesday, citing inflation in Britain.", " ",
                 "Shares of Siemens rose 5 percent after the company reported record profit."]
    results, cut = task.run(runner, documents, GenerationSettings(beam=4, max_len=48, constraints=Constraints(no_repeat_ngram=3)))
    # the values tests/test_release1_outputs.py holds, printed by the code of commit afefae5
    assert [[s.text, round(s.score, 4)] for s in results if s] == [["u.k. interest rates inflation rates, citing", -17.1388],
                                                                  ["u.s. corp <dds> sets record", -23.4247]]
    assert results[1] is None and cut == [False, False, False] and runner.window == 192
    assert task.output_lines(documents[1], None, "jsonl") == ['{"document": " ", "summary": "", "score": null, "empty": true}']
    record = json.loads(task.output_lines(documents[0], results[0], "jsonl")[0])
    assert list(record) == ["document", "summary", "score", "tokens", "token_probs"] and record["tokens"][-1] == "</s>"


def test_sentiment_through_the_task_interface_gives_release_1_labels():
    from nlpcli.checkpoint import load_checkpoint
    from nlpcli.decoding import GenerationSettings

    task = TASKS["classify-sentiment"]
    runner = task.runner(load_checkpoint(ROOT / "checkpoints" / "nlpcli-base"), "cpu")
    results, cut = task.run(runner, ["Not bad at all.", "", "An absolute joy, I laughed from start to finish."],
                            GenerationSettings(batch_size=2))
    assert [[s.label, s.score] for s in results if s] == [["negative", 0.9939], ["positive", 0.6315]]  # release 1's
    assert results[1] is None and cut == [False] * 3
    assert task.output_lines("Not bad at all.", results[0], "text") == ["negative\t0.9939"]
    assert task.attention(runner, "Not bad at all.", results[0]).kind == "sentiment pooling attention"


def test_entities_through_the_task_interface_give_release_1_entities():
    from nlpcli.checkpoint import load_checkpoint
    from nlpcli.decoding import GenerationSettings

    task = TASKS["tag-entities"]
    runner = task.runner(load_checkpoint(ROOT / "checkpoints" / "nlpcli-base"), "cpu")
    text = "Apple is looking at buying U.K. startup for $1 billion, Tim Cook told Reuters in Cupertino on Monday."
    results, cut = task.run(runner, [text, "  "], GenerationSettings(batch_size=2))
    assert [[e.text, e.type, e.start, e.end, e.score] for e in results[0][0]] == [  # release 1's
        ["Apple", "ORG", 0, 5, 0.9129], ["U.K.", "LOC", 27, 31, 0.9145], ["Tim Cook", "ORG", 56, 64, 0.5123],
        ["Reuters", "ORG", 70, 77, 0.9725], ["Cupertino", "MISC", 81, 90, 0.0032]]
    assert results[1] is None and cut == [False, False]
    assert task.output_lines(text, results[0], "text") == [
        "[ORG Apple] is looking at buying [LOC U.K.] startup for $1 billion, [ORG Tim Cook] told [ORG Reuters] in "
        "[MISC Cupertino] on Monday."]
    assert task.output_lines("  ", None, "jsonl") == ['{"text": "  ", "entities": [], "empty": true}']
    assert task.attention(runner, text, results[0]).rows == ["ORG Apple", "LOC U.K.", "ORG Tim Cook", "ORG Reuters", "MISC Cupertino"]
    assert task.attention(runner, "  ", None) is None
