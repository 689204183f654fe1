"""Summarization as a library call: documents in, one summary each, in input order.

The encoder reads ``<summarize> document </s>``, cut to the checkpoint's
summarization window; the decoder writes the summary.
"""
from __future__ import annotations

from nlpcli.decoding import GenerationSettings
from nlpcli.tasks import TASKS
from nlpcli.tasks.base import Generated, TextGenerator

Summary = Generated  # a summary is a text the decoder wrote, as a translation is


class Summarizer(TextGenerator):
    """The summarize task's runner, as a library call."""

    def __init__(self, model, tokenizer, device: str = "cpu", window: int = 0) -> None:
        super().__init__(TASKS["summarize"], model, tokenizer, device, window)

    def summarize(self, documents: list[str], settings: GenerationSettings) -> tuple[list[Summary | None], list[bool]]:
        """Per document its summary (None for a blank one) and whether it was cut to the window."""
        return self.run(documents, settings)


def lead_baseline(document: str, max_words: int = 0) -> str:
    """The first sentence of a document (or its first ``max_words`` words): the
    baseline a summarizer has to beat."""
    import re

    first = re.split(r"(?<=[.!?])\s+|\n", document.strip(), maxsplit=1)[0]
    return " ".join(first.split()[:max_words]) if max_words else first
