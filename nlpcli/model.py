"""The shared encoder-decoder Transformer that serves every task.

Pre-LayerNorm layers, sinusoidal positions, scaled embeddings, one vocabulary
whose embedding matrix is shared by the encoder, the decoder and the output
projection. Names and layout follow Hugging Face's M2M100 (``shared``,
``encoder.layers.N.self_attn.q_proj``, ``fc1``, ``final_layer_norm``, ...) so
weights map one to one.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from nlpcli.attention import KeyValueCache, MultiHeadAttention, decoding_cache_dtype
from nlpcli.features import WORD_SHAPES


@dataclass
class ModelConfig:
    vocab_size: int = 8000
    d_model: int = 256
    n_heads: int = 4
    ffn_dim: int = 1024
    encoder_layers: int = 3
    decoder_layers: int = 3
    dropout: float = 0.1
    attention_dropout: float = 0.0
    activation_dropout: float = 0.0
    max_positions: int = 1024
    pad_id: int = 1
    # output layers on the encoder states, for the tasks that read their answer
    # off the encoder (0 / False: the checkpoint does not serve that task)
    sentiment_labels: int = 0
    entity_tags: int = 0
    answer_spans: bool = False
    entity_crf: bool = False  # learned tag-pair scores over the entity tags (nlpcli/crf.py)
    # opt-in features (release 2). Off by default, so a checkpoint whose config.json
    # predates them loads without them and computes what it always did; each one
    # starts as a (near) no-op, so it can be switched on in a model already trained.
    copy_attention: bool = False  # summarize: pointer-generator copying from the source (CopyGenerator)
    question_match: bool = False  # answer: embedding of "this context word occurs in the question" (nlpcli/features.py)
    answer_end_given_start: bool = False  # answer: the end score also reads the start token (SpanEndGivenStart)
    answer_question_vector: bool = False  # answer: start and end scores also read a pooled question vector (QuestionVectorSpanScores)
    answer_no_answer_windows: bool = False  # answer training: windows without the answer point at position 0
    answer_max_tokens: int = 30  # answer decoding: the longest span, in pieces
    answer_length_penalty: float = 0.0  # answer decoding: logit cost of each piece after an answer's first
    word_shapes: bool = False  # tag-entities: embedding of each word's shape at its first piece (nlpcli/features.py)
    # reported probabilities are softmax(logits / temperature), fitted on dev (nlpcli/calibration.py)
    sentiment_temperature: float = 1.0
    entity_temperature: float = 1.0
    answer_temperature: float = 1.0

    @classmethod
    def from_dict(cls, values: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown model setting(s): {', '.join(unknown)}")
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)


def sinusoidal_table(n_positions: int, dim: int, pad_id: int) -> torch.Tensor:
    """fairseq/M2M100 layout: sines in the first half, cosines in the second;
    row ``pad_id`` is zero so padding carries no position."""
    half = dim // 2
    step = math.log(10000) / (half - 1)
    freqs = torch.exp(torch.arange(half, dtype=torch.float) * -step)
    angles = torch.arange(n_positions, dtype=torch.float)[:, None] * freqs[None, :]
    table = torch.cat([angles.sin(), angles.cos()], dim=1)
    if dim % 2:
        table = torch.cat([table, torch.zeros(n_positions, 1)], dim=1)
    table[pad_id] = 0
    return table


class SinusoidalPositions(nn.Module):
    """Position i of a sequence reads row ``pad_id + 1 + i``, as in M2M100."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.offset = config.pad_id + 1
        n_rows = config.max_positions + self.offset
        self.register_buffer("table", sinusoidal_table(n_rows, config.d_model, config.pad_id), persistent=False)

    def forward(self, length: int, start: int = 0) -> torch.Tensor:
        first = self.offset + start
        if first + length > self.table.size(0):
            raise ValueError(f"sequence of {start + length} positions exceeds max_positions={self.table.size(0) - self.offset}")
        return self.table[first : first + length]


