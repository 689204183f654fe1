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


def test_beam_search_reads_each_source_once(tiny_model, monkeypatch):
    """The encoder and the cross-attention projections see each sentence once, not once per beam;
    the hypotheses are those of a beam search that encodes every beam's copy of the source."""
    from nlpcli.decoding import DecoderState

    src = sources()
    rows_seen = {"encoder": [], "cross keys": []}
    hooks = [tiny_model.encoder.register_forward_hook(lambda m, args, out: rows_seen["encoder"].append(args[0].size(0))),
             tiny_model.decoder.layers[0].encoder_attn.k_proj.register_forward_hook(
                 lambda m, args, out: rows_seen["cross keys"].append(args[0].size(0)))]
    hyps = beam_search(tiny_model, src, [BOS_ID], EOS_ID, max_len=10, beam_size=4, n_best=2)
    for hook in hooks:
        hook.remove()
    assert rows_seen == {"encoder": [4], "cross keys": [4]}

    class EveryBeamEncoded(DecoderState):  # what decoding did before: the sources repeated, then encoded
        def __init__(self, model, src_ids, copy_source=False, rows_per_source=1, shortlist=None):
            super().__init__(model, src_ids.repeat_interleave(rows_per_source, dim=0), copy_source, shortlist=shortlist)

    monkeypatch.setattr("nlpcli.decoding.DecoderState", EveryBeamEncoded)
    reference = beam_search(tiny_model, src, [BOS_ID], EOS_ID, max_len=10, beam_size=4, n_best=2)
    for ours, theirs in zip(hyps, reference):
        assert [h.tokens for h in ours] == [h.tokens for h in theirs]
        assert [round(h.score, 4) for h in ours] == [round(h.score, 4) for h in theirs]
