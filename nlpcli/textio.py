"""Record streams: read input line by line in bounded chunks, write output in
input order, and turn every I/O problem into a one-line error naming the place."""
from __future__ import annotations

import io
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from nlpcli.errors import InputError, OutputClosed

# keep tab; everything else below U+0020 (and DEL) would corrupt line-based output
_CONTROL = {c: " " for c in list(range(0x00, 0x09)) + list(range(0x0A, 0x20)) + [0x7F]}


@dataclass
class Record:
    line: int  # 1-based line number in the input
    text: str


def open_input(path: str | None):
    """A binary stream for a path, or stdin for None / '-'."""
    if path in (None, "-"):
        return sys.stdin.buffer
    file = Path(path)
    if file.is_dir():
        raise InputError(f"input {path} is a directory, not a file")
    try:
        return open(file, "rb")
    except FileNotFoundError:
        raise InputError(f"input file not found: {path}") from None
    except PermissionError:
        raise InputError(f"input file is not readable: {path}") from None


def input_name(path: str | None) -> str:
    return "<stdin>" if path in (None, "-") else str(path)


def read_records(stream, name: str, encoding_errors: str = "strict", warn=None) -> Iterator[Record]:
    """Lines as records: a UTF-8 BOM and CR/LF endings are accepted; control
    characters become spaces; invalid UTF-8 is an error naming the line unless
    ``encoding_errors='replace'`` (then U+FFFD, with a warning)."""
    for number, raw in enumerate(stream, start=1):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
            if not raw:  # a file holding only a BOM is an empty file
                return
        raw = raw.rstrip(b"\n").rstrip(b"\r")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            if encoding_errors != "replace":
                raise InputError(
                    f"{name}, line {number}: invalid UTF-8 at byte {error.start} "
                    "(use --encoding-errors replace to substitute U+FFFD)"
                ) from None
            text = raw.decode("utf-8", errors="replace")
            if warn:
                warn(f"{name}, line {number}: invalid UTF-8 replaced by U+FFFD")
        yield Record(number, text.translate(_CONTROL))


def records_from(texts: list[str] | None, path: str | None, encoding_errors: str = "strict", warn=None) -> tuple[Iterator[Record], str]:
    """Records from command-line texts if given, else from a file or stdin."""
    if texts:
        return iter([Record(i, t.translate(_CONTROL)) for i, t in enumerate(texts, start=1)]), "<arguments>"
    name = input_name(path)
    return read_records(open_input(path), name, encoding_errors, warn), name


def chunks(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    iterator = iter(records)
    while chunk := list(islice(iterator, size)):
        yield chunk


def process_records(records: Iterable[Record], writer, handle_chunk, chunk_size: int, on_progress=None) -> int:
    """Feed records to ``handle_chunk`` in chunks and write what it returns (a
    list of output lines per record) in input order, flushing after each chunk,
    so memory stays bounded and a stopped run keeps every finished record."""
    count = 0
    for chunk in chunks(records, chunk_size):
        for lines in handle_chunk(chunk):
            for line in lines:
                writer.write(line)
        count += len(chunk)
        writer.flush()
        if on_progress:
            on_progress(count)
    return count


def record_handler(run, to_lines, source_name: str, warn, field: str | None = None, too_long: str = "", after=None):
    """A process_records chunk handler for a task that maps each text to one
    result: ``run(texts) -> (results, truncated)``, ``to_lines(text, result) -> lines``.
    With ``field`` the records are jsonl and the text is that field. A text cut
    to the model's window gets a warning naming its line, ending ``too_long``.
    ``after(record, text, result)`` runs for each record, in order (attention maps)."""
    def handle_chunk(chunk: list[Record]) -> list[list[str]]:
        texts = [field_of(r, field, source_name) if field else r.text for r in chunk]
        results, truncated = run(texts)
        for record, cut in zip(chunk, truncated):
            if cut:
                warn(f"{source_name}, line {record.line}: {too_long}")
        if after:
            for record, text, result in zip(chunk, texts, results):
                after(record, text, result)
        return [to_lines(text, result) for text, result in zip(texts, results)]

    return handle_chunk


def field_of(record: Record, field: str, name: str) -> str:
    """A string field of a jsonl record ('' for a blank line); errors name the line and field."""
    from nlpcli.data.jsonl import parse_object, string_field

    if not record.text.strip():
        return ""
    where = f"{name}, line {record.line}"
    return string_field(parse_object(record.text, where), field, where)


def stdin_is_interactive() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


class OutputWriter:
    """Writes records (lines) to a file or stdout, LF endings, flushed per chunk."""

    def __init__(self, path: str | None) -> None:
        self.owned = self.wrapped = False
        if path in (None, "-"):
            # our own UTF-8, LF-only view of stdout, whatever the locale says
            self.wrapped = hasattr(sys.stdout, "buffer")
            self.stream = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="\n", write_through=True) \
                if self.wrapped else sys.stdout
        else:
            folder = Path(path).parent
            if not folder.is_dir():
                raise InputError(f"cannot write {path}: folder {folder} does not exist")
            try:
                self.stream = open(path, "w", encoding="utf-8", newline="\n")
            except (PermissionError, IsADirectoryError) as error:
                raise InputError(f"cannot write {path}: {error.strerror}") from None
            self.owned = True

    def write(self, line: str) -> None:
        try:
            self.stream.write(line + "\n")
        except BrokenPipeError:
            raise OutputClosed from None

    def flush(self) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError:
            raise OutputClosed from None

    def close(self) -> None:
        self.flush()
        if self.owned:
            self.stream.close()
        elif self.wrapped:
            self.stream.detach()  # leaves sys.stdout itself open

    def __enter__(self) -> "OutputWriter":
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.close()
        except (OutputClosed, ValueError):
            pass
