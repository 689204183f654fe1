"""Token-budget batches of similar-length examples, reproducible from (seed, epoch)."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Pool:
    """Encoded examples of one data set (all its directions) and its sampling weight.
    A target is a token sequence, a tag per source token, or a label / span, by task."""

    name: str
    sources: list[list[int]]
    targets: list[list[int]]
    weight: float = 1.0

    def __len__(self) -> int:
        return len(self.sources)


def sample_epoch(pools: list[Pool], generator: torch.Generator) -> list[tuple[int, int]]:
    """(pool, example) pairs for one epoch: each pool contributes weight x its size."""
    chosen = []
    for p, pool in enumerate(pools):
        whole, fraction = divmod(pool.weight, 1.0)
        indices = list(range(len(pool))) * int(whole)
        indices += torch.randperm(len(pool), generator=generator)[: round(fraction * len(pool))].tolist()
        chosen += [(p, i) for i in indices]
    return chosen


def epoch_batches(pools: list[Pool], batch_tokens: int, seed: int, epoch: int) -> list[list[tuple[int, int]]]:
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    chosen = sample_epoch(pools, generator)
    shuffled = [chosen[i] for i in torch.randperm(len(chosen), generator=generator).tolist()]

    def length(item):
        pool = pools[item[0]]
        return max(len(pool.sources[item[1]]), len(pool.targets[item[1]]))

    # a stable sort of a shuffled list: similar lengths together, random order among equals
    shuffled.sort(key=length)
    batches, current, longest = [], [], 0
    for item in shuffled:
        longest_if_added = max(longest, length(item))
        if current and longest_if_added * (len(current) + 1) > batch_tokens:
            batches.append(current)
            current, longest_if_added = [], length(item)
        current.append(item)
        longest = longest_if_added
    if current:
        batches.append(current)
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def pad(sequences: list[list[int]], pad_id: int) -> torch.Tensor:
    out = torch.full((len(sequences), max(len(s) for s in sequences)), pad_id, dtype=torch.long)
    for row, seq in enumerate(sequences):
        out[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
    return out


def length_sorted_batches(sequences: list[list[int]], batch_size: int) -> list[list[int]]:
    """Indices of ``sequences``, longest first, in batches of ``batch_size``: batches
    of similar length waste little on padding."""
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]), reverse=True)
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