class FeedForwardMixin:
    """fc1 -> ReLU -> fc2, held directly on the layer as M2M100 does."""

    def init_feed_forward(self, config: ModelConfig) -> None:
        self.fc1 = nn.Linear(config.d_model, config.ffn_dim)
        self.fc2 = nn.Linear(config.ffn_dim, config.d_model)
        self.final_layer_norm = nn.LayerNorm(config.d_model)
        self.activation_dropout = config.activation_dropout

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = F.dropout(F.relu(self.fc1(self.final_layer_norm(x))), self.activation_dropout, self.training)
        return self.fc2(hidden)


class EncoderLayer(FeedForwardMixin, nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(config.d_model, config.n_heads, config.attention_dropout)
        self.self_attn_layer_norm = nn.LayerNorm(config.d_model)
        self.init_feed_forward(config)
        self.dropout = config.dropout

    def forward(self, x, padding_mask, need_weights=False):
        attended, weights = self.self_attn(
            self.self_attn_layer_norm(x), key_padding_mask=padding_mask, need_weights=need_weights
        )
        x = x + F.dropout(attended, self.dropout, self.training)
        x = x + F.dropout(self.feed_forward(x), self.dropout, self.training)
        return x, weights


class DecoderLayerCache:
    def __init__(self, dtype: torch.dtype | None = None) -> None:
        self.self_attn = KeyValueCache(dtype)
        self.encoder_attn = KeyValueCache(dtype)

    def reorder(self, batch_indices: torch.Tensor, encoder_rows: torch.Tensor | None) -> None:
        """Self-attention follows ``batch_indices``; the encoder keys/values (the same
        for every beam of a sentence) take ``encoder_rows``, or stay when it is None."""
        self.self_attn.reorder(batch_indices)
        if encoder_rows is not None:
            self.encoder_attn.reorder(encoder_rows)


class DecoderLayer(FeedForwardMixin, nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(config.d_model, config.n_heads, config.attention_dropout)
        self.self_attn_layer_norm = nn.LayerNorm(config.d_model)
        self.encoder_attn = MultiHeadAttention(config.d_model, config.n_heads, config.attention_dropout)
        self.encoder_attn_layer_norm = nn.LayerNorm(config.d_model)
        self.init_feed_forward(config)
        self.dropout = config.dropout

    def forward(self, x, memory, memory_padding_mask, cache: DecoderLayerCache | None = None, need_weights=False,
                need_cross_weights=False):
        attended, self_weights = self.self_attn(
            self.self_attn_layer_norm(x),
            causal=True,
            cache=None if cache is None else cache.self_attn,
            need_weights=need_weights,
        )
        x = x + F.dropout(attended, self.dropout, self.training)
        attended, cross_weights = self.encoder_attn(
            self.encoder_attn_layer_norm(x),
            memory,
            key_padding_mask=memory_padding_mask,
            cache=None if cache is None else cache.encoder_attn,
            static_kv=True,
            need_weights=need_weights or need_cross_weights,
        )
        x = x + F.dropout(attended, self.dropout, self.training)
        x = x + F.dropout(self.feed_forward(x), self.dropout, self.training)
        return x, self_weights, cross_weights


class Encoder(nn.Module):
    def __init__(self, config: ModelConfig, embed_tokens: nn.Embedding) -> None:
        super().__init__()
        self.embed_tokens = embed_tokens
        self.embed_scale = math.sqrt(config.d_model)
        self.embed_positions = SinusoidalPositions(config)
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.encoder_layers))
        self.layer_norm = nn.LayerNorm(config.d_model)
        self.dropout = config.dropout

    def forward(self, src_ids: torch.Tensor, need_weights: bool = False, input_features: torch.Tensor | None = None):
        """Returns encoder states (batch, src_len, d_model), the padding mask and,
        with ``need_weights``, each layer's self-attention weights.
        ``input_features`` (batch, src_len, d_model) is added to the input embeddings
        (a task's word features: question match, word shape)."""
        padding_mask = src_ids.eq(self.embed_tokens.padding_idx)
        x = self.embed_tokens(src_ids) * self.embed_scale + self.embed_positions(src_ids.size(1))
        if input_features is not None:
            x = x + input_features
        x = F.dropout(x, self.dropout, self.training)
        all_weights = []
        for layer in self.layers:
            x, weights = layer(x, padding_mask, need_weights)
            all_weights.append(weights)
        return self.layer_norm(x), padding_mask, (all_weights if need_weights else None)


