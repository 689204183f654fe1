"""Weight averaging: the EMA itself, and a run that keeps it, scores it and exports the better weights."""
import json

import pytest
import torch
from safetensors.torch import load_file

from conftest import write_toy_recipe
from nlpcli.info import describe, render_info
from nlpcli.training.averaging import WeightAverage
from nlpcli.training.recipe import load_recipe
from nlpcli.training.trainer import Trainer


def set_weights(model, value: float) -> None:
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.fill_(value)


def test_the_average_is_a_plain_mean_up_to_its_horizon_then_an_ema():
    model = torch.nn.Linear(3, 2)
    set_weights(model, 0.0)
    average = WeightAverage(model, decay=0.75)  # horizon 4 steps
    for step, value in enumerate([4.0, 8.0, 0.0, 4.0], start=1):
        set_weights(model, value)
        average.update(model, step)
    assert torch.all(average.average["weight"] == 4.0)  # (4 + 8 + 0 + 4) / 4: the starting weights are not counted
    set_weights(model, 8.0)
    average.update(model, 5)
    assert torch.all(average.average["weight"] == 0.75 * 4.0 + 0.25 * 8.0)
    assert average.describe() == "EMA of 5 steps from step 1 (decay 0.75, horizon 4 steps)"
    with pytest.raises(ValueError, match="strictly between"):
        WeightAverage(model, decay=1.0)


def test_applied_averages_are_in_the_model_only_inside_the_block():
    model = torch.nn.Linear(3, 2)
    average = WeightAverage(model, decay=0.9)
    set_weights(model, 2.0)
    average.update(model, 1)
    set_weights(model, 6.0)
    average.update(model, 2)
    with average.applied(model) as inside:
        assert torch.all(inside.weight == 4.0)
    assert torch.all(model.weight == 6.0) and torch.all(model.bias == 6.0)


QUIET = ["train.eval_every=1000", "train.save_every=1000"]


def test_a_run_with_an_average_scores_both_and_exports_the_better(tmp_path, toy_data, monkeypatch):
    """Dev losses scripted so that the averaged weights score better: the checkpoint holds them."""
    def scripted_dev_loss(self, dev):
        first = next(iter(self.average.average))
        holds_average = torch.equal(dict(self.model.named_parameters())[first].float(), self.average.average[first])
        return 1.0 if holds_average else 2.0

    monkeypatch.setattr(Trainer, "dev_loss", scripted_dev_loss)
    recipe = load_recipe(write_toy_recipe(tmp_path, steps=20), QUIET + ["train.average_decay=0.9"])
    trainer = Trainer(recipe, toy_data, tmp_path / "run")
    checkpoint = trainer.train()
    [event] = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
               if "dev" in line]
    assert event["mean_loss"] == 2.0 and event["mean_loss_averaged"] == 1.0
    config = json.loads((checkpoint / "config.json").read_text())
    assert config["training"]["weights"] == "EMA of 20 steps from step 1 (decay 0.9, horizon 10 steps)"
    assert "weights    EMA of 20 steps from step 1" in render_info(describe(checkpoint))  # nlpcli info says so
    exported = load_file(str(checkpoint / "model.safetensors"))
    averaged = trainer.average.average
    assert any(name in averaged for name in exported)
    for name in exported:
        if name in averaged:
            torch.testing.assert_close(exported[name], averaged[name].to(exported[name].dtype), atol=0, rtol=0)
    last = load_file(str(tmp_path / "run" / "state" / "model.safetensors"))  # the run itself goes on from its own weights
    assert all(torch.equal(last[name], p.detach()) for name, p in trainer.model.named_parameters() if name in last)


def test_a_resumed_run_goes_on_averaging_where_it_stopped(tmp_path, toy_data):
    recipe_path = write_toy_recipe(tmp_path, steps=40)
    averaged = ["train.eval_every=1000", "train.save_every=20", "train.average_decay=0.95"]
    straight = Trainer(load_recipe(recipe_path, averaged), toy_data, tmp_path / "a")
    straight.train()
    Trainer(load_recipe(recipe_path, averaged + ["train.max_steps=20"]), toy_data, tmp_path / "b").train()
    resumed = Trainer(load_recipe(recipe_path, averaged), toy_data, tmp_path / "b", resume=True)
    assert resumed.average.updates == 20 and resumed.average.first_step == 1
    resumed.train()
    assert resumed.average.updates == straight.average.updates == 40
    for name, tensor in straight.average.average.items():
        torch.testing.assert_close(resumed.average.average[name], tensor, atol=1e-6, rtol=1e-5)


