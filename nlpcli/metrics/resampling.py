"""Bootstrap confidence intervals and paired significance tests over any Metric,
the procedures sacrebleu defines (``sacrebleu.significance``), applied to the
summed per-record statistics:

- a bootstrap resample draws n records with replacement; the interval is the
  2.5th-97.5th percentile of the resampled scores, reported as sacrebleu does
  (bootstrap mean +- half its width, plus both ends);
- paired bootstrap resampling scores baseline and system on the same resamples;
  p is the share of centred resampled differences at least as large as the real one;
- approximate randomization swaps each record's outputs between the two
  systems at random; p is the share of trials whose difference is at least the real one.

One deliberate difference from sacrebleu: a trial counts when its statistic is
*at least* the observed difference (>=, Riezler and Maxwell 2005), where sacrebleu
counts only larger ones. With ties counted, a system against itself gets p = 1 (the
test's maximum) instead of 1/(n+1); ties are common for accuracy and exact match."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nlpcli.metrics.base import Metric

DEFAULT_SEED = 12345  # sacrebleu's SACREBLEU_SEED default
CHUNK = 100  # resamples built at once (an n-records-wide count matrix each)


@dataclass
class Interval:
    mean: float  # bootstrap mean
    ci: float  # half the width of the 95% interval (sacrebleu's "± ci")
    low: float
    high: float

    def as_dict(self) -> dict:
        return {key: round(value, 4) for key, value in vars(self).items()}


def estimate_interval(samples: np.ndarray) -> Interval:
    """sacrebleu's ``estimate_ci``: sorted samples, the 1/40th from each end."""
    ordered = np.sort(samples)
    lower = len(ordered) // 40
    low, high = float(ordered[lower]), float(ordered[len(ordered) - lower - 1])
    return Interval(float(ordered.mean()), 0.5 * (high - low), low, high)


def resample_totals(statistics: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Summed statistics of ``n_samples`` bootstrap resamples (n_samples x k)."""
    n = len(statistics)
    totals = []
    for start in range(0, n_samples, CHUNK):
        draws = rng.choice(n, size=(min(CHUNK, n_samples - start), n), replace=True)
        counts = np.stack([np.bincount(row, minlength=n) for row in draws]).astype(float)
        totals.append(counts @ statistics)
    return np.concatenate(totals)


def bootstrap_intervals(metric: Metric, statistics: np.ndarray, n_samples: int, seed: int) -> dict[str, Interval]:
    """A 95% interval for each of the metric's figures."""
    scores = metric.figures_from(resample_totals(statistics, n_samples, np.random.default_rng(seed)))
    return {name: estimate_interval(scores[name]) for name in metric.figures}


def p_value(trial_statistics: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Share of trials at least as extreme as the observation, with sacrebleu's +1 correction."""
    at_least = np.sum(trial_statistics >= observed - 1e-9 * np.maximum(1.0, np.abs(observed)), axis=0)
    return (at_least + 1) / (len(trial_statistics) + 1)


@dataclass
class Comparison:
    """One system against the baseline: per figure its difference and p-value."""
    difference: dict[str, float]
    p_value: dict[str, float]
    interval: dict[str, Interval] | None = None  # the system's bootstrap interval (paired bootstrap only)


def paired_bootstrap(metric: Metric, baseline: np.ndarray, system: np.ndarray, n_samples: int, seed: int) -> Comparison:
    """Paired bootstrap resampling (Koehn 2004, as sacrebleu's ``_paired_bs_test``)."""
    rng = np.random.default_rng(seed)
    both = np.concatenate([baseline, system], axis=1)
    totals = resample_totals(both, n_samples, rng)
    k = baseline.shape[1]
    base_scores, system_scores = metric.figures_from(totals[:, :k]), metric.figures_from(totals[:, k:])
    real_base, real_system = metric.corpus_figures(baseline), metric.corpus_figures(system)
    difference, p, interval = {}, {}, {}
    for name in metric.figures:
        observed = abs(real_system[name] - real_base[name])
        sampled = np.abs(system_scores[name] - base_scores[name])
        p[name] = float(p_value(sampled - sampled.mean(), np.array(observed)))
        difference[name] = real_system[name] - real_base[name]
        interval[name] = estimate_interval(system_scores[name])
    return Comparison(difference, p, interval)


def approximate_randomization(metric: Metric, baseline: np.ndarray, system: np.ndarray, n_trials: int,
                              seed: int) -> Comparison:
    """Paired approximate randomization (Riezler and Maxwell 2005, as sacrebleu's ``_paired_ar_test``)."""
    rng = np.random.default_rng(seed)
    real_base, real_system = metric.corpus_figures(baseline), metric.corpus_figures(system)
    sampled = {name: [] for name in metric.figures}
    for start in range(0, n_trials, CHUNK):
        swap = rng.integers(2, size=(min(CHUNK, n_trials - start), len(baseline)), dtype=bool)
        keep = ~swap
        scores_a = metric.figures_from(swap @ baseline + keep @ system)
        scores_b = metric.figures_from(keep @ baseline + swap @ system)
        for name in metric.figures:
            sampled[name].append(np.abs(scores_a[name] - scores_b[name]))
    difference, p = {}, {}
    for name in metric.figures:
        difference[name] = real_system[name] - real_base[name]
        p[name] = float(p_value(np.concatenate(sampled[name]), np.array(abs(difference[name]))))
    return Comparison(difference, p)


PAIRED_TESTS = {"bs": paired_bootstrap, "ar": approximate_randomization}
