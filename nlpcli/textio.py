"""Record streams: read input line by line in bounded chunks, write output in
input order, and turn every I/O problem into a one-line error naming the place."""
from __future__ import annotations

import errno
import io
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from nlpcli.errors import InputError, Interrupted, OutputClosed, OutputError

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


def chunks(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


@dataclass
class ChunkHandler:
    """What the streaming driver needs of a task. ``run(chunk)`` returns a result
    per item of the chunk; ``lines(item, result)`` the item's output lines (a blank
    record gets its own, usually one empty line); ``after(item, result)``, if
    given, runs for each item in input order before the chunk is written
    (attention maps); ``counts(item)``, if given, says which items the progress
    counts (CoNLL counts sentences, not the lines it passes through);
    ``closing()``, if given, the lines written after the last record (answer's
    squad format: one JSON object of every answer)."""
    run: Callable[[list], list]
    lines: Callable[[Any, Any], list[str]]
    after: Callable[[Any, Any], None] | None = None
    counts: Callable[[Any], bool] | None = None
    closing: Callable[[], list[str]] | None = None


def process_records(items: Iterable, writer, handler: ChunkHandler, chunk_size: int, on_progress=None) -> int:
    """The one streaming driver of every record stream (text and jsonl lines,
    CoNLL sentences, questions): feed ``items`` (each with the ``line`` that
    messages name) to the handler in chunks of ``chunk_size`` and write the
    output lines in input order, flushing after each chunk, so memory stays
    bounded and a stopped run keeps every record of the chunks it finished.
    Returns the count of items the progress counts."""
    count = 0
    for chunk in chunks(items, chunk_size):
        results = handler.run(chunk)
        if handler.after:
            for item, result in zip(chunk, results):
                handler.after(item, result)
        for item, result in zip(chunk, results):
            for line in handler.lines(item, result):
                writer.write(line)
        count += sum(map(handler.counts, chunk)) if handler.counts else len(chunk)
        writer.flush()
        if on_progress:
            on_progress(count)
    for line in handler.closing() if handler.closing else []:
        writer.write(line)
    return count


def record_handler(run, to_lines, source_name: str, warn, field: str | None = None, too_long: str = "",
                   after=None) -> ChunkHandler:
    """The chunk handler of a task that maps each text to one result:
    ``run(texts) -> (results, truncated)``, ``to_lines(text, result) -> lines``.
    With ``field`` the records are jsonl and the text is that field. A text cut
    to the model's window gets a warning naming its line, ending ``too_long``.
    ``after(record, text, result)`` runs for each record, in order (attention maps)."""
    def run_chunk(chunk: list[Record]) -> list[tuple[str, object]]:
        texts = [field_of(r, field, source_name) if field else r.text for r in chunk]
        results, truncated = run(texts)
        for record, cut in zip(chunk, truncated):
            if cut:
                warn(f"{source_name}, line {record.line}: {too_long}")
        return list(zip(texts, results))

    return ChunkHandler(run_chunk, lambda record, done: to_lines(*done),
                        after and (lambda record, done: after(record, *done)))


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


def discard_stdout() -> None:
    """Point stdout at /dev/null: what it still buffers can never be written (a
    closed pipe, a full disk), and Python would complain when it flushes at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def stdout_is_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


class OutputWriter:
    """Writes records (lines) to a file or stdout, LF endings, flushed per chunk.

    A file is written under a temporary name beside it (``NAME.XXXXXXXX.partial``)
    and renamed to NAME when the run ends well, so an earlier NAME is never
    replaced by a half-written file. A run that fails or is interrupted leaves NAME
    as it was and keeps the lines it finished in the .partial file, which the error
    message names. Devices and pipes (/dev/stdout, /dev/full, a FIFO) are written
    directly. Writing over the input file is refused."""

    def __init__(self, path: str | None, input_path: str | None = None) -> None:
        self.owned = self.wrapped = False
        self.name = "<stdout>" if path in (None, "-") else path
        self.target = self.partial = None  # the file's real path, and the temporary file beside it
        self.lines = 0
        if path in (None, "-"):
            # our own UTF-8, LF-only view of stdout, whatever the locale says
            self.wrapped = hasattr(sys.stdout, "buffer")
            self.stream = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="\n", write_through=True) \
                if self.wrapped else sys.stdout
        else:
            self.stream = self._open(path, input_path)
            self.owned = True

    def _open(self, path: str, input_path: str | None):
        given = Path(path)
        if given.is_dir():
            raise InputError(f"cannot write {path}: it is a folder")
        folder = given.parent
        if not folder.is_dir():
            raise InputError(f"cannot write {path}: folder {folder} does not exist")
        if input_path not in (None, "-") and given.exists() and Path(input_path).exists() \
                and os.path.samefile(given, input_path):
            raise InputError(f"-o {path} is the input file; write the output to another file")
        target = Path(os.path.realpath(given))  # through a symlink, as writing to it would go
        try:
            if target.exists() and not target.is_file():  # a device or a pipe: nothing to replace
                return open(target, "w", encoding="utf-8", newline="\n")
            if target.exists() and not os.access(target, os.W_OK):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
            handle, partial = tempfile.mkstemp(prefix=f"{target.name}.", suffix=".partial", dir=target.parent)
        except OSError as error:
            raise InputError(f"cannot write {path}: {error.strerror}") from None
        self.target, self.partial = target, Path(partial)
        return open(handle, "w", encoding="utf-8", newline="\n")

    def write(self, line: str) -> None:
        try:
            self.stream.write(line + "\n")
        except BrokenPipeError:
            raise OutputClosed from None
        except OSError as error:
            self._failed(error)
        self.lines += 1

    def flush(self) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError:
            raise OutputClosed from None
        except OSError as error:
            self._failed(error)

    def _failed(self, error: OSError):
        if not self.owned:
            discard_stdout()
        raise OutputError(f"cannot write {self.name}: {error.strerror}") from None

    def close(self) -> None:
        """The run went well: flush, and put the file in place."""
        self.flush()
        if self.owned:
            self.stream.close()
            if self.partial:
                mode = self.target.stat().st_mode if self.target.exists() else 0o666 & ~_umask()
                os.chmod(self.partial, mode & 0o7777)  # mkstemp makes owner-only files
                os.replace(self.partial, self.target)
        elif self.wrapped:
            self.stream.detach()  # leaves sys.stdout itself open

    def abandon(self) -> str | None:
        """The run failed: keep NAME as it was; return the file that keeps the
        finished lines, if there are any."""
        try:
            self.stream.flush()
        except (OSError, ValueError):  # the reason the run failed, or already closed
            pass
        if self.owned:
            self.stream.close()
        elif self.wrapped:
            self.stream.detach()
        if not self.partial:
            return None
        if self.lines and self.partial.stat().st_size:
            return str(self.partial)
        self.partial.unlink(missing_ok=True)
        return None

    def __enter__(self) -> "OutputWriter":
        return self

    def __exit__(self, kind, problem, trace) -> None:
        if problem is None:
            try:
                self.close()
            except OutputClosed:
                pass
            return
        try:
            kept = self.abandon()
        except OSError:
            kept = None
        if kept:
            note = f"the output finished before it is in {kept} ({self.target.name} was left as it was)"
            if isinstance(problem, KeyboardInterrupt):
                raise Interrupted(note) from None
            problem.add_note(note)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