class Decoder(nn.Module):
    def __init__(self, config: ModelConfig, embed_tokens: nn.Embedding) -> None:
        super().__init__()
        self.embed_tokens = embed_tokens
        self.embed_scale = math.sqrt(config.d_model)
        self.embed_positions = SinusoidalPositions(config)
        self.layers = nn.ModuleList(DecoderLayer(config) for _ in range(config.decoder_layers))
        self.layer_norm = nn.LayerNorm(config.d_model)
        self.dropout = config.dropout

    def new_cache(self, memory: torch.Tensor, rows_per_source: int = 1) -> list[DecoderLayerCache]:
        """Caches for decoding from the encoder output ``memory``: self-attention
        empty, every layer's cross-attention keys/values projected once per
        sentence and repeated for its ``rows_per_source`` rows (a beam's rows share them)."""
        caches = [DecoderLayerCache(decoding_cache_dtype(memory)) for _ in self.layers]
        for layer, cache in zip(self.layers, caches):
            keys, values = layer.encoder_attn.project_keys_values(memory)
            cache.encoder_attn.append(keys.repeat_interleave(rows_per_source, dim=0),
                                      values.repeat_interleave(rows_per_source, dim=0))
        return caches

    def forward(self, tgt_ids, memory, memory_padding_mask, cache=None, start=0, need_weights=False,
                need_last_cross_weights=False):
        """tgt_ids: the decoder input; ``start`` is its first position (the number
        of positions already in ``cache`` when decoding step by step).
        ``need_last_cross_weights``: only the last layer's cross-attention weights
        (what copying reads), the other layers keep the fused path."""
        x = self.embed_tokens(tgt_ids) * self.embed_scale + self.embed_positions(tgt_ids.size(1), start)
        x = F.dropout(x, self.dropout, self.training)
        self_weights, cross_weights = [], []
        for i, layer in enumerate(self.layers):
            last = i == len(self.layers) - 1
            x, s, c = layer(x, memory, memory_padding_mask, None if cache is None else cache[i], need_weights,
                            need_cross_weights=need_last_cross_weights and last)
            self_weights.append(s)
            cross_weights.append(c)
        weights = {"self": self_weights, "cross": cross_weights} if need_weights or need_last_cross_weights else None
        return self.layer_norm(x), weights


