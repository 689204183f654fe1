"""What a training step computes, for any task: a batch of a task's pools
collated into tensors, and the task's loss on it (each task's own objective is
in its module under nlpcli/tasks/)."""
from __future__ import annotations

import torch
from torch import nn

from nlpcli.batching import Pool, pad
from nlpcli.tasks import get_task


def collate(pools: list[Pool], batch: list[tuple[int, int]], pad_id: int, task: str) -> tuple[torch.Tensor, torch.Tensor]:
    sources = pad([pools[p].sources[i] for p, i in batch], pad_id)
    targets = [pools[p].targets[i] for p, i in batch]
    return sources, pad(targets, get_task(task).target_padding(pad_id))


def drop_tokens(src: torch.Tensor, chance: float, droppable: torch.Tensor, unk_id: int) -> torch.Tensor:
    """Token dropout (word dropout, Iyyer et al. 2015; Lample et al. 2016 for
    taggers): each text piece of the encoder input becomes <unk> with probability
    ``chance``, so a classifier or tagger that has seen its training set many times
    cannot lean on memorised pieces alone. ``droppable``: per vocabulary id, whether
    it is text (task and language tokens, </s> and padding stay). The targets stay:
    the model learns to answer from the context of a hidden piece."""
    hidden = droppable[src] & (torch.rand(src.shape) < chance)
    return src.masked_fill(hidden, unk_id)


def prediction_count(task: str, tgt: torch.Tensor, pad_id: int) -> int:
    """How many predictions a batch's task_loss sums over."""
    return get_task(task).prediction_count(tgt, pad_id)


def task_loss(model, task: str, src: torch.Tensor, tgt: torch.Tensor, pad_id: int, label_smoothing: float) -> torch.Tensor:
    """Loss summed over the batch's predictions (prediction_count of them)."""
    return get_task(task).loss(model, src, tgt, pad_id, label_smoothing)


class TaskLoss(nn.Module):
    """The model with the task losses as its forward(), so that
    DistributedDataParallel sees (and synchronises) every task's computation."""

    def __init__(self, model, pad_id: int, label_smoothing: float) -> None:
        super().__init__()
        self.model, self.pad_id, self.label_smoothing = model, pad_id, label_smoothing

    def forward(self, task: str, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        return task_loss(self.model, task, src, tgt, self.pad_id, self.label_smoothing)
