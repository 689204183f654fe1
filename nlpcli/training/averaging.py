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
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import torch

from nlpcli.checkpoint import (
    TOKENIZER_FILE,
    CheckpointInfo,
    load_checkpoint,
    read_config,
    save_checkpoint,
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
    (computed in float32, stored in the first one's dtype); returns its training record.

    The checkpoints must share shape and tokenizer. The average takes the first one's settings, less what was
    measured on its own weights (dev scores, calibration temperatures, the compute dtype they were scored in),
    which it has to earn again (recipes/calibrate.py, recipes/evaluate.py --record). Its training history
    is every run that led to any of them, each once (the first one's last), then the average itself, so its
    totals count all the compute the weights stand on."""
    folders = [Path(folder) for folder in folders]
    if len(folders) < 2 or len(weights) != len(folders) or any(w <= 0 for w in weights):
        raise ValueError("give two or more checkpoints and one positive weight for each")
    shapes = [_shape(ModelConfig.from_dict(read_config(folder)["model"])) for folder in folders]
    for folder, shape in zip(folders[1:], shapes[1:]):  # before loading, which would refuse the weights less plainly
        if shape != shapes[0]:
            raise CheckpointError(f"{folder} has another model shape than {folders[0]}; only checkpoints of one lineage average")
        if (folder / TOKENIZER_FILE).read_bytes() != (folders[0] / TOKENIZER_FILE).read_bytes():
            raise CheckpointError(f"{folder} has another tokenizer than {folders[0]}")
    parts = [load_checkpoint(folder) for folder in folders]  # each checked against its own config
    first = parts[0]
    share = [w / sum(weights) for w in weights]
    states = [part.model.state_dict() for part in parts]
    averaged = {name: sum(s * state[name].float() for s, state in zip(share, states)) for name in states[0]}
    model = first.model
    model.config = ModelConfig.from_dict(shapes[0])  # the temperatures back at their defaults
    model.load_state_dict(averaged)

    history, seen = [], set()  # the first checkpoint's own runs last, so that its last run ends the history
    for record in (r for part in reversed(parts) for r in part.info.training.get("history", [])):
        key = json.dumps(record, sort_keys=True)
        if key not in seen:
            seen.add(key)
            history.append(record)
    of = [{"checkpoint": str(part.path), "weight": w, "steps": part.info.training.get("steps")} for part, w in zip(parts, share)]
    history.append({"kind": "average", "command": command, "of": of, "date": date.today().isoformat()})
    training = {key: value for key, value in first.info.training.items() if key != "dev_scores_greedy"}  # the first one's own
    training.update(history=history, totals=totals(history),
                    weights="weighted mean of " + ", ".join(f"{p['checkpoint']} ({p['weight']:.3g})" for p in of))
    tasks = {task: {k: v for k, v in spec.items() if k != "compute_dtype"} for task, spec in first.info.tasks.items()}
    card = (f"# nlpcli checkpoint: a weight average\n\n{training['weights']}.\n"
            f"Scores and calibration were measured on none of its parts' weights: measure them.\n")
    save_checkpoint(out, model, first.tokenizer, CheckpointInfo(tasks=tasks, training=training, dtype=first.info.dtype), card)
    return training


def _shape(config: ModelConfig) -> dict:
    """The model settings that decide what the weights mean (not the calibration temperatures)."""
    temperatures = {task.temperature_field for task in TASKS.values() if isinstance(task, EncoderTask) and task.temperature_field}
    return {k: v for k, v in config.to_dict().items() if k not in temperatures}
