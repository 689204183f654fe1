"""A linear-chain CRF over BIO tags: the score of a tag sequence is the sum of
its per-word emission scores and of a learned score for each pair of
neighbouring tags. Pairs that break BIO (I-X after O or after another type,
I-X first) score FORBIDDEN (-1e4: exp() of it is 0 in float32), so decoding
never picks an invalid sequence and training gives them no probability.

Without learned scores (a model trained without the CRF) decoding is the
constrained Viterbi over the per-word scores alone.
"""
from __future__ import annotations

import torch

from nlpcli.tasks import ENTITY_TAGS

FORBIDDEN = -1e4  # finite, so that logsumexp over an all-forbidden column stays finite


def allowed_transitions() -> list[list[bool]]:
    """allowed[a][b]: tag b may follow tag a under BIO."""
    return [[not after.startswith("I-") or before[2:] == after[2:] for after in ENTITY_TAGS] for before in ENTITY_TAGS]


def transition_scores(learned: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(tags, tags) scores of tag b following tag a, and (tags,) scores of the
    first tag: the learned scores (zeros without) with BIO's forbidden pairs masked."""
    allowed = torch.tensor(allowed_transitions())
    learned = torch.zeros(allowed.shape) if learned is None else learned.float()
    first = torch.tensor([FORBIDDEN if tag.startswith("I-") else 0.0 for tag in ENTITY_TAGS])
    return learned.masked_fill(~allowed.to(learned.device), FORBIDDEN), first.to(learned.device)


def viterbi(emissions: torch.Tensor, learned: torch.Tensor | None = None) -> list[int]:
    """The best valid tag sequence for (words, tags) emission scores, decided on
    the emissions' device (the caller has them on the CPU; a GPU model's
    learned transitions are on the GPU)."""
    transitions, first = transition_scores(None if learned is None else learned.detach().to(emissions.device))
    score = first + emissions[0].float()
    back = []
    for row in emissions[1:]:
        score, best_previous = (score[:, None] + transitions).max(dim=0)
        score = score + row.float()
        back.append(best_previous)
    path = [int(score.argmax())]
    for best_previous in reversed(back):
        path.append(int(best_previous[path[-1]]))
    return path[::-1]


def sequence_nll(emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor, learned: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood of each gold sequence, (batch,), for emissions
    (batch, words, tags), gold tags (batch, words) and a mask of real words
    (batch, words; real words first, every row with at least one)."""
    transitions, first = transition_scores(learned)
    emissions = emissions.float()
    tags = tags.masked_fill(~mask, 0)
    steps = mask[:, 1:].float()

    gold = first[tags[:, 0]] + emissions.gather(2, tags[..., None]).squeeze(2).mul(mask).sum(1)
    gold = gold + (transitions[tags[:, :-1], tags[:, 1:]] * steps).sum(1)

    # forward algorithm: log of the summed exp-scores of all sequences ending in each tag
    alpha = first + emissions[:, 0]
    for k in range(1, emissions.size(1)):
        extended = torch.logsumexp(alpha[:, :, None] + transitions, dim=1) + emissions[:, k]
        alpha = torch.where(mask[:, k, None], extended, alpha)
    return torch.logsumexp(alpha, dim=1) - gold
