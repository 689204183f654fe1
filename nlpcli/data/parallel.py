"""Readers for parallel (translation) corpora.

An example is a dict {language: sentence}, so one corpus serves both directions.
"""
from __future__ import annotations

import zlib
from pathlib import Path

from nlpcli.errors import InputError


def read_lines(path: Path) -> list[str]:
    try:
        with open(path, encoding="utf-8-sig", newline=None) as handle:
            return [line.rstrip("\n") for line in handle]
    except FileNotFoundError:
        raise InputError(f"data file not found: {path}") from None
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not valid UTF-8 ({error.reason} at byte {error.start})") from None


def read_line_aligned(prefix: Path, languages: list[str]) -> list[dict[str, str]]:
    """``prefix.en``, ``prefix.de``, ...: line i of each file is one example."""
    columns = {lang: read_lines(Path(f"{prefix}.{lang}")) for lang in languages}
    counts = {lang: len(lines) for lang, lines in columns.items()}
    if len(set(counts.values())) > 1:
        raise InputError(f"{prefix}.*: files have different line counts {counts}")
    return [dict(zip(columns, texts)) for texts in zip(*columns.values())]


def read_tab_separated(path: Path, languages: list[str]) -> list[dict[str, str]]:
    """One example a line, one column per language (extra columns are ignored)."""
    examples = []
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) < len(languages):
            raise InputError(f"{path}, line {number}: expected {len(languages)} tab-separated columns, found {len(cells)}")
        examples.append(dict(zip(languages, cells)))
    return examples


def in_carved_dev(key: str, dev_percent: float) -> bool:
    """Deterministic split by a hash of ``key``: the same key (e.g. an English
    sentence with several translations) always lands on the same side."""
    return zlib.crc32(key.encode("utf-8")) % 10_000 < dev_percent * 100


def carve(examples: list[dict[str, str]], key_language: str, dev_percent: float, split: str) -> list[dict[str, str]]:
    want_dev = split == "dev"
    return [ex for ex in examples if in_carved_dev(ex[key_language], dev_percent) == want_dev]


def drop_empty(examples: list[dict[str, str]]) -> list[dict[str, str]]:
    return [ex for ex in examples if all(text.strip() for text in ex.values())]
