"""What a training step computes, for any task: a batch of a task's pools
collated into tensors, and the task's loss on it (each task's own objective is
in its module under nlpcli/tasks/)."""
from __future__ import annotations

import torch
from torch import nn

from nlpcli.batching import Pool, pad
from nlpcli.tasks import get_task
from nlpcli.tasks.base import next_token_count, next_token_loss


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


# span corruption as T5 does it (Raffel et al. 2020): 15 % of the text pieces, in spans of 3
NOISE_DENSITY, SPAN_LENGTH = 0.15, 3


def mask_spans(src: torch.Tensor, droppable: torch.Tensor, mask_id: int, bos_id: int, eos_id: int,
               pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Span infilling (denoising) on a batch of encoder inputs: in each row,
    spans of text pieces (``NOISE_DENSITY`` of them, ``SPAN_LENGTH`` long; spans
    that meet merge) each become one ``mask_id``, and the decoder's target is the
    hidden spans in order, each after a ``mask_id``: ``<s> M a b c M d e f </s>``
    (T5's targets, with one sentinel for every span since they come in order).
    ``droppable`` says per vocabulary id whether it is text: task and language
    tokens, </s> and padding are never hidden. Returns (sources, targets)."""
    sources, targets, is_text = [], [], droppable.tolist()
    for row in src.tolist():
        text = [position for position, token in enumerate(row) if is_text[token]]
        spans = max(1, round(len(text) * NOISE_DENSITY / SPAN_LENGTH)) if text else 0
        hidden = {position for start in torch.randperm(len(text))[:spans].tolist()
                  for position in text[start : start + SPAN_LENGTH]}
        source, target = [], [bos_id]
        for position, token in enumerate(row):
            if position in hidden:
                if position - 1 not in hidden:
                    source.append(mask_id)
                    target.append(mask_id)
                target.append(token)
            elif token != pad_id:
                source.append(token)
        sources.append(source)
        targets.append(target + [eos_id])
    return pad(sources, pad_id), pad(targets, pad_id)


def prediction_count(task: str, tgt: torch.Tensor, pad_id: int, infilling: bool = False) -> int:
    """How many predictions a batch's task_loss sums over."""
    return next_token_count(tgt, pad_id) if infilling else get_task(task).prediction_count(tgt, pad_id)


def task_loss(model, task: str, src: torch.Tensor, tgt: torch.Tensor, pad_id: int, label_smoothing: float,
              infilling: bool = False) -> torch.Tensor:
    """Loss summed over the batch's predictions (prediction_count of them). ``infilling``:
    the batch is a task's text through ``mask_spans``, and the loss is the decoder's
    on the hidden spans, whatever the task."""
    if infilling:
        return next_token_loss(model, src, tgt, pad_id, label_smoothing)
    return get_task(task).loss(model, src, tgt, pad_id, label_smoothing)


class TaskLoss(nn.Module):
    """The model with the task losses as its forward(), so that
    DistributedDataParallel sees (and synchronises) every task's computation."""

    def __init__(self, model, pad_id: int, label_smoothing: float) -> None:
        super().__init__()
        self.model, self.pad_id, self.label_smoothing = model, pad_id, label_smoothing

    def forward(self, task: str, src: torch.Tensor, tgt: torch.Tensor, infilling: bool = False) -> torch.Tensor:
        return task_loss(self.model, task, src, tgt, self.pad_id, self.label_smoothing, infilling)
