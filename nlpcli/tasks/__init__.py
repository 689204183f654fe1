"""How a task or a translation direction is requested from the shared model:
a special token at the start of the encoder input, and the label sets of the
tasks that read their answer off the encoder."""
from __future__ import annotations

TASK_TOKENS = {
    "summarize": "<summarize>",
    "answer": "<answer>",
    "classify-sentiment": "<sentiment>",
    "tag-entities": "<entities>",
}
TASKS = ("translate", *TASK_TOKENS)

SENTIMENT_LABELS = ("negative", "positive")
ENTITY_TYPES = ("PER", "ORG", "LOC", "MISC")
ENTITY_TAGS = ("O", *(f"{prefix}-{kind}" for kind in ENTITY_TYPES for prefix in ("B", "I")))


def language_token(language: str) -> str:
    return f"<2{language}>"


def parse_direction(direction: str) -> tuple[str, str]:
    """'en-de' -> ('en', 'de')"""
    source, sep, target = direction.partition("-")
    if not sep or not source or not target:
        raise ValueError(f"translation direction {direction!r} is not of the form SRC-TGT (e.g. en-de)")
    return source, target


def check_task(info, task: str) -> None:
    """Refuse a task the checkpoint was not trained for, listing what it serves."""
    from nlpcli.errors import InputError

    if task not in info.tasks:
        raise InputError(f"this checkpoint does not serve {task}; it serves: {', '.join(info.tasks) or 'nothing'}")
