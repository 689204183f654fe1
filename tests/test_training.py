import json

import pytest
import torch
from safetensors.torch import load_file

from conftest import write_toy_recipe
from nlpcli.errors import RecipeError
from nlpcli.batching import Pool, epoch_batches
from nlpcli.training.recipe import load_recipe
from nlpcli.training.trainer import Trainer


def test_resumed_run_matches_an_uninterrupted_one(tmp_path, toy_data):
    recipe_path = write_toy_recipe(tmp_path, steps=60)
    straight = Trainer(load_recipe(recipe_path, ["train.eval_every=1000", "train.save_every=30"]), toy_data, tmp_path / "a")
    straight.train()

    first = Trainer(load_recipe(recipe_path, ["train.eval_every=1000", "train.save_every=30", "train.max_steps=30"]),
                    toy_data, tmp_path / "b")
    first.train()
    resumed = Trainer(load_recipe(recipe_path, ["train.eval_every=1000", "train.save_every=30"]),
                      toy_data, tmp_path / "b", resume=True)
    assert resumed.step == 30
    resumed.train()
    a = load_file(str(tmp_path / "a" / "state" / "model.safetensors"))
    b = load_file(str(tmp_path / "b" / "state" / "model.safetensors"))
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=1e-6, rtol=1e-5)


def test_a_run_folder_is_not_overwritten_by_accident(tmp_path, toy_data):
    recipe = load_recipe(write_toy_recipe(tmp_path, steps=2), ["train.eval_every=1000"])
    Trainer(recipe, toy_data, tmp_path / "run").train()
    with pytest.raises(RecipeError, match="already holds a run"):
        Trainer(recipe, toy_data, tmp_path / "run")
    (tmp_path / "run" / "leftover.txt").write_text("from the first run")
    before = len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines())
    Trainer(recipe, toy_data, tmp_path / "run", overwrite=True).train()
    # --overwrite replaced the run: nothing of the first one is left, and the log holds the new run only
    assert not (tmp_path / "run" / "leftover.txt").exists()
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == before
    assert torch.load(tmp_path / "run" / "state" / "trainer.pt", weights_only=True)["step"] == 2


def test_training_logs_metrics_and_exports_the_best_checkpoint(toy_checkpoint):
    events = [json.loads(line) for line in (toy_checkpoint.parent / "metrics.jsonl").read_text().splitlines()]
    losses = [e["loss"] for e in events if "loss" in e]
    assert losses[-1] < losses[0] / 3
    validation = [e for e in events if "dev" in e][-1]
    assert validation["dev"]["toy-dev.en-de"]["bleu"] > 60
    config = json.loads((toy_checkpoint / "config.json").read_text())
    assert config["tasks"]["translate"]["directions"] == ["en-de", "de-en"]
    # validated more than once, the exported checkpoint is the validation with the lowest mean dev loss
    validations = [e for e in events if "dev" in e]
    assert len(validations) >= 2
    best = min(validations, key=lambda e: e["mean_loss"])
    assert config["training"]["steps"] == best["step"] and config["training"]["dev_scores_greedy"] == best["dev"]


def test_the_exported_checkpoint_is_the_best_validation_not_the_last(tmp_path, toy_data, monkeypatch):
    """Dev losses scripted to fall, then rise: the checkpoint stays the one of the lowest."""
    recipe = load_recipe(write_toy_recipe(tmp_path, steps=6), ["train.eval_every=2", "train.save_every=2"])
    scripted = iter([3.0, 1.0, 2.0])
    monkeypatch.setattr(Trainer, "dev_loss", lambda self, dev: next(scripted))
    checkpoint = Trainer(recipe, toy_data, tmp_path / "run").train()
    events = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [(e["step"], e["mean_loss"]) for e in events if "dev" in e] == [(2, 3.0), (4, 1.0), (6, 2.0)]
    config = json.loads((checkpoint / "config.json").read_text())
    assert config["training"]["steps"] == 4 and config["training"]["dev_scores_greedy"]["toy-dev.en-de"]["loss"] == 1.0
    final = load_file(str(tmp_path / "run" / "state" / "model.safetensors"))
    exported = load_file(str(checkpoint / "model.safetensors"))
    assert any(not torch.equal(final[name].half(), exported[name]) for name in exported)  # not the last weights


