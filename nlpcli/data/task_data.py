"""Training and dev examples of the tasks other than translation, read from
the formats their public data sets come in (see DatasetSpec). Each example
carries a ``carve_key`` so that a set without a dev split can be split by hash."""
from __future__ import annotations

import re
from pathlib import Path

from nlpcli.data.conll import read_conll
from nlpcli.data.jsonl import read_jsonl, string_field
from nlpcli.data.parallel import read_lines
from nlpcli.data.squad import read_squad
from nlpcli.errors import InputError
from nlpcli.tasks import ENTITY_TAGS

HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


def clean_text(text: str) -> str:
    """One line of plain text: HTML line breaks (IMDB) and newlines become spaces."""
    return " ".join(HTML_BREAK.sub(" ", text).split())


def read_task_examples(spec, path: Path) -> list[dict]:
    readers = {"jsonl": read_jsonl_examples, "glue-tsv": read_glue_tsv, "conll": read_conll_examples, "squad": read_squad_examples}
    return readers[spec.format](spec, path)


def read_jsonl_examples(spec, path: Path) -> list[dict]:
    source_field, target_field = spec.fields
    examples = []
    for number, record in read_jsonl(path):
        where = f"{path}, line {number}"
        source = clean_text(string_field(record, source_field, where))
        if spec.task == "summarize":
            target = clean_text(string_field(record, target_field, where))
            if source and target:
                examples.append({"source": source, "target": target.lower() if spec.lowercase_target else target,
                                 "carve_key": source})
        else:
            examples.append({"text": source, "label": _label(record.get(target_field), where, target_field), "carve_key": source})
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


def read_conll_examples(spec, path: Path) -> list[dict]:
    sentences = read_conll(read_lines(path), str(path))
    for sentence in sentences:
        for tag, line in zip(sentence.tags, sentence.lines):
            if tag not in ENTITY_TAGS:
                raise InputError(f"{path}, line {line}: tag {tag!r} is not one of {', '.join(ENTITY_TAGS)}")
    return [{"tokens": s.tokens, "tags": s.tags, "carve_key": " ".join(s.tokens)} for s in sentences]


def read_squad_examples(spec, path: Path) -> list[dict]:
    return [
        {"id": q.id, "question": q.question, "context": q.context, "answer": q.answers[0],
         "answer_start": q.answer_starts[0], "carve_key": q.title}
        for q in read_squad(path) if q.answers
    ]
