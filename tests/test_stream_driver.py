"""The one streaming driver (textio.process_records) that every record stream
goes through: chunks in input order and bounded, blank records passed through,
and a run stopped mid-stream keeps every earlier chunk's output whole."""
import io

import pytest

from nlpcli.tasks.entities import ConllSentence, conll_items
from nlpcli.textio import ChunkHandler, OutputWriter, Record, process_records, read_records


class ListWriter:
    def __init__(self) -> None:
        self.lines, self.flushed = [], []

    def write(self, line: str) -> None:
        self.lines.append(line)

    def flush(self) -> None:
        self.flushed.append(len(self.lines))


def records(texts):
    return [Record(number, text) for number, text in enumerate(texts, start=1)]


def upper_handler(seen: list, after=None, counts=None) -> ChunkHandler:
    """Upper-cases each record; a blank record gets one empty line; remembers the chunks it ran."""
    def run(chunk):
        seen.append([r.line for r in chunk])
        return [r.text.upper() for r in chunk]

    return ChunkHandler(run, lambda record, result: [result], after, counts)


@pytest.mark.parametrize("size", [1, 2, 3, 7, 100])
def test_chunks_come_in_input_order_bounded_and_blank_records_pass_through(size):
    texts = ["a", "", "b", "c", "", "", "d"]
    seen, writer, progress = [], ListWriter(), []
    count = process_records(records(texts), writer, upper_handler(seen), size, progress.append)
    assert count == len(texts)
    assert writer.lines == [t.upper() for t in texts]  # one line per record, blanks included, in order
    assert [line for chunk in seen for line in chunk] == list(range(1, len(texts) + 1))
    assert all(len(chunk) <= size for chunk in seen) and all(len(chunk) == size for chunk in seen[:-1])
    # flushed and counted once per chunk, after its lines
    ends = [sum(len(c) for c in seen[: i + 1]) for i in range(len(seen))]
    assert writer.flushed == ends and progress == ends


def test_the_driver_reads_no_further_than_the_chunk_it_runs():
    read = []

    def lazy():
        for record in records(["a", "b", "c", "d", "e"]):
            read.append(record.line)
            yield record

    seen = []

    def run(chunk):
        seen.append(list(read))  # what had been read when this chunk ran
        return [r.text for r in chunk]

    process_records(lazy(), ListWriter(), ChunkHandler(run, lambda r, t: [t]), 2)
    assert seen == [[1, 2], [1, 2, 3, 4], [1, 2, 3, 4, 5]]


def test_the_hook_sees_each_item_and_result_in_order_before_the_chunk_is_written():
    writer, calls = ListWriter(), []
    process_records(records(["x", "", "y"]), writer,
                    upper_handler([], after=lambda r, result: calls.append((r.line, result, len(writer.lines)))), 2)
    assert calls == [(1, "X", 0), (2, "", 0), (3, "Y", 2)]


def test_an_error_mid_stream_leaves_every_earlier_chunk_written(tmp_path):
    class Broken(Exception):
        pass

    def run(chunk):
        if any(r.text == "boom" for r in chunk):
            raise Broken
        return [[r.text, r.text] for r in chunk]  # two lines per record: records must stay whole

    out = tmp_path / "out.txt"
    with pytest.raises(Broken) as raised:
        with OutputWriter(str(out)) as writer:
            process_records(records(["a", "b", "c", "d", "boom", "e"]), writer, ChunkHandler(run, lambda r, lines: lines), 2)
    assert not out.exists()  # the run failed: the output is not put in place ...
    kept = next(tmp_path.glob("out.txt.*.partial"))  # ... but the finished chunks are kept, and named
    assert kept.read_text() == "a\na\nb\nb\nc\nc\nd\nd\n"
    assert str(kept) in "".join(raised.value.__notes__)


def test_keyboard_interrupt_keeps_finished_chunks_whole(tmp_path):
    from nlpcli.errors import Interrupted

    def run(chunk):
        if chunk[0].line == 3:
            raise KeyboardInterrupt
        return [r.text for r in chunk]

    out = tmp_path / "out.txt"
    out.write_text("earlier\n")
    with pytest.raises(Interrupted):
        with OutputWriter(str(out)) as writer:
            process_records(records(["a", "b", "c", "d"]), writer, ChunkHandler(run, lambda r, t: [t]), 2)
    assert out.read_text() == "earlier\n"
    assert next(tmp_path.glob("out.txt.*.partial")).read_text() == "a\nb\n"


def test_conll_sentences_are_one_item_each_and_only_they_are_counted():
    text = "-DOCSTART- -X- O\n\nJohn X B\nlives X O\n\nParis X B\n\n\nBerlin X B\n"
    items = list(conll_items(read_records(io.BytesIO(text.encode()), "t")))
    kinds = [(type(item).__name__, item.line) for item in items]
    assert kinds == [("Record", 1), ("Record", 2), ("ConllSentence", 3), ("Record", 5), ("ConllSentence", 6),
                     ("Record", 7), ("Record", 8), ("ConllSentence", 9)]
    assert [r.line for r in items[2].records] == [3, 4]

    def run(chunk):
        return [[r.text.split()[0].upper() for r in item.records] if isinstance(item, ConllSentence) else None
                for item in chunk]

    def lines(item, tokens):
        return [item.text] if tokens is None else tokens

    writer, progress = ListWriter(), []
    count = process_records(items, writer, ChunkHandler(run, lines, counts=lambda item: isinstance(item, ConllSentence)),
                            3, progress.append)
    # the output lines up with the input, line for line
    assert writer.lines == ["-DOCSTART- -X- O", "", "JOHN", "LIVES", "", "PARIS", "", "", "BERLIN"]
    assert count == 3 and progress == [1, 2, 3]
