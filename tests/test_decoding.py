import torch

from nlpcli.decoding import beam_search, greedy_search
from nlpcli.tokenizer import BOS_ID, EOS_ID, PAD_ID


def sources():
    torch.manual_seed(3)
    src = torch.randint(4, 50, (4, 8))
    src[1, 5:] = PAD_ID
    src[3, 3:] = PAD_ID
    return src


def test_beam_one_equals_greedy(tiny_model):
    src = sources()
    greedy = greedy_search(tiny_model, src, [BOS_ID], EOS_ID, max_len=12)
    beam = beam_search(tiny_model, src, [BOS_ID], EOS_ID, max_len=12, beam_size=1)
    for g, b in zip(greedy, beam):
        assert g.tokens == b[0].tokens
        assert abs(g.score - b[0].score) < 1e-4


def test_batched_beam_search_equals_one_sentence_at_a_time(tiny_model):
    src = sources()
    together = beam_search(tiny_model, src, [BOS_ID], EOS_ID, max_len=10, beam_size=3, n_best=2)
    for row in range(src.size(0)):
        length = int(src[row].ne(PAD_ID).sum())
        alone = beam_search(tiny_model, src[row : row + 1, :length], [BOS_ID], EOS_ID, max_len=10, beam_size=3, n_best=2)
        assert [h.tokens for h in alone[0]] == [h.tokens for h in together[row]]


def test_n_best_is_sorted_and_scores_add_up(tiny_model):
    hyps = beam_search(tiny_model, sources(), [BOS_ID], EOS_ID, max_len=10, beam_size=4, n_best=3)
    for nbest in hyps:
        assert len(nbest) == 3
        normalized = [h.normalized_score for h in nbest]
        assert normalized == sorted(normalized, reverse=True)
        for h in nbest:
            assert abs(sum(h.token_logprobs) - h.score) < 1e-4
            assert len(h.tokens) <= 10


def test_beam_search_finds_at_least_the_greedy_score(tiny_model):
    src = sources()
    greedy = greedy_search(tiny_model, src, [BOS_ID], EOS_ID, max_len=6)
    beam = beam_search(tiny_model, src, [BOS_ID], EOS_ID, max_len=6, beam_size=5, length_penalty=0.0)
    for g, b in zip(greedy, beam):
        assert b[0].score >= g.score - 1e-4
