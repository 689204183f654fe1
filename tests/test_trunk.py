"""Warmup-stable-decay and the trunk: training that adds up across runs and machines."""
import json
import math

import pytest
import torch
from safetensors.torch import load_file

from conftest import write_toy_recipe
from nlpcli.errors import RecipeError
from nlpcli.training import trunk as trunks
from nlpcli.training.recipe import TrainSettings, load_recipe
from nlpcli.training.trainer import Schedule, Trainer

QUIET = ["train.eval_every=1000", "train.save_every=1000", "train.schedule=\"wsd\""]


def test_wsd_schedule_warms_up_holds_and_cools_down_with_a_one_minus_sqrt_shape():
    settings = TrainSettings(max_steps=1000, warmup_steps=100, schedule="wsd", min_lr_ratio=0.1)
    schedule = Schedule.of(settings)
    factors = [schedule.factor(step) for step in range(1000)]
    assert factors[0] == pytest.approx(0.01) and factors[99] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(factors[:99], factors[1:100]))  # linear warmup
    assert set(factors[100:850]) == {1.0}  # constant until the last 15 %
    assert all(a > b for a, b in zip(factors[850:], factors[851:]))  # then strictly down
    for step in (850, 900, 975):
        progress = (step - 850) / 150
        assert factors[step] == pytest.approx(0.1 + 0.9 * (1 - math.sqrt(progress)))
    assert schedule.factor(1000) == pytest.approx(0.1)
    # cosine stays what it was
    cosine = Schedule.of(TrainSettings(max_steps=1000, warmup_steps=100, min_lr_ratio=0.1))
    assert cosine.factor(550) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))


def test_rewarmup_ramps_the_lr_again_from_the_continuation_start():
    schedule = Schedule("wsd", warmup=10, total=500, decay_start=500, min_ratio=0.1, rewarmup_start=200, rewarmup=50)
    assert schedule.factor(200) == pytest.approx(1 / 50)
    assert schedule.factor(224) == pytest.approx(25 / 50)
    assert schedule.factor(249) == pytest.approx(1.0) and schedule.factor(400) == 1.0


def weights(folder):
    return load_file(str(folder / "model.safetensors"))


def test_continuing_the_trunk_equals_one_uninterrupted_run(tmp_path, toy_data):
    recipe_path = write_toy_recipe(tmp_path, steps=1)
    exact = QUIET + ["train.trunk_precision=\"exact\""]
    Trainer(load_recipe(recipe_path, exact), toy_data, tmp_path / "a", trunk=tmp_path / "trunk-a", add_steps=60).train()

    Trainer(load_recipe(recipe_path, exact), toy_data, tmp_path / "b1", trunk=tmp_path / "trunk-b", add_steps=25).train()
    assert trunks.read_state(tmp_path / "trunk-b").step == 25
    later = Trainer(load_recipe(recipe_path, exact), toy_data, tmp_path / "b2", trunk=tmp_path / "trunk-b", add_steps=35)
    assert later.step == 25 and later.optimizer.state  # weights, moments and step came from the trunk
    later.train()

    a, b = weights(tmp_path / "trunk-a"), weights(tmp_path / "trunk-b")
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=0, rtol=0)
    state_a, state_b = trunks.read_state(tmp_path / "trunk-a"), trunks.read_state(tmp_path / "trunk-b")
    assert state_a.step == state_b.step == 60
    assert state_a.positions == state_b.positions and state_a.tokens_seen == state_b.tokens_seen
    assert [(r["from_step"], r["to_step"]) for r in state_b.history] == [(0, 25), (25, 60)]
    assert sum(r["tokens"]["translate"] for r in state_b.history) == state_b.tokens_seen["translate"]
    card = (tmp_path / "trunk-b" / "README.md").read_text()
    assert "| 1 |" in card and "| 2 |" in card and "25–60" in card and "in all: 60 steps" in card
    # each continuation keeps its closing dev scores, which its run folder need not outlive
    end = state_b.history[-1]
    assert end["dev_at_end"]["last step"]["toy-dev.en-de"]["loss"] > 0
    assert end["dev_mean_loss_at_end"]["last step"] == pytest.approx(end["dev_at_end"]["last step"]["toy-dev.en-de"]["loss"])
    assert f"last step {end['dev_mean_loss_at_end']['last step']:.3f}" in card


def test_a_compact_trunk_over_its_size_limit_keeps_weights_only_and_rewarms(tmp_path, toy_data):
    recipe_path = write_toy_recipe(tmp_path, steps=1)
    tiny_limit = QUIET + ["train.trunk_max_mib=0.01", "train.rewarmup_steps=10"]
    Trainer(load_recipe(recipe_path, tiny_limit), toy_data, tmp_path / "a", trunk=tmp_path / "trunk", add_steps=20).train()
    folder = tmp_path / "trunk"
    assert not (folder / trunks.MOMENTS_FILE).exists()
    assert {t.dtype for t in weights(folder).values()} == {torch.float16}
    later = Trainer(load_recipe(recipe_path, tiny_limit), toy_data, tmp_path / "b", trunk=folder, add_steps=20)
    assert not later.optimizer.state and later.schedule.rewarmup == 10 and later.schedule.rewarmup_start == 20
    later.train()
    assert trunks.read_state(folder).history[-1]["fresh_moments"] is True

    roomy = QUIET + ["train.trunk_max_mib=40"]
    Trainer(load_recipe(recipe_path, roomy), toy_data, tmp_path / "c", trunk=tmp_path / "kept", add_steps=5).train()
    moments = load_file(str(tmp_path / "kept" / trunks.MOMENTS_FILE))
    assert {t.dtype for t in moments.values()} == {torch.bfloat16}
    assert any(name.startswith("exp_avg_sq.") for name in moments)


