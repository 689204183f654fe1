"""A vocabulary shortlist for translation: a decoding batch scores only the target
pieces its sources make likely, not the whole vocabulary.

The output layer ([rows x d] x [d x vocabulary], then a softmax and a top-k over
every piece) is the largest single cost of beam search (docs/release-2.md,
"Speed"). As Marian's lexical shortlists and CTranslate2's ``vmap`` do, each batch
scores a subset: the most frequent target pieces, plus for each of its source
pieces the target pieces that co-occur with it most strongly in the training
pairs. Strength is the Dice coefficient over sentence pairs, 2 c(s,t) / (c(s) + c(t)):
unlike p(t | s) it does not favour pieces that occur everywhere, which the
frequent list holds already.

The shortlist lives in the checkpoint folder as ``shortlist.safetensors``
(``recipes/shortlist.py`` builds it from a recipe's translation data).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nlpcli.checkpoint import SHORTLIST_FILE, use_default_file_permissions
from nlpcli.errors import CheckpointError


@dataclass
class VocabularyShortlist:
    frequent: torch.Tensor  # (n,) ids every batch may produce: the special pieces and the most frequent targets
    candidates: torch.Tensor  # (vocabulary, k) per source piece its strongest target pieces; -1 fills short rows

    def for_sources(self, src_ids: torch.Tensor) -> torch.Tensor:
        """The sorted ids a batch of (padded) sources may produce."""
        picked = self.candidates.to(src_ids.device)[src_ids.unique()].flatten()
        return torch.cat([self.frequent.to(src_ids.device), picked[picked >= 0]]).unique()

    def save(self, folder) -> None:
        from safetensors.torch import save_file

        # the smallest integer type that holds every id (-1 marks an empty slot): a 16,000-piece
        # vocabulary's ids fit int16, a quarter of the file int64 would take
        largest = max((int(ids.max()) for ids in (self.frequent, self.candidates) if ids.numel()), default=0)
        dtype = torch.int16 if largest <= torch.iinfo(torch.int16).max else torch.int32
        tensors = {"frequent": self.frequent.to(dtype), "candidates": self.candidates.to(dtype)}
        path = Path(folder) / SHORTLIST_FILE
        save_file(tensors, str(path))
        use_default_file_permissions(path)  # safetensors writes owner-only files

    @classmethod
    def load(cls, folder, vocab_size: int, device: str = "cpu") -> VocabularyShortlist | None:
        """The checkpoint's shortlist, or None if it has none, on ``device``, where
        ``for_sources`` then finds it instead of copying it over for every batch."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        path = Path(folder) / SHORTLIST_FILE
        if not path.is_file():
            return None
        try:
            tensors = load_file(str(path))
            shortlist = cls(tensors["frequent"].long().to(device), tensors["candidates"].long().to(device))
        except (SafetensorError, OSError, KeyError) as error:
            raise CheckpointError(f"{path} is unreadable: {error}") from None
        listed = torch.cat([shortlist.frequent, shortlist.candidates.flatten()])
        if shortlist.candidates.size(0) != vocab_size or (listed.numel() and listed.max() >= vocab_size):
            raise CheckpointError(f"{path} does not fit the model's vocabulary of {vocab_size}")
        return shortlist


def build_shortlist(pairs: Iterable[tuple[list[int], list[int]]], vocab_size: int, per_source: int = 64,
                    frequent: int = 500, always: Iterable[int] = ()) -> VocabularyShortlist:
    """Count, over (source ids, target ids) sentence pairs, in how many pairs each
    piece and each (source piece, target piece) pair occur; keep per source piece
    the ``per_source`` target pieces of highest Dice coefficient, and the
    ``frequent`` most frequent target pieces plus ``always`` (e.g. </s>) for every batch."""
    source_count = np.zeros(vocab_size, dtype=np.int64)
    target_count = np.zeros(vocab_size, dtype=np.int64)
    pair_keys: list[np.ndarray] = []
    for source, target in pairs:
        s, t = np.unique(np.asarray(source, dtype=np.int64)), np.unique(np.asarray(target, dtype=np.int64))
        source_count[s] += 1
        target_count[t] += 1
        pair_keys.append((s[:, None] * vocab_size + t[None, :]).ravel())
    keys, together = np.unique(np.concatenate(pair_keys) if pair_keys else np.zeros(0, np.int64), return_counts=True)
    sources, targets = keys // vocab_size, keys % vocab_size
    dice = 2 * together / (source_count[sources] + target_count[targets])
    # per source piece, its pairs from strongest to weakest: sort by source, then by -dice
    order = np.lexsort((-dice, sources))
    sources, targets = sources[order], targets[order]
    rank = np.arange(len(sources)) - np.searchsorted(sources, sources)  # place within its source's run
    kept = rank < per_source
    candidates = np.full((vocab_size, per_source), -1, dtype=np.int64)
    candidates[sources[kept], rank[kept]] = targets[kept]
    most_frequent = np.argsort(-target_count, kind="stable")[:frequent]
    most_frequent = most_frequent[target_count[most_frequent] > 0]
    frequent_ids = np.union1d(most_frequent, np.asarray(list(always), dtype=np.int64))
    return VocabularyShortlist(torch.from_numpy(frequent_ids), torch.from_numpy(candidates))