@pytest.mark.parametrize("cpu_has_bf16", [True, False])
def test_cpu_bf16_autocast_only_where_the_cpu_multiplies_bfloat16(tmp_path, toy_data, monkeypatch, capsys, cpu_has_bf16):
    """Emulated bfloat16 is many times slower than float32: without the instructions
    train.cpu_bf16 trains in float32, and says so."""
    monkeypatch.setattr("nlpcli.training.trainer.cpu_has_bf16", lambda: cpu_has_bf16)
    recipe = load_recipe(write_toy_recipe(tmp_path, steps=1), ["train.eval_every=1000", "train.cpu_bf16=true"])
    trainer = Trainer(recipe, toy_data, tmp_path / "run")
    with trainer.autocast():
        product = torch.nn.functional.linear(torch.ones(2, 4), torch.ones(3, 4))
    assert product.dtype == (torch.bfloat16 if cpu_has_bf16 else torch.float32)
    assert ("training in float32" in capsys.readouterr().err) != cpu_has_bf16


def test_batches_respect_the_token_budget_and_are_reproducible():
    pool = Pool("p", [[5] * n for n in range(1, 40)] * 5, [[6] * n for n in range(2, 41)] * 5)
    plan = epoch_batches([pool], batch_tokens=100, seed=1, epoch=0)
    assert sorted(i for batch in plan for _, i in batch) == list(range(len(pool)))
    for batch in plan:
        assert max(len(pool.targets[i]) for _, i in batch) * len(batch) <= 100
    assert plan == epoch_batches([pool], batch_tokens=100, seed=1, epoch=0)
    assert plan != epoch_batches([pool], batch_tokens=100, seed=1, epoch=1)


def test_kill_9_then_resume_reproduces_the_uninterrupted_run(tmp_path, toy_data):
    import os
    import signal
    import subprocess
    import sys
    import time

    recipe = write_toy_recipe(tmp_path, steps=80)
    common = ["--data", str(toy_data), "--set", "train.eval_every=1000", "--set", "train.save_every=10", "--threads", "1"]
    env = {**os.environ, "NO_COLOR": "1"}
    straight = subprocess.run([sys.executable, "-m", "nlpcli", "train", str(recipe), "--out", str(tmp_path / "a"), *common],
                              capture_output=True, env=env)
    assert straight.returncode == 0, straight.stderr

    victim = subprocess.Popen([sys.executable, "-m", "nlpcli", "train", str(recipe), "--out", str(tmp_path / "b"), *common],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 120
    while not (tmp_path / "b" / "state" / "trainer.pt").exists() and time.time() < deadline:
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    saved_step = torch.load(tmp_path / "b" / "state" / "trainer.pt", weights_only=True)["step"]
    assert 10 <= saved_step < 80

    resumed = subprocess.run([sys.executable, "-m", "nlpcli", "train", str(recipe), "--out", str(tmp_path / "b"),
                              "--resume", *common], capture_output=True, env=env)
    assert resumed.returncode == 0, resumed.stderr
    # it continued from the saved step (not from 0), and trained only the steps after it
    assert f"resumed {tmp_path / 'b'} at step {saved_step}\n" in resumed.stderr.decode()
    assert ("step 50/80" in resumed.stderr.decode()) == (saved_step < 50)
    a = load_file(str(tmp_path / "a" / "state" / "model.safetensors"))
    b = load_file(str(tmp_path / "b" / "state" / "model.safetensors"))
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=1e-6, rtol=1e-5)
