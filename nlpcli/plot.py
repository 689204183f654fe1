"""``nlpcli plot-training``: loss and dev scores of a run against steps, from its metrics.jsonl."""
from __future__ import annotations

import json
from pathlib import Path

from nlpcli.errors import InputError


def read_metrics(run_dir: Path) -> tuple[list[dict], list[dict]]:
    """(training log events, validation events) of a run folder."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise InputError(f"{run_dir} has no metrics.jsonl (is it an nlpcli train run folder?)")
    events = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            raise InputError(f"{path}, line {number}: not JSON") from None
    return [e for e in events if "loss" in e], [e for e in events if "dev" in e]


def plot_training(run_dir: Path, output: Path) -> Path:
    from nlpcli.heatmap import _pyplot

    plt = _pyplot()
    train, dev = read_metrics(run_dir)
    if not train:
        raise InputError(f"{run_dir}/metrics.jsonl has no training steps logged yet")
    figure, (loss_axes, dev_axes) = plt.subplots(2, 1, figsize=(8, 8), sharex=True)
    tasks = sorted({task for e in train for task in e.get("task_loss", {"all": 0})})
    for task in tasks:
        points = [(e["step"], e.get("task_loss", {"all": e["loss"]}).get(task)) for e in train]
        points = [(s, v) for s, v in points if v is not None]
        loss_axes.plot(*zip(*points), label=task)
    loss_axes.set_ylabel("training loss")
    loss_axes.legend(fontsize=8)
    bleu_axes = dev_axes.twinx()
    for name in sorted({n for e in dev for n in e["dev"]}):
        steps = [e["step"] for e in dev if name in e["dev"]]
        dev_axes.plot(steps, [e["dev"][name]["loss"] for e in dev if name in e["dev"]], marker="o", label=f"{name} loss")
        if any("bleu" in e["dev"][name] for e in dev if name in e["dev"]):
            bleu_axes.plot(steps, [e["dev"][name].get("bleu") for e in dev if name in e["dev"]], linestyle="--",
                           marker="s", label=f"{name} BLEU")
    dev_axes.set_ylabel("dev loss")
    bleu_axes.set_ylabel("dev BLEU (greedy)")
    dev_axes.set_xlabel("step")
    dev_axes.legend(fontsize=7, loc="upper left")
    if bleu_axes.lines:
        bleu_axes.legend(fontsize=7, loc="upper right")
    figure.suptitle(str(run_dir))
    figure.tight_layout()
    if not Path(output).parent.is_dir():
        raise InputError(f"cannot write {output}: folder {Path(output).parent} does not exist")
    figure.savefig(output)
    plt.close(figure)
    return Path(output)
