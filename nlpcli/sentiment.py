"""Sentiment as a library call: texts in, ``positive``/``negative`` with its probability out.

The encoder reads ``<sentiment> text </s>``; an attention pooling layer weighs
the encoder states into one vector and a linear layer scores the two labels.
"""
from __future__ import annotations

from dataclasses import dataclass

from nlpcli.tasks import SENTIMENT_LABELS, TASKS


@dataclass
class Sentiment:
    label: str
    score: float  # softmax probability of the label, at the checkpoint's sentiment_temperature (1.0: not calibrated)


class SentimentClassifier:
    def __init__(self, model, tokenizer, device: str = "cpu") -> None:
        self.model, self.tokenizer, self.device = model, tokenizer, device
        self.window = model.config.max_positions

    def classify(self, texts: list[str], batch_size: int = 32) -> tuple[list[Sentiment | None], list[bool]]:
        """Per text its sentiment (None for a blank one) and whether it was cut to the window."""
        import torch

        from nlpcli.batching import pad

        results: list[Sentiment | None] = [None] * len(texts)
        truncated = [False] * len(texts)
        encoded = {}
        for index, text in enumerate(texts):
            if text.strip():
                encoded[index], truncated[index] = TASKS["classify-sentiment"].encode(self.tokenizer, text, self.window)
        order = sorted(encoded, key=lambda i: len(encoded[i]))
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            src = pad([encoded[i] for i in batch], self.tokenizer.pad_id).to(self.device)
            with torch.inference_mode():
                logits, _ = self.model.sentiment_logits(src)
            probabilities = (logits.float() / self.model.config.sentiment_temperature).softmax(-1).cpu()
            for row, index in enumerate(batch):
                best = int(probabilities[row].argmax())
                results[index] = Sentiment(SENTIMENT_LABELS[best], round(float(probabilities[row, best]), 4))
        return results, truncated

    def attention(self, text: str):
        """The decision's pooling attention over the text's tokens."""
        from nlpcli.attention_maps import pooling_attention

        ids, _ = TASKS["classify-sentiment"].encode(self.tokenizer, text, self.window)
        return pooling_attention(self.model, self.tokenizer, ids)


def sentiment_record(text: str, sentiment: Sentiment | None, fmt: str) -> list[str]:
    import json

    if fmt != "jsonl":
        return [f"{sentiment.label}\t{sentiment.score:.4f}" if sentiment else ""]
    record = {"text": text, "label": sentiment.label if sentiment else None, "score": sentiment.score if sentiment else None}
    if sentiment is None:
        record["empty"] = True
    return [json.dumps(record, ensure_ascii=False)]