def test_a_cooled_release_holds_the_average_only_where_it_scores_better(tmp_path, toy_data, monkeypatch):
    recipe_path = write_toy_recipe(tmp_path, steps=1)
    wsd = QUIET + ["train.schedule=\"wsd\"", "train.average_decay=0.9"]
    Trainer(load_recipe(recipe_path, wsd), toy_data, tmp_path / "a", trunk=tmp_path / "trunk", add_steps=20).train()
    for average_scores_better, weights in [(False, None), (True, "EMA of 10 steps from step 21 (decay 0.9, horizon 10 steps)")]:
        def scripted_dev_loss(self, dev):
            first = next(iter(self.average.average))
            holds_average = torch.equal(dict(self.model.named_parameters())[first].float(), self.average.average[first])
            return 1.0 if holds_average == average_scores_better else 2.0

        monkeypatch.setattr(Trainer, "dev_loss", scripted_dev_loss)
        release = Trainer(load_recipe(recipe_path, wsd), toy_data, tmp_path / f"release-{average_scores_better}",
                          trunk=tmp_path / "trunk", cooldown=10)
        config = json.loads((release.train() / "config.json").read_text())
        assert config["training"]["steps"] == 30 and config["training"].get("weights") == weights


def run_record(name: str, steps: int, hours: float) -> dict:
    return {"kind": "cooldown", "command": f"nlpcli train {name}", "steps": steps, "seconds": 10, "hardware_kind": "cpu",
            "device_hours": hours, "tokens": {"translate": 100 * steps}}


@pytest.fixture
def two_cooldowns(tmp_path, tiny_model):
    """Two checkpoints of one lineage: a shared trunk run, then each its own cooldown; the first one
    carries what a release records on its own weights (scores, a temperature, a compute dtype)."""
    from nlpcli.checkpoint import CheckpointInfo, save_checkpoint
    from nlpcli.model import Seq2SeqTransformer
    from nlpcli.tokenizer import Tokenizer

    tokenizer = Tokenizer.train(["a b c d e f g h"] * 20, vocab_size=300)
    tiny_model.config.vocab_size = len(tokenizer)
    trunk = run_record("trunk", 100, 1.0)
    folders, models = [], []
    for seed, cooldown in ((0, run_record("cool-a", 10, 0.5)), (1, run_record("cool-b", 20, 0.25))):
        torch.manual_seed(seed)
        models.append(Seq2SeqTransformer(tiny_model.config).eval())
        info = CheckpointInfo(tasks={"translate": {"directions": ["en-de"], "compute_dtype": "bfloat16"}},
                              training={"recipe": "toy", "steps": 100 + cooldown["steps"], "history": [trunk, cooldown]},
                              dtype="float32")
        folders.append(tmp_path / f"cool-{seed}")
        save_checkpoint(folders[-1], models[-1], tokenizer, info)
    config_path = folders[0] / "config.json"
    config = json.loads(config_path.read_text())
    config["model"]["sentiment_temperature"] = 2.0
    config["evaluation"] = {"multi30k-val.en-de": {"bleu": 40.0}}
    config_path.write_text(json.dumps(config))
    return folders, models


def test_an_average_of_checkpoints_is_their_weighted_mean_and_counts_every_run_behind_it_once(two_cooldowns, tmp_path):
    from nlpcli.checkpoint import load_checkpoint
    from nlpcli.training.averaging import average_checkpoints

    (first, second), (model_a, model_b) = two_cooldowns
    average_checkpoints([first, second], [3.0, 1.0], tmp_path / "soup", command="average a b")
    soup = load_checkpoint(tmp_path / "soup")
    a, b = model_a.state_dict(), model_b.state_dict()
    for name, tensor in soup.model.state_dict().items():
        torch.testing.assert_close(tensor, 0.75 * a[name] + 0.25 * b[name])
    assert soup.info.compute_dtype("translate") == "float32"  # bfloat16 was measured on the first one's weights only
    assert soup.model.config.sentiment_temperature == 1.0
    config = describe(tmp_path / "soup")
    assert config["evaluation"] == {}
    training = json.loads((tmp_path / "soup" / "config.json").read_text())["training"]
    assert [r["command"] for r in training["history"]] == ["nlpcli train trunk", "nlpcli train cool-b", "nlpcli train cool-a",
                                                           "average a b"]
    assert training["totals"]["steps"] == 130 and training["totals"]["device_hours"] == {"cpu": 1.75}
    assert training["totals"]["source_tokens"] == {"translate": 13000}
    shown = render_info(config)
    assert "weighted mean of" in shown and "130 steps in 4 runs" in shown


def test_checkpoints_of_another_shape_or_tokenizer_do_not_average(two_cooldowns, tmp_path):
    import shutil
    import subprocess
    import sys

    from nlpcli.errors import CheckpointError
    from nlpcli.training.averaging import average_checkpoints

    (first, second), _ = two_cooldowns
    other = tmp_path / "other-shape"
    shutil.copytree(second, other)
    config = json.loads((other / "config.json").read_text())
    config["model"]["decoder_layers"] = 1
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="another model shape"):
        average_checkpoints([first, other], [1.0, 1.0], tmp_path / "soup", command="")
    shutil.copyfile("checkpoints/nlpcli-base/tokenizer.model", second / "tokenizer.model")
    with pytest.raises(CheckpointError, match="another tokenizer"):
        average_checkpoints([first, second], [1.0, 1.0], tmp_path / "soup", command="")
    assert not (tmp_path / "soup").exists()
    done = subprocess.run([sys.executable, "recipes/average.py", str(first), "--out", str(tmp_path / "soup")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 1 and done.stderr == "average: give two or more checkpoints and one positive weight for each\n"