class AttentionPooling(nn.Module):
    """One learned query scores every encoder state; the softmax of the scores
    weighs the states into one vector. The weights say which tokens a decision
    rests on."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.score = nn.Linear(d_model, 1)

    def forward(self, states: torch.Tensor, padding_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scores = self.score(states).squeeze(-1).masked_fill(padding_mask, float("-inf"))
        weights = scores.float().softmax(dim=-1).to(states.dtype)
        return torch.einsum("bl,bld->bd", weights, states), weights


class CopyGenerator(nn.Module):
    """Pointer-generator (See et al. 2017): the next token's distribution mixes
    the vocabulary's softmax with a copy distribution over the source,

        p(w) = g * p_vocab(w) + (1 - g) * sum of the attention on source positions holding w,

    so names, numbers and rare words of a summary can come from the document even
    where the vocabulary side gives them no mass. The attention is the head mean of
    the last decoder layer's cross-attention (already trained to align); the gate
    g = sigmoid(w . [decoder state; context vector]) reads the decoder state and the
    attention-weighted encoder states."""

    GATE_BIAS = 3.0  # g = 0.95 at the start: a trained model gains copying gently

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.gate = nn.Linear(2 * d_model, 1)

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.gate.weight)  # a constant gate until training says otherwise
        nn.init.constant_(self.gate.bias, self.GATE_BIAS)

    def forward(self, vocab_logits, states, cross_weights, memory, src_ids) -> torch.Tensor:
        """vocab_logits (batch, tgt, vocab), states (batch, tgt, d), cross_weights
        (batch, heads, tgt, src), memory (batch, src, d), src_ids (batch, src) ->
        log-probabilities of the mixture (batch, tgt, vocab), float32."""
        attention = cross_weights.float().mean(dim=1)
        context = attention @ memory.float()
        gate = torch.sigmoid(self.gate(torch.cat([states, context.to(states.dtype)], dim=-1)).float())
        vocab = vocab_logits.float().softmax(dim=-1)
        source_ids = src_ids[:, None, :].expand(-1, attention.size(1), -1)
        copy = torch.zeros_like(vocab).scatter_add_(-1, source_ids, attention)
        mixed = gate * vocab + (1 - gate) * copy
        # a token neither side gives mass underflows to 0; clamping keeps its log finite (and its gradient 0, not NaN)
        return mixed.clamp_min(torch.finfo(mixed.dtype).tiny).log()


class FeatureEmbedding(nn.Embedding):
    """A learned vector per value of a word feature, added to the encoder input.
    All zero at the start, so switching a feature on changes nothing until it is
    trained; value 0 ("no feature here") adds nothing, ever."""

    def __init__(self, n_values: int, d_model: int) -> None:
        super().__init__(n_values, d_model, padding_idx=0)

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.weight)


class SpanEndGivenStart(nn.Module):
    """An end score that reads the start token's state too (XLNet's end layer),
    v . LayerNorm(tanh(W [h_end; h_start] + b)), added to the span head's own end
    score: an answer's end depends on where it starts. ``score`` starts at zero,
    so a trained span pointer keeps its answers when this is switched on."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        # W [h_end; h_start] as W_end h_end + W_start h_start: each token is projected
        # once, not once per (start, end) pair
        self.end_proj = nn.Linear(d_model, d_model, bias=False)
        self.start_proj = nn.Linear(d_model, d_model)
        self.layer_norm = nn.LayerNorm(d_model)
        self.score = nn.Linear(d_model, 1)

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.score.weight)
        nn.init.zeros_(self.score.bias)

    def forward(self, end_part: torch.Tensor, start_part: torch.Tensor) -> torch.Tensor:
        """end_proj(end states), start_proj(start states), broadcastable to each other -> scores."""
        return self.score(self.layer_norm(torch.tanh(end_part + start_part))).squeeze(-1)


