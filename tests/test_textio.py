"""Readers and writers keep one record per input line, whatever the bytes."""
import io

from hypothesis import given, settings
from hypothesis import strategies as st

from nlpcli.textio import read_records

line_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=40)


@given(st.lists(line_text, max_size=30), st.sampled_from(["\n", "\r\n"]), st.booleans())
@settings(max_examples=200, deadline=None)
def test_records_in_equal_records_out(lines, ending, bom):
    data = (b"\xef\xbb\xbf" if bom else b"") + "".join(line + ending for line in lines).encode("utf-8")
    records = list(read_records(io.BytesIO(data), "t"))
    assert [r.line for r in records] == list(range(1, len(lines) + 1))
    for record, line in zip(records, lines):
        assert "\n" not in record.text and "\r" not in record.text and "\x00" not in record.text
        assert len(record.text) == len(line)
    # the text itself comes back: a leading BOM dropped, control characters (not tab) read as spaces
    expected = [line.removeprefix("\ufeff") if number == 1 else line for number, line in enumerate(lines, start=1)] \
        if not bom else lines
    expected = ["".join(" " if (ord(c) < 0x20 and c != "\t") or c == "\x7f" else c for c in line) for line in expected]
    assert [r.text for r in records] == expected


def test_control_characters_become_spaces_but_tabs_stay():
    records = list(read_records(io.BytesIO(b"a\x00b\tc\x1bd\n"), "t"))
    assert records[0].text == "a b\tc d"


def test_a_last_line_without_newline_is_a_record():
    assert [r.text for r in read_records(io.BytesIO(b"one\ntwo"), "t")] == ["one", "two"]
