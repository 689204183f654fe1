"""SQuAD v1.1 JSON: {"data": [{"title", "paragraphs": [{"context", "qas": [{"id", "question", "answers"}]}]}]}."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from nlpcli.errors import InputError


@dataclass
class Question:
    id: str
    question: str
    context: str
    answers: list[str]
    answer_starts: list[int]
    title: str = ""


def read_squad(path: str | Path) -> list[Question]:
    path = Path(path)
    try:
        dataset = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise InputError(f"SQuAD file not found: {path}") from None
    except IsADirectoryError:
        raise InputError(f"SQuAD file {path} is a folder") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        if not path.read_bytes().strip():
            raise InputError(f"SQuAD file {path} is empty") from None
        raise InputError(f"{path}: not valid SQuAD JSON ({error})") from None
    if not isinstance(dataset, dict) or not isinstance(dataset.get("data"), list):
        raise InputError(f"{path}: not SQuAD v1.1 JSON (expected an object with a \"data\" list, found {type(dataset).__name__})")
    questions = []
    try:
        for a, article in enumerate(dataset["data"]):
            for p, paragraph in enumerate(article["paragraphs"]):
                for q, qa in enumerate(paragraph["qas"]):
                    where = f"data[{a}].paragraphs[{p}].qas[{q}]"
                    questions.append(Question(
                        id=str(_field(qa, "id", path, where)),
                        question=_field(qa, "question", path, where),
                        context=_field(paragraph, "context", path, f"data[{a}].paragraphs[{p}]"),
                        answers=[_field(ans, "text", path, f"{where}.answers") for ans in qa.get("answers", [])],
                        answer_starts=[int(ans.get("answer_start", -1)) for ans in qa.get("answers", [])],
                        title=article.get("title", ""),
                    ))
    except (KeyError, TypeError) as error:
        raise InputError(f"{path}: not SQuAD v1.1 JSON (missing or wrong {error})") from None
    return questions


def _field(record: dict, key: str, path: Path, where: str):
    if not isinstance(record, dict) or key not in record:
        raise InputError(f"{path}: {where} has no {key!r}")
    return record[key]
