"""Summarization as a library call: documents in, one summary each, in input order.

The encoder reads ``<summarize> document </s>``, cut to the checkpoint's
summarization window; the decoder writes the summary.
"""
from __future__ import annotations

from dataclasses import dataclass

from nlpcli.decoding import GenerationSettings
from nlpcli.tasks import TASK_TOKENS


@dataclass
class Summary:
    text: str
    score: float  # sequence log-probability (sum over tokens, </s> included)
    token_logprobs: list[float]
    tokens: list[int]
    pieces: list[str]


class Summarizer:
    def __init__(self, model, tokenizer, device: str = "cpu", window: int = 0) -> None:
        self.model, self.tokenizer, self.device = model, tokenizer, device
        self.window = min(window or model.config.max_positions, model.config.max_positions)

    def summarize(self, documents: list[str], settings: GenerationSettings) -> tuple[list[Summary | None], list[bool]]:
        """Per document its summary (None for a blank one) and whether it was cut to the window."""
        from dataclasses import replace

        from nlpcli.decoding import generate

        settings = replace(settings, copy_source=self.model.config.copy_attention)
        results: list[Summary | None] = [None] * len(documents)
        truncated = [False] * len(documents)
        encoded = {}
        for index, document in enumerate(documents):
            if document.strip():
                encoded[index], truncated[index] = self.tokenizer.encode_task_input(TASK_TOKENS["summarize"], document, self.window)
        tok = self.tokenizer
        hypotheses = generate(self.model, list(encoded.values()), settings, [tok.bos_id], tok.eos_id, tok.pad_id, self.device)
        for index, nbest in zip(encoded, hypotheses):
            best = nbest[0]
            results[index] = Summary(tok.decode(best.tokens), best.score, best.token_logprobs, best.tokens, tok.pieces(best.tokens))
        return results, truncated

    def attention(self, document: str, summary: Summary):
        """Cross-attention of the summary's tokens over the document's."""
        from nlpcli.attention_maps import cross_attention

        source_ids, _ = self.tokenizer.encode_task_input(TASK_TOKENS["summarize"], document, self.window)
        return cross_attention(self.model, self.tokenizer, source_ids, summary.tokens)


def lead_baseline(document: str, max_words: int = 0) -> str:
    """The first sentence of a document (or its first ``max_words`` words): the
    baseline a summarizer has to beat."""
    import re

    first = re.split(r"(?<=[.!?])\s+|\n", document.strip(), maxsplit=1)[0]
    return " ".join(first.split()[:max_words]) if max_words else first


def summary_record(document: str, summary: Summary | None, fmt: str) -> list[str]:
    import json

    if fmt != "jsonl":
        return [summary.text if summary else ""]
    from nlpcli.translate import token_confidence

    record = {"document": document, "summary": summary.text if summary else "",
              "score": round(summary.score, 4) if summary else None}
    if summary is None:
        record["empty"] = True
    else:
        record.update(token_confidence(summary.pieces, summary.token_logprobs))
    return [json.dumps(record, ensure_ascii=False)]


def summary_handler(summarizer: Summarizer, settings: GenerationSettings, fmt: str, input_format: str,
                    source_name: str, warn, reporter=None):
    """A process_records chunk handler: records (text or jsonl with ``document``) -> summary lines."""
    from nlpcli.textio import record_handler

    return record_handler(
        lambda documents: summarizer.summarize(documents, settings), lambda d, s: summary_record(d, s, fmt),
        source_name, warn, field="document" if input_format == "jsonl" else None,
        too_long=f"longer than the summarization window ({summarizer.window} tokens); summarized the beginning only",
        after=reporter and (lambda r, d, s: reporter.report(r.line, d, summarizer.attention(d, s) if s else None)))
