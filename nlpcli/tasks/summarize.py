"""summarize: documents in, one summary each, in input order. The decoder
writes a summary of the document the encoder reads (``<summarize> document
</s>``, cut to the summarization window). A model with copy_attention also
copies source tokens (pointer-generator)."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from nlpcli.data.task_data import read_document_pairs
from nlpcli.tasks.base import DecoderTask, Generated, TextGenerator

if TYPE_CHECKING:  # nlpcli.decoding imports torch
    from nlpcli.decoding import GenerationSettings


class Summarize(DecoderTask):
    """Data sets: format "jsonl" with ``fields`` = [document field, summary field]
    (a list-valued field is joined with spaces, or its first item taken for
    "target"/"annotations"); ``lowercase_target`` lower-cases the summaries."""

    name = "summarize"
    token = "<summarize>"
    formats = {"jsonl": read_document_pairs}
    window = 192  # document tokens the summarizer reads
    input_field, output_field = "document", "summary"
    too_long = "longer than the summarization window ({window} tokens); summarized the beginning only"

    def loss(self, model, src, tgt, pad_id: int, label_smoothing: float):
        if model.config.copy_attention:
            return copy_loss(model, src, tgt, pad_id, label_smoothing)
        return super().loss(model, src, tgt, pad_id, label_smoothing)

    def scoring(self, hyp_paths: list[str], ref_paths: list[str]):
        """ROUGE-1/2/L F1 (rouge-score, Porter stemming) against one or more references per
        document (several files, or jsonl with a list field), each document its best."""
        from nlpcli.evaluate import read_summaries

        return read_summaries(hyp_paths, ref_paths)


def copy_loss(model, src, tgt, pad_id: int, label_smoothing: float):
    """Negative log-likelihood of the pointer-generator mixture. Label smoothing
    (what cross_entropy does: (1 - e) NLL + e mean of -log p) smooths the
    vocabulary distribution only: smoothing the mixture would ask mass of every
    token the source does not hold, which only the vocabulary side can give, and so
    would push the gate away from copying."""
    import torch.nn.functional as F

    log_probs, vocab_logits = model.copy_log_probs(src, tgt[:, :-1])
    gold = tgt[:, 1:]
    nll = -log_probs.gather(-1, gold[..., None]).squeeze(-1)
    smoothing = -F.log_softmax(vocab_logits.float(), dim=-1).mean(dim=-1)
    loss = (1 - label_smoothing) * nll + label_smoothing * smoothing
    return loss[gold.ne(pad_id)].sum()


class Summarizer(TextGenerator):
    """The summarize task's runner, as a library call."""

    def __init__(self, model, tokenizer, device: str = "cpu", window: int = 0) -> None:
        super().__init__(Summarize(), model, tokenizer, device, window)

    def summarize(self, documents: list[str], settings: GenerationSettings) -> tuple[list[Generated | None], list[bool]]:
        """Per document its summary (None for a blank one) and whether it was cut to the window."""
        return self.run(documents, settings)


def lead_baseline(document: str, max_words: int = 0) -> str:
    """The first sentence of a document (or its first ``max_words`` words): the
    baseline a summarizer has to beat."""
    first = re.split(r"(?<=[.!?])\s+|\n", document.strip(), maxsplit=1)[0]
    return " ".join(first.split()[:max_words]) if max_words else first
