"""Data-parallel training: torchrun with 2 gloo processes on the CPU trains
exactly what one process with the same total accumulation trains."""
import json
import os
import socket
import subprocess
import sys

import torch
from safetensors.torch import load_file

from conftest import write_toy_recipe

ENV = {**os.environ, "NO_COLOR": "1", "OMP_NUM_THREADS": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train(tmp_path, toy_data, out, processes: int, *extra):
    common = ["train", str(write_toy_recipe(tmp_path, steps=50)), "--data", str(toy_data), "--out", str(tmp_path / out),
              "--set", "train.accumulation=2", "--set", "train.batch_tokens=300", "--set", "train.eval_every=50",
              "--set", "train.save_every=25", "--threads", "1", *extra]
    if processes == 1:
        command = [sys.executable, "-m", "nlpcli", *common]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}",
                   f"--master_port={free_port()}", "-m", "nlpcli", *common]
    result = subprocess.run(command, capture_output=True, env=ENV, timeout=600)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    return result


def test_two_processes_train_what_one_process_trains(tmp_path, toy_data):
    train(tmp_path, toy_data, "one", 1)
    two = train(tmp_path, toy_data, "two", 2)
    assert two.stderr.decode().count("validation at step 50") == 1  # only rank 0 logs and evaluates
    one_weights = load_file(str(tmp_path / "one" / "state" / "model.safetensors"))
    two_weights = load_file(str(tmp_path / "two" / "state" / "model.safetensors"))
    for name, tensor in one_weights.items():
        assert torch.allclose(tensor, two_weights[name], atol=2e-5), name
    one_log = (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()[0]
    two_log = (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()[0]
    loss = [float(line.split('"loss": ')[1].split(",")[0]) for line in (one_log, two_log)]
    assert abs(loss[0] - loss[1]) < 1e-4
    # each rank trained its share of the micro-batches, not all of them: the same tokens seen in all
    seen = [json.loads((tmp_path / run / "checkpoint" / "config.json").read_text())["training"]["source_tokens_seen"]
            for run in ("one", "two")]
    assert seen[0] == seen[1] and seen[0]["translate"] > 0


def test_a_two_process_run_resumes_and_loads_in_one_process(tmp_path, toy_data):
    from nlpcli.checkpoint import load_checkpoint

    train(tmp_path, toy_data, "two", 2)
    loaded = load_checkpoint(tmp_path / "two" / "checkpoint")
    assert loaded.info.training["steps"] == 50
    resumed = train(tmp_path, toy_data, "two", 1, "--resume", "--steps", "60")
    assert b"resumed" in resumed.stderr
    assert torch.load(tmp_path / "two" / "state" / "trainer.pt", weights_only=True)["step"] == 60


def test_accumulation_must_split_evenly_over_the_processes(tmp_path, toy_data):
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={free_port()}",
               "-m", "nlpcli", "train", str(write_toy_recipe(tmp_path, steps=5)), "--data", str(toy_data),
               "--out", str(tmp_path / "x"), "--set", "train.accumulation=3"]
    result = subprocess.run(command, capture_output=True, env=ENV, timeout=300)
    assert result.returncode != 0
    assert b"train.accumulation = 3 must be a multiple of the number of processes (2)" in result.stderr


def test_a_decision_of_one_rank_is_every_ranks(tmp_path):
    # the time limit stops every rank at the same step even when one rank's clock runs out first
    script = tmp_path / "decide.py"
    script.write_text("import sys\n"
                      "from nlpcli.training.distributed import join_world, leave_world\n"
                      "world, _ = join_world('cpu')\n"
                      "decisions = f'{world.any(world.rank == 1)} {world.any(False)}'\n"
                      "open(f'{sys.argv[1]}/rank-{world.rank}', 'w').write(decisions)\n"
                      "leave_world(world)\n")
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={free_port()}",
               str(script), str(tmp_path)]
    result = subprocess.run(command, capture_output=True, env=ENV, timeout=300)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert [(tmp_path / f"rank-{rank}").read_text() for rank in (0, 1)] == ["True False", "True False"]


def test_a_continuation_records_how_its_processes_were_started(monkeypatch):
    from nlpcli.training.distributed import World, launcher

    assert launcher(World()) == ["nlpcli"]
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert launcher(World(rank=1, size=2, local_rank=1)) == ["torchrun", "--nproc_per_node=2", "-m", "nlpcli"]
    assert launcher(World(rank=0, size=4)) == ["torchrun", "--nnodes=2", "--nproc_per_node=2", "-m", "nlpcli"]