def test_a_trunk_kept_with_moments_can_be_made_weights_only(tmp_path, toy_data):
    recipe_path = write_toy_recipe(tmp_path, steps=1)
    roomy = QUIET + ["train.trunk_max_mib=40"]
    folder = tmp_path / "trunk"
    Trainer(load_recipe(recipe_path, roomy), toy_data, tmp_path / "a", trunk=folder, add_steps=5).train()
    before, state_before = weights(folder), trunks.read_state(folder)
    assert (folder / trunks.MOMENTS_FILE).exists() and "moments kept" in (folder / "README.md").read_text()

    trunks.drop_moments(folder)
    assert not (folder / trunks.MOMENTS_FILE).exists() and "moments not kept" in (folder / "README.md").read_text()
    after = weights(folder)
    for name in before:
        torch.testing.assert_close(after[name], before[name], atol=0, rtol=0)
    state = trunks.read_state(folder)
    assert state.adam_steps == {} and state.step == 5 and state.history == state_before.history
    later = Trainer(load_recipe(recipe_path, roomy), toy_data, tmp_path / "b", trunk=folder, add_steps=5)
    assert not later.optimizer.state and later.schedule.rewarmup_start == 5  # fresh moments, re-warmed


def test_a_release_is_the_trunk_cooled_down_and_counts_every_continuation(tmp_path, toy_data):
    from nlpcli.info import describe

    recipe_path = write_toy_recipe(tmp_path, steps=1)
    Trainer(load_recipe(recipe_path, QUIET), toy_data, tmp_path / "a", trunk=tmp_path / "trunk", add_steps=30).train()
    Trainer(load_recipe(recipe_path, QUIET), toy_data, tmp_path / "b", trunk=tmp_path / "trunk", add_steps=20).train()
    before = weights(tmp_path / "trunk")
    cooled = Trainer(load_recipe(recipe_path, QUIET + ["train.min_lr_ratio=0.0"]), toy_data, tmp_path / "release",
                     trunk=tmp_path / "trunk", cooldown=10)
    assert cooled.schedule.factor(50) == 1.0 and cooled.schedule.factor(59) < 0.35
    checkpoint = cooled.train()
    for name, tensor in weights(tmp_path / "trunk").items():  # the trunk itself is left as it was
        assert torch.equal(tensor, before[name])
    training = describe(checkpoint)["training"]
    assert training["steps"] == 60
    assert [(r["kind"], r["steps"]) for r in training["history"]] == [
        ("continuation", 30), ("continuation", 20), ("cooldown", 10)]
    assert training["totals"]["steps"] == 60
    assert training["totals"]["source_tokens"]["translate"] == training["source_tokens_seen"]["translate"]
    assert training["totals"]["device_hours"]["cpu"] == pytest.approx(
        sum(r["device_hours"] for r in training["history"]), abs=1e-4)
    assert all(r["hardware_kind"] == "cpu" and r["seconds"] >= 0 for r in training["history"])
    events = [json.loads(line) for line in (tmp_path / "release" / "metrics.jsonl").read_text().splitlines()]
    last_lr = [e["lr"] for e in events if "lr" in e][-1]  # step 59: 9/10 of the way down
    assert last_lr == pytest.approx(0.005 * (1 - math.sqrt(0.9)))


def test_trunk_runs_refuse_what_cannot_work(tmp_path, toy_data):
    recipe_path = write_toy_recipe(tmp_path, steps=1)
    with pytest.raises(RecipeError, match="no trunk in"):
        Trainer(load_recipe(recipe_path, QUIET), toy_data, tmp_path / "r", trunk=tmp_path / "none", cooldown=5)
    Trainer(load_recipe(recipe_path, QUIET), toy_data, tmp_path / "a", trunk=tmp_path / "trunk", add_steps=2).train()
    with pytest.raises(RecipeError, match="shape"):
        Trainer(load_recipe(recipe_path, QUIET + ["model.d_model=32"]), toy_data, tmp_path / "b",
                trunk=tmp_path / "trunk", add_steps=2)


def test_a_time_limit_ends_the_run_at_a_step_boundary_and_writes_the_trunk(tmp_path, toy_data):
    recipe_path = write_toy_recipe(tmp_path, steps=1)
    trainer = Trainer(load_recipe(recipe_path, QUIET), toy_data, tmp_path / "a", trunk=tmp_path / "trunk",
                      add_steps=500, time_limit=1e-6)
    trainer.train()
    assert trainer.step == 1 and trunks.read_state(tmp_path / "trunk").step == 1
    with pytest.raises(RecipeError, match="cannot be cut short"):
        Trainer(load_recipe(recipe_path, QUIET), toy_data, tmp_path / "b", trunk=tmp_path / "trunk",
                cooldown=5, time_limit=60)


def test_a_recipe_can_name_an_existing_tokenizer(tmp_path, toy_data, toy_checkpoint):
    recipe_path = write_toy_recipe(tmp_path, steps=1)
    trainer = Trainer(load_recipe(recipe_path, QUIET + [f"tokenizer.file=\"{toy_checkpoint / 'tokenizer.model'}\""]),
                      toy_data, tmp_path / "a")
    assert (tmp_path / "a" / "tokenizer.model").read_bytes() == (toy_checkpoint / "tokenizer.model").read_bytes()
    assert len(trainer.tokenizer) == len(trainer.tokenizer.with_special_tokens(["<2de>", "<2en>"]))
    with pytest.raises(RecipeError, match="tokenizer.file"):
        Trainer(load_recipe(recipe_path, QUIET + ["tokenizer.file=\"missing.model\""]), toy_data, tmp_path / "b")
