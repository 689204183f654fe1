import torch

from nlpcli.attention import KeyValueCache, MultiHeadAttention, build_attend_mask, decoding_cache_dtype


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


def test_cpu_training_in_bfloat16_takes_the_explicit_path_and_computes_the_same(monkeypatch):
    """Training under CPU bf16 autocast spells attention out (faster there than the fused
    kernel: benchmarks/attention_speed.py); it must attend exactly as the fused kernel does."""
    attention, queries, memory, padding = attention_and_inputs()
    cases = (dict(memory=memory, key_padding_mask=padding), dict(causal=True), dict())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected = [attention(queries, **kwargs)[0].float() for kwargs in cases]  # eval: the fused kernel

        def no_fused_kernel(*args, **kwargs):
            raise AssertionError("the fused kernel was called in CPU bf16 training")
        monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", no_fused_kernel)
        attention.train()  # dropout is 0, so training attends as evaluation does
        for kwargs, fused in zip(cases, expected):
            context, weights = attention(queries, **kwargs)
            assert weights is None  # not asked for
            torch.testing.assert_close(context.float(), fused, atol=2e-2, rtol=2e-2)
            context.float().sum().backward()
    assert all(p.grad is not None for p in attention.parameters())


def count_fused_kernel_calls(monkeypatch) -> list:
    """A list that grows by one at each call of torch's fused attention kernel."""
    calls, fused_kernel = [], torch.nn.functional.scaled_dot_product_attention

    def counting_fused_kernel(*args, **kwargs):
        calls.append(1)
        return fused_kernel(*args, **kwargs)
    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", counting_fused_kernel)
    return calls


def test_decoding_one_query_in_bfloat16_on_a_cpu_takes_the_explicit_path(monkeypatch):
    """A decoding step (one query, no gradients) in bfloat16 spells attention out too: the fused
    CPU kernel is 2-6x slower there (benchmarks/attention_speed.py --decoding). It attends as the
    fused kernel does; several queries at once, and float32, keep the fused kernel."""
    attention, queries, memory, padding = attention_and_inputs()
    attention = attention.to(torch.bfloat16)
    step, memory = queries[:, -1:].to(torch.bfloat16), memory.to(torch.bfloat16)
    with torch.inference_mode():
        fused = attention(step, memory, key_padding_mask=padding)[0].float()
        fused_calls = count_fused_kernel_calls(monkeypatch)
        explicit = attention(step, memory, key_padding_mask=padding)[0].float()
        assert fused_calls == []
        torch.testing.assert_close(explicit, fused, atol=2e-2, rtol=2e-2)
        attention(queries.to(torch.bfloat16), memory, key_padding_mask=padding)  # five queries
        assert fused_calls == [1]
        attention.float()(queries[:, -1:], memory.float(), key_padding_mask=padding)  # float32
        assert fused_calls == [1, 1]
    # its cache keeps float32, so that no step casts the keys and values of the steps before
    assert decoding_cache_dtype(memory) == torch.float32 and decoding_cache_dtype(memory.float()) is None
    cache = KeyValueCache(decoding_cache_dtype(memory))
    keys, _ = cache.append(memory[:, None], memory[:, None])
    assert keys.dtype == torch.float32


def test_cpu_training_in_float32_keeps_the_fused_kernel(monkeypatch):
    """In float32 the explicit product is no faster over the lengths we train on (slower from
    128 keys on an AVX2 CPU: benchmarks/attention_speed.py --dtype float32), so only the
    dtypes in ``explicit_on_cpu`` leave the fused kernel."""
    assert MultiHeadAttention.explicit_on_cpu == frozenset({torch.bfloat16})
    attention, queries, memory, padding = attention_and_inputs()
    fused_calls = count_fused_kernel_calls(monkeypatch)
    attention.train()
    context, weights = attention(queries, memory, key_padding_mask=padding)
    assert fused_calls and weights is None
    context.sum().backward()
    assert all(p.grad is not None for p in attention.parameters())
