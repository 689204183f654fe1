"""Weight averaging: an exponential moving average (EMA) of the weights along a run.

At a constant learning rate the weights keep jumping around the minimum they
circle; an average of the recent steps sits nearer its middle. Measured on the
release-2 trunk (docs/release-2.md): the mean of its last 10 states, 100 steps
apart, had a mean dev loss of 2.509 against 2.565 at the last step. An EMA gets
that with one copy of the weights and without knowing where a run will stop,
which a trunk continuation cut off by ``--max-time`` does not know.

The first updates are a plain mean of every step so far (decay 1 - 1/n at the
n-th update), so a short run is not held at its first weights; once n reaches
the horizon 1 / (1 - decay), the decay stays at ``decay``.

``average_checkpoints`` averages finished checkpoints instead (a "model soup",
Wortsman et al. 2022): two cooldowns of one trunk lineage end in the same basin,
so their mean is a model too, and one that averages away each cooldown's own
noise (docs/release-2.md, "Candidate 24").
"""
from __future__ import annotations

import json
import shutil
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import torch

from nlpcli.checkpoint import (
    CARD_FILE,
    CONFIG_FILE,
    FORMAT_NAME,
    TOKENIZER_FILE,
    WEIGHTS_FILE,
    read_config,
    write_atomically,
)
from nlpcli.errors import CheckpointError
from nlpcli.model import ModelConfig
from nlpcli.tasks import TASKS, EncoderTask
from nlpcli.training.trunk import totals


class WeightAverage:
    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        if not 0 < decay < 1:
            raise ValueError(f"an EMA decay lies strictly between 0 and 1, not {decay}")
        self.decay, self.updates, self.first_step = decay, 0, None
        self.average = {name: p.detach().float().clone() for name, p in model.named_parameters()}

    @property
    def horizon(self) -> int:
        return round(1 / (1 - self.decay))

    def describe(self) -> str:
        """What the averaged weights are, for the checkpoint's training record."""
        return f"EMA of {self.updates} steps from step {self.first_step} (decay {self.decay}, horizon {self.horizon} steps)"

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        """Fold in the weights after training step ``step``."""
        self.updates += 1
        self.first_step = step if self.first_step is None else self.first_step
        weight_of_new = max(1 - self.decay, 1 / self.updates)
        for name, parameter in model.named_parameters():
            self.average[name].lerp_(parameter.detach().float(), weight_of_new)

    @contextmanager
    def applied(self, model: torch.nn.Module):
        """The model holds the averaged weights inside the block and its own after it."""
        own = {name: p.detach().clone() for name, p in model.named_parameters()}
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                parameter.copy_(self.average[name])
        try:
            yield model
        finally:
            with torch.no_grad():
                for name, parameter in model.named_parameters():
                    parameter.copy_(own[name])

    def save(self, path: Path) -> None:
        """The averaged weights and their counters in one file of a run's saved state,
        so that a resumed run goes on averaging where it stopped."""
        from safetensors.torch import save_file

        save_file({name: tensor.contiguous() for name, tensor in self.average.items()}, str(path),
                  metadata={"updates": str(self.updates), "first_step": str(self.first_step)})

    def load(self, path: Path, device: str) -> None:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt", device=device) as saved:
            for name in saved.keys():
                self.average[name].copy_(saved.get_tensor(name))
            counters = saved.metadata()
        self.updates, self.first_step = int(counters["updates"]), int(counters["first_step"])


def average_checkpoints(folders: list[Path], weights: list[float], out: Path, command: str) -> dict:
    """Write to ``out`` the checkpoint whose every weight is the weighted mean of ``folders``' weights
    (computed in float32, stored in the first one's dtype); returns its config.

    The checkpoints must share shape and tokenizer. The config is the first one's, less what was measured
    on its own weights (dev scores, calibration temperatures, the compute dtype they were scored in), which
    the average has to earn again (recipes/calibrate.py, recipes/evaluate.py --record). Its training history
    is every run that led to any of them, each once (the first one's last), then the average itself, so its
    totals count all the compute the weights stand on."""
    from safetensors.torch import load_file, save_file

    folders = [Path(folder) for folder in folders]
    if len(folders) < 2 or len(weights) != len(folders) or any(w <= 0 for w in weights):
        raise ValueError("give two or more checkpoints and one positive weight for each")
    configs = [read_config(folder) for folder in folders]
    first = folders[0]
    for folder, config in zip(folders[1:], configs[1:]):
        if _shape(config) != _shape(configs[0]):
            raise CheckpointError(f"{folder} has another model shape than {first}; only checkpoints of one lineage average")
        if (folder / TOKENIZER_FILE).read_bytes() != (first / TOKENIZER_FILE).read_bytes():
            raise CheckpointError(f"{folder} has another tokenizer than {first}")
    states = [load_file(str(folder / WEIGHTS_FILE)) for folder in folders]
    for folder, state in zip(folders[1:], states[1:]):
        if {k: v.shape for k, v in state.items()} != {k: v.shape for k, v in states[0].items()}:
            raise CheckpointError(f"{folder / WEIGHTS_FILE} does not hold the same tensors as {first / WEIGHTS_FILE}")
    share = [w / sum(weights) for w in weights]
    averaged = {name: sum(s * state[name].float() for s, state in zip(share, states)).to(tensor.dtype).contiguous()
                for name, tensor in states[0].items()}

    config = json.loads(json.dumps(configs[0]))  # a deep copy
    config.pop("evaluation", None)
    config.pop("calibration", None)
    for field in _temperature_fields():
        config["model"].pop(field, None)
    for spec in config.get("tasks", {}).values():
        spec.pop("compute_dtype", None)
    history, seen = [], set()  # the first checkpoint's own runs last, so that its last run ends the history
    for record in (r for c in reversed(configs) for r in c.get("training", {}).get("history", [])):
        key = json.dumps(record, sort_keys=True)
        if key not in seen:
            seen.add(key)
            history.append(record)
    parts = [{"checkpoint": str(folder), "weight": w, "steps": c.get("training", {}).get("steps")}
             for folder, w, c in zip(folders, share, configs)]
    history.append({"kind": "average", "command": command, "of": parts, "date": date.today().isoformat()})
    training = config.setdefault("training", {})
    training.pop("dev_scores_greedy", None)  # the first one's, measured on its own weights
    training.update(history=history, totals=totals(history),
                    weights="weighted mean of " + ", ".join(f"{p['checkpoint']} ({p['weight']:.3g})" for p in parts))

    def write_files(staging: Path) -> None:
        save_file(averaged, str(staging / WEIGHTS_FILE), metadata={"format": FORMAT_NAME})
        shutil.copyfile(first / TOKENIZER_FILE, staging / TOKENIZER_FILE)
        (staging / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
        (staging / CARD_FILE).write_text(f"# nlpcli checkpoint: a weight average\n\n{training['weights']}.\n"
                                         f"Scores and calibration were measured on none of its parts' weights: measure them.\n")

    write_atomically(Path(out), write_files)
    return config


def _shape(config: dict) -> dict:
    """The model settings that decide what the weights mean (not the calibration temperatures)."""
    temperatures = _temperature_fields()
    return {k: v for k, v in ModelConfig.from_dict(config["model"]).to_dict().items() if k not in temperatures}


def _temperature_fields() -> set[str]:
    """The model settings recipes/calibrate.py fits on one checkpoint's weights."""
    return {task.temperature_field for task in TASKS.values() if isinstance(task, EncoderTask) and task.temperature_field}
