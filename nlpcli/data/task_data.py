"""Training and dev examples of text tasks, read from the formats their public
data sets come in (the tasks in nlpcli/tasks/ name these readers as their
formats). Each example carries a ``carve_key`` so that a set without a dev
split can be split by hash."""
from __future__ import annotations

import re
from pathlib import Path

from nlpcli.data.jsonl import read_jsonl, string_field
from nlpcli.data.parallel import read_lines
from nlpcli.errors import InputError

HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


def clean_text(text: str) -> str:
    """One line of plain text: HTML line breaks (IMDB) and newlines become spaces."""
    return " ".join(HTML_BREAK.sub(" ", text).split())


def read_document_pairs(spec, path: Path) -> list[dict]:
    """jsonl, ``spec.fields`` = [source field, target field]: {"source", "target"}
    examples; a record with either side blank is left out."""
    source_field, target_field = spec.fields
    examples = []
    for number, record in read_jsonl(path):
        where = f"{path}, line {number}"
        source = clean_text(string_field(record, source_field, where))
        target = clean_text(string_field(record, target_field, where))
        if source and target:
            examples.append({"source": source, "target": target.lower() if spec.lowercase_target else target,
                             "carve_key": source})
    return examples


def read_labelled_texts(spec, path: Path) -> list[dict]:
    """jsonl, ``spec.fields`` = [text field, label field]: {"text", "label"} examples, labels 0 or 1."""
    text_field, label_field = spec.fields
    examples = []
    for number, record in read_jsonl(path):
        where = f"{path}, line {number}"
        text = clean_text(string_field(record, text_field, where))
        examples.append({"text": text, "label": _label(record.get(label_field), where, label_field), "carve_key": text})
    return examples


def read_glue_tsv(spec, path: Path) -> list[dict]:
    lines = read_lines(path)
    header = lines[0].split("\t") if lines else []
    missing = [f for f in spec.fields if f not in header]
    if missing:
        raise InputError(f"{path}, line 1: header {header} lacks column(s) {missing}")
    text_column, label_column = (header.index(f) for f in spec.fields)
    examples = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split("\t")
        text = clean_text(cells[text_column])
        examples.append({"text": text, "label": _label(cells[label_column].strip(), f"{path}, line {number}", spec.fields[1]),
                         "carve_key": text})
    return examples


def _label(value, where: str, field: str) -> int:
    if str(value) not in ("0", "1"):
        raise InputError(f"{where}: field {field!r} must be 0 (negative) or 1 (positive), found {value!r}")
    return int(value)