class QuestionVectorSpanScores(nn.Module):
    """DrQA's bilinear span scores: start_i = h_i . W_s q and end_i = h_i . W_e q,
    added to the span head's own scores, where q is an attention-pooled summary of
    the question's states. The question then conditions every boundary directly,
    not only through the encoder's self-attention, so a span salient in the
    paragraph but beside the question scores lower. W starts at zero, so a trained
    span pointer keeps its answers when this is switched on."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.pooling = AttentionPooling(d_model)
        self.bilinear = nn.Linear(d_model, 2 * d_model, bias=False)  # [W_s; W_e]

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.bilinear.weight)

    def forward(self, states: torch.Tensor, question_mask: torch.Tensor) -> torch.Tensor:
        """states (batch, src_len, d_model), question_mask (batch, src_len) True at
        question pieces -> (batch, src_len, 2) start and end scores."""
        question, _ = self.pooling(states, ~question_mask)
        start_and_end = self.bilinear(question).view(states.size(0), 2, states.size(-1))
        return torch.einsum("bld,bkd->blk", states, start_and_end)


class Seq2SeqTransformer(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.shared = nn.Embedding(config.vocab_size, config.d_model, padding_idx=config.pad_id)
        self.encoder = Encoder(config, self.shared)
        self.decoder = Decoder(config, self.shared)
        if config.sentiment_labels:
            self.sentiment_pooling = AttentionPooling(config.d_model)
            self.sentiment_head = nn.Linear(config.d_model, config.sentiment_labels)
        if config.entity_tags:
            self.entity_head = nn.Linear(config.d_model, config.entity_tags)
            if config.entity_crf:  # score of tag b following tag a; zeros = no preference
                self.entity_transitions = nn.Parameter(torch.zeros(config.entity_tags, config.entity_tags))
            if config.word_shapes:  # value 0: not a word's first piece
                self.word_shape_embedding = FeatureEmbedding(len(WORD_SHAPES) + 1, config.d_model)
        if config.answer_spans:
            self.span_head = nn.Linear(config.d_model, 2)  # start and end score of each token
            if config.question_match:  # value 1: a context word that occurs in the question
                self.question_match_embedding = FeatureEmbedding(2, config.d_model)
            if config.answer_end_given_start:
                self.span_end_given_start = SpanEndGivenStart(config.d_model)
            if config.answer_question_vector:
                self.span_question_scores = QuestionVectorSpanScores(config.d_model)
        if config.copy_attention:
            self.copy_generator = CopyGenerator(config.d_model)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        # std d^-0.5 so that the sqrt(d)-scaled input embedding has unit variance
        nn.init.normal_(self.shared.weight, std=self.config.d_model**-0.5)
        with torch.no_grad():
            self.shared.weight[self.config.pad_id].zero_()
        # the opt-in features start as (near) no-ops: see ModelConfig
        for feature in self.feature_modules():
            feature.reset_parameters()

    def feature_modules(self) -> list[nn.Module]:
        names = ("copy_generator", "span_end_given_start", "span_question_scores", "question_match_embedding",
                 "word_shape_embedding")
        return [getattr(self, name) for name in names if hasattr(self, name)]

    def output_logits(self, decoder_states: torch.Tensor) -> torch.Tensor:
        """The output projection is the transposed (tied) embedding matrix."""
        return F.linear(decoder_states, self.shared.weight)

    def forward(self, src_ids: torch.Tensor, tgt_in_ids: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (batch, tgt_len, vocab)."""
        memory, padding_mask, _ = self.encoder(src_ids)
        states, _ = self.decoder(tgt_in_ids, memory, padding_mask)
        return self.output_logits(states)

    def copy_log_probs(self, src_ids: torch.Tensor, tgt_in_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced log-probabilities (batch, tgt_len, vocab) of the
        pointer-generator mixture, and the vocabulary logits it mixes in."""
        memory, padding_mask, _ = self.encoder(src_ids)
        states, weights = self.decoder(tgt_in_ids, memory, padding_mask, need_last_cross_weights=True)
        logits = self.output_logits(states)
        return self.copy_generator(logits, states, weights["cross"][-1], memory, src_ids), logits

    def next_token_log_probs(self, new_tokens, memory, padding_mask, cache, start: int, copy_from=None,
                             output_rows=None) -> torch.Tensor:
        """One cached decoding step: feed (rows, n) new tokens at position ``start``;
        log-probabilities (rows, vocab) of the token after the last. With
        ``copy_from`` (the source ids of each row) the pointer-generator mixture.
        With ``output_rows`` (rows of the output embedding: a vocabulary shortlist's)
        only those pieces are scored, normalised among themselves: (rows, len(output_rows))."""
        states, weights = self.decoder(new_tokens, memory, padding_mask, cache, start,
                                       need_last_cross_weights=copy_from is not None)
        if output_rows is not None:
            return F.log_softmax(F.linear(states[:, -1], output_rows).float(), dim=-1)
        if copy_from is None:
            return F.log_softmax(self.output_logits(states[:, -1]).float(), dim=-1)
        last = states[:, -1:]
        return self.copy_generator(self.output_logits(last), last, weights["cross"][-1][:, :, -1:], memory, copy_from)[:, 0]

    def sentiment_logits(self, src_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(batch, labels) logits and the pooling weights over the input tokens."""
        memory, padding_mask, _ = self.encoder(src_ids)
        pooled, weights = self.sentiment_pooling(memory, padding_mask)
        return self.sentiment_head(pooled), weights

    def input_features(self, question_match: torch.Tensor | None = None,
                       word_shapes: torch.Tensor | None = None) -> torch.Tensor | None:
        """The word-feature embeddings to add to the encoder input, of the features
        this model has (None: none). question_match (batch, src_len): 1 at context
        tokens whose word occurs in the question; word_shapes (batch, src_len): each
        word's shape id at its first piece, 0 elsewhere (nlpcli/features.py)."""
        if self.config.question_match and question_match is not None:
            return self.question_match_embedding(question_match)
        if self.config.word_shapes and word_shapes is not None:
            return self.word_shape_embedding(word_shapes)
        return None

    def entity_logits(self, src_ids: torch.Tensor, word_shapes: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, src_len, tags): a BIO tag score for every input token."""
        memory, _, _ = self.encoder(src_ids, input_features=self.input_features(word_shapes=word_shapes))
        return self.entity_head(memory)

    def span_states(self, src_ids: torch.Tensor, question_match: torch.Tensor | None = None,
                    question_mask: torch.Tensor | None = None):
        """Encoder states, padding mask and (batch, src_len, 2) start and end scores
        of answer windows. question_mask (batch, src_len): True at the question's
        pieces, which an answer_question_vector model reads its question vector from."""
        memory, padding_mask, _ = self.encoder(src_ids, input_features=self.input_features(question_match=question_match))
        scores = self.span_head(memory)
        if self.config.answer_question_vector:
            scores = scores + self.span_question_scores(memory, question_mask)
        return memory, padding_mask, scores.float()

    def span_logits(self, src_ids: torch.Tensor, question_match: torch.Tensor | None = None,
                    starts: torch.Tensor | None = None,
                    question_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Start and end scores (batch, src_len) of every input token as the answer's
        boundary; an answer_end_given_start model scores the ends given ``starts``
        (batch,), the gold starts in training."""
        memory, padding_mask, scores = self.span_states(src_ids, question_match, question_mask)
        start, end = scores.unbind(-1)
        if self.config.answer_end_given_start:
            head = self.span_end_given_start
            start_states = memory[torch.arange(src_ids.size(0), device=src_ids.device), starts][:, None]
            end = end + head(head.end_proj(memory), head.start_proj(start_states)).float()
        return start.masked_fill(padding_mask, float("-inf")), end.masked_fill(padding_mask, float("-inf"))

    def span_pair_logits(self, src_ids: torch.Tensor, question_match: torch.Tensor | None = None,
                         max_tokens: int = 0, question_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Start scores (batch, src_len) and the end scores of the spans each token
        starts, (batch, src_len, max_tokens or answer_max_tokens): [b, s, w] scores
        the end s + w given the start s (-inf past the input), for a search over
        (start, end) pairs."""
        max_tokens = max_tokens or self.config.answer_max_tokens
        memory, padding_mask, scores = self.span_states(src_ids, question_match, question_mask)
        start, end = scores.masked_fill(padding_mask[..., None], float("-inf")).unbind(-1)
        length = src_ids.size(1)
        ends = torch.arange(length, device=src_ids.device)[:, None] + torch.arange(max_tokens, device=src_ids.device)
        inside = ends < length
        ends = ends.clamp(max=length - 1)
        band = end[:, ends]
        if self.config.answer_end_given_start:
            head = self.span_end_given_start
            end_part, start_part = head.end_proj(memory), head.start_proj(memory)
            # one span length at a time: (batch, src_len, d_model) at once, not max_tokens times that
            band = band + torch.stack([head(end_part[:, ends[:, w]], start_part) for w in range(max_tokens)], dim=-1).float()
        return start, band.masked_fill(~inside, float("-inf"))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
