"""CoNLL files: one token a line, columns separated by white space, the tag in
the last column, a blank line between sentences, ``-DOCSTART-`` lines between
documents."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from nlpcli.errors import InputError

DOCSTART = "-DOCSTART-"
TAG = re.compile(r"O|[BIES]-\S+")  # what conlleval reads: IOB1, IOB2 or IOBES


@dataclass
class Sentence:
    tokens: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # input line of each token


def read_conll(lines, name: str, tagged: bool = True) -> list[Sentence]:
    """Sentences of (token, last-column tag). ``tagged=False`` reads tokens only."""
    sentences, current = [], Sentence()
    for number, line in enumerate(lines, start=1):
        line = line.rstrip("\r\n")
        if not line.strip():
            if current.tokens:
                sentences.append(current)
                current = Sentence()
            continue
        columns = line.split()
        if columns[0] == DOCSTART:
            continue
        if tagged and len(columns) < 2:
            raise InputError(f"{name}, line {number}: expected a token and a tag, found {line!r}")
        if tagged and not TAG.fullmatch(columns[-1]):
            raise InputError(f"{name}, line {number}: tag {columns[-1]!r} is not O, or B-, I-, E-, S- and a type (B-PER)")
        current.tokens.append(columns[0])
        current.tags.append(columns[-1] if tagged else "")
        current.lines.append(number)
    if current.tokens:
        sentences.append(current)
    return sentences
