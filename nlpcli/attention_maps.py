"""What the model attended to, per record: the weights of every layer and
head as one tensor, plus the token labels of its rows and columns.

Each task shows the attention its output rests on:
  translate, summarize   cross-attention, output tokens x input tokens
  answer                 encoder self-attention of the answer span's tokens over question + context
  classify-sentiment     the pooling attention of the decision over the input tokens
  tag-entities           encoder self-attention of each entity's first token over the input tokens
The maps are recomputed with one teacher-forced / encoder pass after the
output is known, so asking for them never changes the output.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

WORD_START = "▁"  # SentencePiece's mark of a piece that begins a word


@dataclass
class AttentionMap:
    kind: str  # e.g. "cross-attention"
    rows: list[str]  # query tokens
    columns: list[str]  # key tokens
    weights: torch.Tensor  # (layers, heads, rows, columns), each row sums to 1 over the columns

    def select(self, layer: str = "last", head: str = "mean") -> list[tuple[str, torch.Tensor]]:
        """(label, rows x columns) matrices: one layer (index, "last"), every layer ("all"),
        or their mean ("mean"); one head (index) or the mean over heads ("mean")."""
        n_layers, n_heads = self.weights.shape[:2]
        heads = self.weights.mean(dim=1) if head == "mean" else self.weights[:, _index(head, n_heads, "head")]
        head_label = f"mean of {n_heads} heads" if head == "mean" else f"head {head}"
        if layer == "mean":
            return [(f"{self.kind}, mean of {n_layers} layers, {head_label}", heads.mean(dim=0))]
        if layer == "all":
            return [(f"{self.kind}, layer {i}, {head_label}", heads[i]) for i in range(n_layers)]
        index = n_layers - 1 if layer == "last" else _index(layer, n_layers, "layer")
        return [(f"{self.kind}, layer {index}, {head_label}", heads[index])]

    def words(self) -> "AttentionMap":
        """Pieces merged into words: a word's column is the sum of its pieces'
        columns (still a distribution), a word's row the mean of its pieces' rows."""
        row_labels, row_groups = word_groups(self.rows)
        column_labels, column_groups = word_groups(self.columns)
        summed = torch.stack([self.weights[..., g].sum(dim=-1) for g in column_groups], dim=-1)
        merged = torch.stack([summed[..., g, :].mean(dim=-2) for g in row_groups], dim=-2)
        return AttentionMap(self.kind, row_labels, column_labels, merged)

    def to_json(self) -> dict:
        return {"kind": self.kind, "rows": self.rows, "columns": self.columns,
                "layers": self.weights.size(0), "heads": self.weights.size(1),
                "weights": [[[[round(w, 5) for w in row] for row in head] for head in layer]
                            for layer in self.weights.tolist()]}


def _index(value: str, count: int, what: str) -> int:
    from nlpcli.errors import InputError

    try:
        index = int(value)
    except ValueError:
        raise InputError(f"--{what} {value}: expected a number or mean") from None
    if not 0 <= index < count:
        raise InputError(f"--{what} {value}: this model has {what}s 0 to {count - 1}")
    return index


def word_groups(pieces: list[str]) -> tuple[list[str], list[list[int]]]:
    """Group piece positions into words: a piece starting with ▁ opens a new
    word; a special token (<2de>, </s>) is a word of its own."""
    groups: list[list[int]] = []
    for position, piece in enumerate(pieces):
        previous = pieces[groups[-1][-1]] if groups else ""
        if not groups or piece.startswith(WORD_START) or is_special(piece) or is_special(previous):
            groups.append([position])
        else:
            groups[-1].append(position)
    labels = ["".join(pieces[i] for i in group).removeprefix(WORD_START) or pieces[group[0]] for group in groups]
    return labels, groups


def is_special(label: str) -> bool:
    return label.startswith("<") and label.endswith(">") and len(label) > 2 and not label.startswith("<0x")


@torch.inference_mode()
def cross_attention(model, tokenizer, source_ids: list[int], output_ids: list[int], prefix: list[int] | None = None) -> AttentionMap:
    """Cross-attention of each output token (the generated ones, </s> included)
    over the source; ``prefix`` is what decoding started from (default [<s>])."""
    prefix = prefix or [tokenizer.bos_id]
    src = torch.tensor([source_ids], device=model.shared.weight.device)
    decoder_input = torch.tensor([prefix + output_ids[:-1]], device=src.device)
    memory, padding_mask, _ = model.encoder(src)
    _, weights = model.decoder(decoder_input, memory, padding_mask, need_weights=True)
    # the position that predicts output token i is the prefix's last + i
    stacked = torch.stack([w[0, :, len(prefix) - 1 :] for w in weights["cross"]]).float().cpu()
    return AttentionMap("cross-attention", tokenizer.pieces(output_ids), tokenizer.pieces(source_ids), stacked)


@torch.inference_mode()
def encoder_attention(model, tokenizer, source_ids: list[int], query_positions: list[int], row_labels: list[str],
                      kind: str = "encoder self-attention", **word_features: list[int]) -> AttentionMap:
    """Encoder self-attention of the given positions over the whole input;
    ``word_features`` (question_match=..., word_shapes=...) as the task feeds them."""
    device = model.shared.weight.device
    src = torch.tensor([source_ids], device=device)
    features = model.input_features(**{name: torch.tensor([values], device=device) for name, values in word_features.items()})
    _, _, weights = model.encoder(src, need_weights=True, input_features=features)
    stacked = torch.stack([w[0][:, query_positions] for w in weights]).float().cpu()
    return AttentionMap(kind, row_labels, tokenizer.pieces(source_ids), stacked)


@torch.inference_mode()
def pooling_attention(model, tokenizer, source_ids: list[int]) -> AttentionMap:
    """The sentiment decision's pooling weights: one layer, one head, one row."""
    src = torch.tensor([source_ids], device=model.shared.weight.device)
    _, weights = model.sentiment_logits(src)
    return AttentionMap("sentiment pooling attention", ["decision"], tokenizer.pieces(source_ids),
                        weights.float().cpu().view(1, 1, 1, -1))


def alignments(attention: AttentionMap, layer: int | None = None) -> list[tuple[int, int]]:
    """Moses / fast_align word alignments ``(source word, target word)``: each
    target word is aligned to the source word it attends to most, in one
    middle-upper layer (the second to last, averaged over heads), where
    cross-attention follows word correspondence most closely. Special tokens
    (<2de>, </s>) are left out and words are numbered without them."""
    n_layers = attention.weights.size(0)
    layer = max(0, n_layers - 2) if layer is None else layer
    words = AttentionMap(attention.kind, attention.rows, attention.columns, attention.weights[layer : layer + 1]).words()
    matrix = words.weights[0].mean(dim=0)
    source = [i for i, label in enumerate(words.columns) if not is_special(label)]
    target = [i for i, label in enumerate(words.rows) if not is_special(label)]
    if not source:
        return []
    pairs = []
    for j, row in enumerate(target):
        best = max(source, key=lambda column: float(matrix[row, column]))
        pairs.append((source.index(best), j))
    return pairs
