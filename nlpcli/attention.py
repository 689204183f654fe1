"""Multi-head attention, the heart of the model.

Two paths compute the same thing:
* the fused path hands the scaled dot product to
  ``torch.nn.functional.scaled_dot_product_attention`` (fast, no weights kept);
* the explicit path spells it out (scores, mask, softmax, weighted sum) and
  returns the per-head attention weights, for heatmaps and alignments.

Parameter names follow Hugging Face's M2M100 (q_proj, k_proj, v_proj, out_proj)
so weights can be mapped one to one.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class KeyValueCache:
    """Keys and values kept between decoding steps.

    Self-attention appends one position per step; cross-attention computes its
    keys and values from the encoder output once and reuses them.
    """

    def __init__(self, dtype: torch.dtype | None = None) -> None:
        self.keys: torch.Tensor | None = None
        self.values: torch.Tensor | None = None
        self.dtype = dtype  # what keys and values are kept in (decoding_cache_dtype); None: as computed

    def append(self, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.dtype is not None:
            keys, values = keys.to(self.dtype), values.to(self.dtype)
        if self.keys is None:
            self.keys, self.values = keys, values
        else:
            self.keys = torch.cat([self.keys, keys], dim=2)
            self.values = torch.cat([self.values, values], dim=2)
        return self.keys, self.values

    def reorder(self, batch_indices: torch.Tensor) -> None:
        """Follow the beams that survived a beam-search step."""
        if self.keys is not None:
            self.keys = self.keys.index_select(0, batch_indices)
            self.values = self.values.index_select(0, batch_indices)


class MultiHeadAttention(nn.Module):
    # On a CPU in these dtypes the fused kernel is slower than the explicit product when training
    # (forward + backward, at the lengths we train on; benchmarks/attention_speed.py compares them)
    # and when decoding one query a step (bfloat16: 128 beams over 20 keys, 3.5x faster in float32).
    explicit_on_cpu: frozenset[torch.dtype] = frozenset({torch.bfloat16})

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.dropout = dropout
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, length, d_model) -> (batch, heads, length, head_dim)"""
        batch, length, _ = x.shape
        return x.view(batch, length, self.n_heads, self.head_dim).transpose(1, 2)

    def merge_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, heads, length, head_dim) -> (batch, length, d_model)"""
        batch, _, length, _ = x.shape
        return x.transpose(1, 2).reshape(batch, length, self.n_heads * self.head_dim)

    def project_keys_values(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.split_heads(self.k_proj(memory)), self.split_heads(self.v_proj(memory))

    def forward(
        self,
        queries: torch.Tensor,
        memory: torch.Tensor | None = None,
        key_padding_mask: torch.Tensor | None = None,
        causal: bool = False,
        cache: KeyValueCache | None = None,
        static_kv: bool = False,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attend from ``queries`` to ``memory`` (itself when None).

        key_padding_mask: (batch, keys), True at padded keys.
        causal: each query sees only keys at or before its own position
            (only needed when queries and keys are the same full sequence).
        cache: with ``static_kv`` the cached keys/values are projected once from
            ``memory`` and reused; otherwise this step's keys/values are appended.
        Returns the attended values and, if ``need_weights``, the weights
        (batch, heads, queries, keys).
        """
        q = self.split_heads(self.q_proj(queries))
        if static_kv and cache is not None and cache.keys is not None:
            k, v = cache.keys, cache.values
        else:
            k, v = self.project_keys_values(queries if memory is None else memory)
            if cache is not None:
                k, v = cache.append(k, v)

        dropout_p = self.dropout if self.training else 0.0
        n_queries, n_keys, dtype = q.size(2), k.size(2), q.dtype
        weights = None
        explicit_for_speed = (self.training or n_queries == 1) and explicit_on_cpu(q)
        if explicit_for_speed and not self.training:
            # a decoding step: its small products in float32 (its cache keeps float32 keys and values,
            # decoding_cache_dtype), which rounds nothing (bfloat16 weights cost release 2's Multi30k
            # de->en 0.2 BLEU) and spares oneDNN a bfloat16 kernel for each new key length (170 MiB
            # more peak memory over 512 sentences)
            q, k, v = q.float(), k.float(), v.float()
        if need_weights or explicit_for_speed:
            attend_mask = build_attend_mask(key_padding_mask, causal, n_queries, n_keys, q.device)
            context, weights = explicit_attention(q, k, v, attend_mask, dropout_p)
            weights = weights if need_weights else None
        elif causal and key_padding_mask is None and n_queries == n_keys:
            context = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        else:
            attend_mask = build_attend_mask(key_padding_mask, causal, n_queries, n_keys, q.device)
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=attend_mask, dropout_p=dropout_p)
        return self.out_proj(self.merge_heads(context).to(dtype)), weights


def decoding_cache_dtype(like: torch.Tensor) -> torch.dtype | None:
    """What a decoding cache keeps for a model computing in ``like``'s dtype and device: float32
    where MultiHeadAttention decodes in float32 (the dtypes of explicit_on_cpu, on a CPU),
    so that no step casts the whole cache; else None, the keys and values as computed."""
    return torch.float32 if explicit_on_cpu(like) else None


def explicit_on_cpu(x: torch.Tensor) -> bool:
    """Whether ``x`` is on a CPU in a dtype of MultiHeadAttention.explicit_on_cpu."""
    return x.device.type == "cpu" and x.dtype in MultiHeadAttention.explicit_on_cpu


def build_attend_mask(
    key_padding_mask: torch.Tensor | None, causal: bool, n_queries: int, n_keys: int, device: torch.device
) -> torch.Tensor | None:
    """Boolean mask, True where a query may attend to a key, broadcastable to
    (batch, heads, queries, keys); None when every key is visible.

    key_padding_mask: (batch, keys), True at padding.
    causal: query i sees keys up to its own position; queries are aligned with
    the *last* keys, so this also holds when earlier keys come from a cache.
    """
    mask = None
    if key_padding_mask is not None:
        mask = ~key_padding_mask[:, None, None, :]
    if causal and n_queries > 1:
        lower = torch.ones(n_queries, n_keys, dtype=torch.bool, device=device).tril(diagonal=n_keys - n_queries)
        mask = lower if mask is None else mask & lower
    return mask


def explicit_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attend_mask: torch.Tensor | None, dropout_p: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q k^T / sqrt(head_dim)) v, keeping the weights (batch, heads, queries, keys)."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    if attend_mask is not None:
        scores = scores.masked_fill(~attend_mask, float("-inf"))
    weights = scores.softmax(dim=-1)
    context = F.dropout(weights, p=dropout_p) @ v
    return context, weights
