"""Calibrated probabilities: one temperature per task, fitted on dev.

A model trained with cross-entropy is often over-confident: its 0.9 is right
less than nine times in ten. Dividing the logits by a temperature T > 1 (fitted
on dev data by minimising the negative log-likelihood; Guo et al. 2017) fixes
most of that without changing any decision: the arg-max, the best span and the
best tag path stay as they are, only the reported probabilities move. The
temperatures live in the checkpoint's model settings (the ModelConfig field
each task names as its ``temperature_field``: ``sentiment_temperature``,
``entity_temperature``, ``answer_temperature``; 1.0 = uncalibrated, the
outputs of release 1).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from nlpcli.tasks import get_task
from nlpcli.tasks.base import IGNORE


def nll(logits: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``labels`` under softmax(logits / temperature)."""
    return float(F.cross_entropy(logits.float() / temperature, labels))


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, low: float = 0.05, high: float = 20.0) -> float:
    """The temperature in [low, high] that minimises the NLL of (N, classes)
    ``logits`` on their (N,) gold ``labels``. The NLL is convex in 1/T, so a
    golden-section search over 1/T finds the minimum."""
    logits = logits.detach().float()
    ratio = (math.sqrt(5) - 1) / 2
    a, b = 1 / high, 1 / low  # inverse temperatures
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    f_c, f_d = nll(logits, labels, 1 / c), nll(logits, labels, 1 / d)
    while b - a > 1e-5 * (1 + a):
        if f_c <= f_d:
            b, d, f_d = d, c, f_c
            c = b - ratio * (b - a)
            f_c = nll(logits, labels, 1 / c)
        else:
            a, c, f_c = c, d, f_d
            d = a + ratio * (b - a)
            f_d = nll(logits, labels, 1 / d)
    return round(2 / (a + b), 4)


def expected_calibration_error(confidences: torch.Tensor, correct: torch.Tensor, bins: int = 15) -> float:
    """ECE: over equal-width confidence bins, the gap between accuracy and mean
    confidence, weighted by the share of predictions in the bin (Naeini et al. 2015)."""
    confidences, correct = confidences.float(), correct.float()
    which = (confidences * bins).long().clamp(max=bins - 1)
    error = 0.0
    for b in range(bins):
        members = which.eq(b)
        if members.any():
            error += float(members.float().mean() * (correct[members].mean() - confidences[members].mean()).abs())
    return error


def calibration_report(logits: torch.Tensor, labels: torch.Tensor, temperature: float) -> dict:
    """NLL and ECE of the top prediction, uncalibrated and at ``temperature``."""
    report = {"temperature": temperature}
    for name, t in (("before", 1.0), ("after", temperature)):
        probabilities = (logits.float() / t).softmax(-1)
        confidence, predicted = probabilities.max(-1)
        report[f"nll_{name}"] = round(nll(logits, labels, t), 4)
        report[f"ece_{name}"] = round(expected_calibration_error(confidence, predicted.eq(labels)), 4)
    return report


@torch.inference_mode()
def dev_logits(model, task: str, pools, pad_id: int, batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Every prediction's logits (N, classes) and gold class (N,) over the dev
    pools (nlpcli.batching.Pool, as training encodes them): one per sentence,
    per word, per answer boundary. Rows of different lengths (answer windows)
    are padded with -inf logits, which take no probability."""
    from nlpcli.training.objectives import collate

    model.eval()
    rows, golds = [], []
    for pool in pools:
        for start in range(0, len(pool), batch_size):
            batch = [(0, i) for i in range(start, min(start + batch_size, len(pool)))]
            src, tgt = collate([pool], batch, pad_id, task)
            device = next(model.parameters()).device
            scores, gold = get_task(task).scores(model, src.to(device), tgt.to(device))
            scores, gold = scores.float().reshape(-1, scores.size(-1)).cpu(), gold.reshape(-1).cpu()
            keep = gold.ne(IGNORE)
            rows.append(scores[keep])
            golds.append(gold[keep])
    width = max(r.size(1) for r in rows)
    logits = torch.cat([F.pad(r, (0, width - r.size(1)), value=float("-inf")) for r in rows])
    return logits, torch.cat(golds)


def calibrate(model, dev_pools: dict, pad_id: int) -> dict:
    """Fit each task's temperature on its dev pools ({task: [Pool, ...]}), store
    it in ``model.config`` and return {task: calibration_report}."""
    reports = {}
    for task, pools in dev_pools.items():
        logits, labels = dev_logits(model, task, pools, pad_id)
        temperature = fit_temperature(logits, labels)
        setattr(model.config, get_task(task).temperature_field, temperature)
        reports[task] = calibration_report(logits, labels, temperature)
    return reports
