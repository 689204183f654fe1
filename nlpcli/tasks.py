"""How a task or a translation direction is requested from the shared model:
a special token at the start of the encoder input."""
from __future__ import annotations


def language_token(language: str) -> str:
    return f"<2{language}>"


def parse_direction(direction: str) -> tuple[str, str]:
    """'en-de' -> ('en', 'de')"""
    source, sep, target = direction.partition("-")
    if not sep or not source or not target:
        raise ValueError(f"translation direction {direction!r} is not of the form SRC-TGT (e.g. en-de)")
    return source, target
