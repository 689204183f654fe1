"""classify-sentiment: an attention pooling layer weighs the encoder states of
``<sentiment> text </s>`` into one vector and a linear layer scores the labels."""
from __future__ import annotations

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
    def runner(self, loaded, device: str, options: dict | None = None):
        from nlpcli.sentiment import SentimentClassifier

        return SentimentClassifier(loaded.model, loaded.tokenizer, device)

    def run(self, runner, inputs: list[str], settings):
        return runner.classify(inputs, settings.batch_size)

    def output_lines(self, source: str, result, fmt: str) -> list[str]:
        from nlpcli.sentiment import sentiment_record

        return sentiment_record(source, result, fmt)

    def attention(self, runner, source: str, result):
        return runner.attention(source) if result else None
