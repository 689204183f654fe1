"""Every opt-in model feature switched on from the recipe trains end to end,
is recorded in the checkpoint and used by the task commands."""
import json

import torch

from conftest import write_toy_data, write_toy_task_data, write_toy_tasks_recipe

FEATURES = ["model.copy_attention=true", "model.question_match=true", "model.answer_end_given_start=true",
            "model.answer_no_answer_windows=true", "model.word_shapes=true"]


def test_a_run_with_every_feature_on_trains_and_serves(tmp_path):
    from nlpcli.checkpoint import load_checkpoint
    from nlpcli.decoding import GenerationSettings
    from nlpcli.tasks.answer import QuestionAnswerer, answer_attention
    from nlpcli.tasks.entities import EntityTagger
    from nlpcli.tasks.summarize import Summarizer
    from nlpcli.training.recipe import load_recipe
    from nlpcli.training.trainer import Trainer

    data = write_toy_task_data(write_toy_data(tmp_path / "data", n_train=300, n_dev=10))
    recipe = load_recipe(write_toy_tasks_recipe(tmp_path, steps=20), FEATURES)
    checkpoint = Trainer(recipe, data, tmp_path / "run").train()

    model_config = json.loads((checkpoint / "config.json").read_text())["model"]
    assert all(model_config[key.split(".")[1].split("=")[0]] is True for key in FEATURES)
    loaded = load_checkpoint(checkpoint)
    names = set(loaded.model.state_dict())
    assert {"copy_generator.gate.weight", "question_match_embedding.weight", "span_end_given_start.score.weight",
            "word_shape_embedding.weight"} <= names
    # training moved the new parameters away from their no-op start
    assert loaded.model.question_match_embedding.weight[1].abs().sum() > 0
    assert loaded.model.word_shape_embedding.weight[1:].abs().sum() > 0
    assert loaded.model.span_end_given_start.score.weight.abs().sum() > 0
    assert loaded.model.copy_generator.gate.weight.abs().sum() > 0

    torch.set_num_threads(1)
    summaries, _ = Summarizer(loaded.model, loaded.tokenizer).summarize(["a man runs in the park"], GenerationSettings(beam=2, max_len=5))
    assert summaries[0] is not None
    context = "John lives in Paris . John works at Google ."
    [answer] = QuestionAnswerer(loaded.model, loaded.tokenizer).answer([("Where does John live ?", context)])
    assert answer is not None and answer.text in context
    tagged, _ = EntityTagger(loaded.model, loaded.tokenizer).tag_words([["John", "lives", "in", "Paris"]])
    assert len(tagged[0]) == 4
    # the attention maps see the encoder input the task sees, features included
    answerer = QuestionAnswerer(loaded.model, loaded.tokenizer)
    assert answer_attention(answerer, "Where does John live ?", context, answer).rows
    assert EntityTagger(loaded.model, loaded.tokenizer).attention(["John", "lives", "in", "Paris"], ["B-PER", "O", "O", "B-LOC"]).rows

    from nlpcli.runtime import quantize_int8

    int8 = quantize_int8(loaded.model, "cpu")  # --int8: every linear layer of the features quantized too
    [answer] = QuestionAnswerer(int8, loaded.tokenizer).answer([("Where does John live ?", context)])
    assert answer is not None and answer.text in context
    assert Summarizer(int8, loaded.tokenizer).summarize(["a man runs"], GenerationSettings(beam=2, max_len=5))[0][0] is not None
