"""JSON Lines: one object a line; errors name the file, line and field."""
from __future__ import annotations

import json
from pathlib import Path

from nlpcli.data.parallel import read_lines
from nlpcli.errors import InputError


def parse_object(line: str, where: str) -> dict:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as error:
        raise InputError(f"{where}: invalid JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected a JSON object, found {type(value).__name__}")
    return value


def string_field(record: dict, key: str, where: str) -> str:
    if key not in record:
        raise InputError(f"{where}: missing field {key!r}")
    value = record[key]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value[0] if key in ("annotations", "target") else " ".join(value)
    if not isinstance(value, str):
        raise InputError(f"{where}: field {key!r} must be a string, found {type(value).__name__}")
    return value


def read_jsonl(path: Path) -> list[tuple[int, dict]]:
    """(line number, object) for every non-blank line."""
    return [(number, parse_object(line, f"{path}, line {number}"))
            for number, line in enumerate(read_lines(path), start=1) if line.strip()]
