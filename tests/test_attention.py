import torch

from nlpcli.attention import MultiHeadAttention, build_attend_mask


def attention_and_inputs():
    torch.manual_seed(0)
    attention = MultiHeadAttention(d_model=16, n_heads=4).eval()
    queries = torch.randn(2, 5, 16)
    memory = torch.randn(2, 7, 16)
    padding = torch.zeros(2, 7, dtype=torch.bool)
    padding[1, 4:] = True  # second sequence has 4 real keys
    return attention, queries, memory, padding


def test_weights_are_probabilities_and_padding_gets_none():
    attention, queries, memory, padding = attention_and_inputs()
    _, weights = attention(queries, memory, key_padding_mask=padding, need_weights=True)
    assert weights.shape == (2, 4, 5, 7)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, 5))
    assert torch.all(weights[1, :, :, 4:] == 0)
    assert torch.all(weights[0] > 0)


def test_causal_weights_never_look_ahead():
    attention, queries, _, _ = attention_and_inputs()
    _, weights = attention(queries, causal=True, need_weights=True)
    future = torch.ones(5, 5, dtype=torch.bool).triu(diagonal=1)
    assert torch.all(weights[..., future] == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, 5))


def test_fused_path_equals_explicit_path():
    attention, queries, memory, padding = attention_and_inputs()
    for kwargs in (
        dict(memory=memory, key_padding_mask=padding),
        dict(causal=True),
        dict(causal=True, key_padding_mask=torch.tensor([[False] * 5, [False] * 3 + [True] * 2])),
        dict(),
    ):
        fused, none = attention(queries, **kwargs)
        explicit, weights = attention(queries, need_weights=True, **kwargs)
        assert none is None and weights is not None
        torch.testing.assert_close(fused, explicit, atol=1e-5, rtol=1e-5)


def test_causal_mask_aligns_queries_with_the_last_keys():
    mask = build_attend_mask(None, causal=True, n_queries=2, n_keys=4, device=torch.device("cpu"))
    assert mask.tolist() == [[True, True, True, False], [True, True, True, True]]
    assert build_attend_mask(None, causal=True, n_queries=1, n_keys=4, device=torch.device("cpu")) is None
