"""The linear-chain CRF against brute force over every tag sequence of a short sentence."""
import itertools

import pytest
import torch

from nlpcli.crf import allowed_transitions, sequence_nll, transition_scores, viterbi
from nlpcli.tasks import ENTITY_TAGS

TAGS = len(ENTITY_TAGS)


def sequence_score(emissions, learned, path):
    transitions, first = transition_scores(learned)
    return float(first[path[0]] + sum(emissions[i, t] for i, t in enumerate(path))
                 + sum(transitions[a, b] for a, b in zip(path, path[1:])))


def valid(path):
    allowed = allowed_transitions()
    return not ENTITY_TAGS[path[0]].startswith("I-") and all(allowed[a][b] for a, b in zip(path, path[1:]))


@pytest.fixture
def example():
    generator = torch.Generator().manual_seed(3)
    return torch.randn(3, TAGS, generator=generator), torch.randn(TAGS, TAGS, generator=generator)


def test_viterbi_finds_the_best_valid_sequence_under_learned_transitions(example):
    emissions, learned = example
    paths = [p for p in itertools.product(range(TAGS), repeat=3) if valid(p)]
    best = max(paths, key=lambda p: sequence_score(emissions, learned, p))
    assert tuple(viterbi(emissions, learned)) == best
    # the transitions matter: they change the answer for these emissions
    assert viterbi(emissions, learned) != viterbi(emissions)


def test_sequence_nll_is_log_partition_minus_gold_score(example):
    emissions, learned = example
    scores = torch.tensor([sequence_score(emissions, learned, p) for p in itertools.product(range(TAGS), repeat=3)])
    gold = (0, 1, 2)  # O B-PER I-PER
    expected = torch.logsumexp(scores, 0) - sequence_score(emissions, learned, gold)
    nll = sequence_nll(emissions[None], torch.tensor([gold]), torch.ones(1, 3, dtype=torch.bool), learned)
    assert nll.item() == pytest.approx(expected.item(), abs=1e-4)


def test_padding_words_do_not_change_a_sentence_nll(example):
    emissions, learned = example
    gold = torch.tensor([[0, 1, 2]])
    short = sequence_nll(emissions[None, :2], gold[:, :2], torch.ones(1, 2, dtype=torch.bool), learned)
    padded = sequence_nll(emissions[None], torch.tensor([[0, 1, 5]]), torch.tensor([[True, True, False]]), learned)
    assert padded.item() == pytest.approx(short.item(), abs=1e-5)


def test_the_training_loss_reads_each_sentence_off_its_first_pieces_and_reaches_the_encoder():
    from nlpcli.model import ModelConfig, Seq2SeqTransformer
    from nlpcli.tasks.base import IGNORE
    from nlpcli.tasks.entities import entity_crf_loss

    torch.manual_seed(0)
    model = Seq2SeqTransformer(ModelConfig(vocab_size=40, d_model=16, n_heads=2, ffn_dim=32, encoder_layers=1,
                                           decoder_layers=1, dropout=0.0, entity_tags=TAGS, entity_crf=True))
    with torch.no_grad():
        model.entity_transitions.normal_()
    src = torch.tensor([[5, 6, 7, 8, 9, 2], [5, 10, 11, 2, 1, 1]])
    tgt = torch.tensor([[IGNORE, 1, IGNORE, 2, 0, IGNORE], [IGNORE, 3, 4, IGNORE, IGNORE, IGNORE]])
    loss = entity_crf_loss(model.entity_logits(src), tgt, model.entity_transitions)

    emissions = model.entity_logits(src).log_softmax(-1)
    expected = sum(sequence_nll(emissions[row, positions][None], torch.tensor([tags]), torch.ones(1, len(tags), dtype=torch.bool),
                                model.entity_transitions) for row, positions, tags in ((0, [1, 3, 4], [1, 2, 0]), (1, [1, 2], [3, 4])))
    assert loss.item() == pytest.approx(expected.item(), abs=1e-4)
    loss.backward()
    assert model.encoder.layers[0].self_attn.q_proj.weight.grad.abs().sum() > 0
    assert model.entity_transitions.grad.abs().sum() > 0
    assert entity_crf_loss(model.entity_logits(src), torch.full_like(tgt, IGNORE), model.entity_transitions).item() == 0
