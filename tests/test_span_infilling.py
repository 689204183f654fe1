"""Span infilling ([span_infilling] in a recipe): a share of a task's training
steps hides spans of that batch's texts and trains the decoder to restore them
(T5's span corruption), so the tasks read off the encoder train it on their own
texts through the decoder too."""
import json

import pytest
import torch

from conftest import write_toy_task_data, write_toy_tasks_recipe
from nlpcli.errors import RecipeError
from nlpcli.training.objectives import NOISE_DENSITY, mask_spans
from nlpcli.training.recipe import load_recipe
from nlpcli.training.trainer import Trainer

PAD, BOS, EOS, MASK, TASK_TOKEN = 0, 1, 2, 3, 4


def restored(source: list[int], target: list[int]) -> list[int]:
    """The original row: each mask of ``source`` replaced by its span from ``target``."""
    spans, span = [], None
    for token in target[1:]:
        if token == MASK:
            span = []
            spans.append(span)
        elif token == EOS:
            break
        else:
            span.append(token)
    row, spans = [], iter(spans)
    for token in source:
        row += next(spans) if token == MASK else [token]
    return row


def test_hidden_spans_are_text_pieces_that_the_target_restores_in_order():
    torch.manual_seed(0)
    droppable = torch.ones(40, dtype=torch.bool)
    droppable[[PAD, BOS, EOS, MASK, TASK_TOKEN]] = False
    rows = [[TASK_TOKEN] + [5 + (i * 7 + r) % 35 for i in range(length)] + [EOS]
            for r, length in enumerate([30, 12, 3, 1])]
    src = torch.full((len(rows), 32), PAD)
    for r, row in enumerate(rows):
        src[r, : len(row)] = torch.tensor(row)

    sources, targets = mask_spans(src, droppable, MASK, BOS, EOS, PAD)
    hidden_total = text_total = 0
    for row, source, target in zip(rows, sources.tolist(), targets.tolist()):
        source = [t for t in source if t != PAD]
        target = [t for t in target if t != PAD]
        assert source[0] == TASK_TOKEN and source[-1] == EOS  # the task token and </s> stay
        assert target[0] == BOS and target[-1] == EOS and target[1] == MASK
        assert source.count(MASK) == target.count(MASK) >= 1  # every row hides at least one span
        assert restored(source, target) == row
        hidden_total += len(target) - 2 - target.count(MASK)
        text_total += len(row) - 2
    assert 0.5 * NOISE_DENSITY < hidden_total / text_total < 3 * NOISE_DENSITY


def test_infilling_steps_take_the_tasks_batch_and_train_the_decoder(tmp_path, toy_data):
    write_toy_task_data(toy_data)
    recipe = load_recipe(write_toy_tasks_recipe(tmp_path, steps=30),
                         ["span_infilling.classify-sentiment=0.6", "mix.classify-sentiment=1", "mix.translate=0",
                          "mix.summarize=0", "mix.answer=0", "mix.tag-entities=0"])
    trainer = Trainer(recipe, toy_data, tmp_path / "run")
    tokenizer = trainer.tokenizer

    drawn = [trainer.infilling_step("classify-sentiment") for trainer.step in range(400)]
    assert drawn == [trainer.infilling_step("classify-sentiment") for trainer.step in range(400)]  # seeded by the step
    assert 0.5 < sum(drawn) / len(drawn) < 0.7
    assert not any(trainer.infilling_step("tag-entities") for trainer.step in range(50))
    trainer.step = 0

    seen, task_loss = [], trainer.trainable

    def record(task, src, tgt, infilling):
        seen.append((src, tgt, infilling))
        return task_loss(task, src, tgt, infilling)

    trainer.trainable = record
    decoder = next(trainer.model.decoder.layers.parameters())
    trainer.train_step("classify-sentiment", infilling=True)
    [(src, tgt, infilling)] = seen
    assert infilling and src.eq(tokenizer.unk_id).any()
    assert tgt[:, 0].eq(tokenizer.bos_id).all() and tgt[:, 1].eq(tokenizer.unk_id).all()
    assert decoder.grad is not None and decoder.grad.abs().sum() > 0  # a sentiment step that trains the decoder

    trainer.optimizer.zero_grad(set_to_none=True)
    trainer.train_step("classify-sentiment")
    assert not seen[-1][2] and seen[-1][1].size(1) == 1  # a plain step: the sentence labels
    assert decoder.grad is None

    trainer.trainable = task_loss
    trainer.train()
    logged = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = {task for event in logged if "task_loss" in event for task in event["task_loss"]}
    assert losses == {"classify-sentiment", "classify-sentiment infilling"}


@pytest.mark.parametrize("override, message", [
    ("span_infilling.nope=0.1", "unknown recipe key span_infilling.nope"),
    ("span_infilling.answer=1.0", "span_infilling.answer: expected a chance in \\[0, 1\\)"),
])
def test_bad_span_infilling_is_refused_naming_the_key(tmp_path, override, message):
    with pytest.raises(RecipeError, match=message):
        load_recipe(write_toy_tasks_recipe(tmp_path, steps=10), [override])
