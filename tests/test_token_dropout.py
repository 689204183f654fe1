"""Token dropout ([token_dropout] in a recipe): a task's training inputs have
text pieces replaced by <unk>; special tokens, </s>, padding and the other tasks'
inputs are left alone."""
import pytest
import torch

from conftest import write_toy_task_data, write_toy_tasks_recipe
from nlpcli.errors import RecipeError
from nlpcli.tasks import TASKS
from nlpcli.training.recipe import load_recipe
from nlpcli.training.trainer import Trainer


def sources_of_a_step(trainer: Trainer, task: str) -> list[torch.Tensor]:
    """The encoder inputs one training step of ``task`` feeds the model."""
    seen = []

    def record(step_task, src, tgt, infilling):
        seen.append(src.clone())
        return torch.zeros((), requires_grad=True)

    trainer.trainable = record
    trainer.train_step(task)
    return seen


def test_token_dropout_hides_text_pieces_of_its_task_only(tmp_path, toy_data):
    write_toy_task_data(toy_data)
    recipe = load_recipe(write_toy_tasks_recipe(tmp_path, steps=10), ["token_dropout.classify-sentiment=0.5"])
    trainer = Trainer(recipe, toy_data, tmp_path / "run")
    tokenizer = trainer.tokenizer
    special = set(tokenizer.special_ids())
    assert {0, 1, 2, 3, tokenizer.token_id(TASKS["classify-sentiment"].token)} <= special

    # the same batch with and without dropout: the task's stream position is rewound in between
    position = list(trainer.positions["classify-sentiment"])
    [dropped] = sources_of_a_step(trainer, "classify-sentiment")
    trainer.positions["classify-sentiment"] = position
    trainer.recipe.token_dropout = {}
    [clean] = sources_of_a_step(trainer, "classify-sentiment")
    assert dropped.shape == clean.shape
    changed = dropped.ne(clean)
    assert (dropped[changed] == tokenizer.unk_id).all()
    text = torch.tensor([[int(i) not in special for i in row] for row in clean])
    assert not changed[~text].any()  # task token, </s> and padding stay
    assert 0.35 < changed[text].float().mean() < 0.65  # about half the text pieces are hidden

    trainer.recipe.token_dropout = {"classify-sentiment": 0.5}
    for src in sources_of_a_step(trainer, "tag-entities"):
        assert not src.eq(tokenizer.unk_id).any()


@pytest.mark.parametrize("override, message", [
    ("token_dropout.nope=0.1", "unknown recipe key token_dropout.nope"),
    ("token_dropout.tag-entities=1.0", "token_dropout.tag-entities: expected a chance in \\[0, 1\\)"),
    ('token_dropout.tag-entities="lots"', "token_dropout.tag-entities: expected float"),
])
def test_bad_token_dropout_is_refused_naming_the_key(tmp_path, override, message):
    with pytest.raises(RecipeError, match=message):
        load_recipe(write_toy_tasks_recipe(tmp_path, steps=10), [override])
