"""classify-sentiment: texts in, ``positive``/``negative`` with its probability
out. The encoder reads ``<sentiment> text </s>``; an attention pooling layer
weighs the encoder states into one vector and a linear layer scores the labels."""
from __future__ import annotations

import json
from dataclasses import dataclass

from nlpcli.data.task_data import clean_text, read_glue_tsv, read_labelled_texts
from nlpcli.tasks.base import EncoderTask

SENTIMENT_LABELS = ("negative", "positive")


class ClassifySentiment(EncoderTask):
    """Data sets: format "jsonl" or "glue-tsv" (a header row names the columns),
    ``fields`` = [text field, label field]; labels 0/1 = negative/positive."""

    name = "classify-sentiment"
    token = "<sentiment>"
    formats = {"jsonl": read_labelled_texts, "glue-tsv": read_glue_tsv}
    temperature_field = "sentiment_temperature"
    too_long = "longer than the model's window ({window} tokens); classified the beginning only"

    def training_texts(self, spec, example):
        return (example["text"],)

    def served(self, recipe) -> dict:
        return {"labels": list(SENTIMENT_LABELS)}

    def configure_heads(self, config, trained: bool) -> None:
        config.sentiment_labels = len(SENTIMENT_LABELS) if trained else 0

    def encode(self, tokenizer, text: str, window: int, token: str = "") -> tuple[list[int], bool]:
        """As every text task, of the text as one clean line (HTML breaks, newlines: spaces)."""
        return super().encode(tokenizer, clean_text(text), window, token)

    def pool(self, spec, examples, tokenizer, window, model_config=None):
        """(<sentiment> text </s>, [label]); a text of no pieces is left out."""
        from nlpcli.batching import Pool

        texts = tokenizer.encode_batch([ex["text"] for ex in examples])
        pool = Pool(spec.name, [], [], spec.weight)
        for text, example in zip(texts, examples):
            if text:
                pool.sources.append(self.input_ids(tokenizer, text, window)[0])
                pool.targets.append([example["label"]])
        return pool

    def scores(self, model, src, tgt):
        """(batch, labels) and (batch,)"""
        logits, _ = model.sentiment_logits(src)
        return logits, tgt[:, 0]

    # ---- inference --------------------------------------------------------------
    def runner(self, loaded, device: str, options: dict | None = None) -> SentimentClassifier:
        return SentimentClassifier(loaded.model, loaded.tokenizer, device, self)

    def run(self, runner: SentimentClassifier, inputs: list[str], settings):
        return runner.classify(inputs, settings.batch_size)

    def output_lines(self, source: str, result: Sentiment | None, fmt: str) -> list[str]:
        return sentiment_record(source, result, fmt)

    def attention(self, runner: SentimentClassifier, source: str, result):
        return runner.attention(source) if result else None

    def scoring(self, hyp_paths: list[str], ref_paths: list[str]):
        """Accuracy and macro-F1 of predicted labels against the one gold file ``ref_paths`` names."""
        from nlpcli.evaluate import read_sentiment

        (gold_path,) = ref_paths
        return read_sentiment(hyp_paths, gold_path)


@dataclass
class Sentiment:
    label: str
    score: float  # softmax probability of the label, at the checkpoint's sentiment_temperature (1.0: not calibrated)


class SentimentClassifier:
    """The classify-sentiment task's runner, as a library call."""

    def __init__(self, model, tokenizer, device: str = "cpu", task: ClassifySentiment | None = None) -> None:
        self.model, self.tokenizer, self.device = model, tokenizer, device
        self.task = task or ClassifySentiment()
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
                encoded[index], truncated[index] = self.task.encode(self.tokenizer, text, self.window)
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

        ids, _ = self.task.encode(self.tokenizer, text, self.window)
        return pooling_attention(self.model, self.tokenizer, ids)


def sentiment_record(text: str, sentiment: Sentiment | None, fmt: str) -> list[str]:
    if fmt != "jsonl":
        return [f"{sentiment.label}\t{sentiment.score:.4f}" if sentiment else ""]
    record = {"text": text, "label": sentiment.label if sentiment else None, "score": sentiment.score if sentiment else None}
    if sentiment is None:
        record["empty"] = True
    return [json.dumps(record, ensure_ascii=False)]
