"""A failure report names the failing record: its 0-based index and the byte offset of its first
byte in the file (with its line), whichever reader path found the fault and wherever it is."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from ingestd.core.chunking import ChunkLimits
from ingestd.errors import InvalidInput
from ingestd.readers.excel.reference import ExcelReader
from ingestd.readers.json.reference import JsonReader
from tests import workbooks
from tests.harness import stage_bytes

PADDING = "x" * 900  # about 1 kB a record: record 200 lies far beyond the first 64 kB read
BAD = {
    "syntax": b'{"sku": "BAD", "active": tru}',
    "nan": b'{"sku": "BAD", "price": NaN}',
    "integer beyond 64 bits": b'{"sku": "BAD", "ean": 9223372036854775808}',
    "double overflow": b'{"sku": "BAD", "price": 1e999}',
    "lone surrogate": b'{"sku": "BAD", "name": "caf\\ud800"}',
    "not an object": b"42",
    "unquoted key": b'{sku: "BAD"}',
}


def good(i: int, text: str = "plain") -> bytes:
    return orjson.dumps({"sku": f"S{i}", "name": text, "pad": PADDING})


def document(bad_at: int, bad: bytes, count: int, text: str = "plain", wrap: bool = False):
    """The file's bytes and the offset of the bad record's first byte."""
    head = b'{"meta": {"n": 1},\n "products": [\n  ' if wrap else b"[\n  "
    records = [good(i, text) for i in range(count)]
    records[bad_at] = bad
    before = head + b",\n  ".join(records[:bad_at]) + (b",\n  " if bad_at else b"")
    data = head + b",\n  ".join(records) + b"\n]" + (b"}" if wrap else b"")
    return data, len(before)


def failure(tmp_path: Path, data: bytes, reader) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        stage_bytes(tmp_path, "f", data, reader, ChunkLimits(50, 1 << 20))
    return caught.value


PLACES = {
    "first record": (0, 100, "plain"),
    "middle": (50, 100, "plain"),
    "last record": (99, 100, "plain"),
    "after multi-byte characters": (7, 100, "Zürich · 東京 😀"),
    "beyond the first read buffer": (200, 260, "plain"),
}


@pytest.mark.parametrize("kind", sorted(BAD))
@pytest.mark.parametrize("place", sorted(PLACES))
@pytest.mark.parametrize("wrap", [False, True], ids=["top-level array", "json_items_path"])
def test_a_json_failure_names_the_record_and_the_byte_where_it_starts(tmp_path, kind, place, wrap):
    """The fast reader declines and the reference reader decides (a top-level array); a nested
    array has the reference reader only. Either way the position is exact."""
    bad_at, count, text = PLACES[place]
    data, offset = document(bad_at, BAD[kind], count, text, wrap)
    reader = JsonReader("products.item" if wrap else "item")
    where = failure(tmp_path, data, reader).where
    assert where["record_index"] == bad_at
    assert where["byte_offset"] == offset
    assert data[offset:].startswith(BAD[kind])
    assert where["line"] == data[:offset].count(b"\n") + 1
    assert where["records_before_error"] == bad_at


def test_a_missing_comma_is_placed_at_the_record_after_it(tmp_path):
    data = b'[{"a": 1},\n {"a": 2}\n {"a": 3}]'
    where = failure(tmp_path, data, JsonReader()).where
    assert where["record_index"] == 2 and where["byte_offset"] == data.index(b'{"a": 3}')


@pytest.mark.parametrize("tail", [b" trailing", b"]", b",{}"])
def test_text_after_the_array_is_placed_where_it_starts(tmp_path, tail):
    array = b'[{"a": 1}, {"a": 2}]\n'
    data = array + tail
    where = failure(tmp_path, data, JsonReader()).where
    assert where["after_the_array"] is True and where["records_before_error"] == 2
    assert where["byte_offset"] == data.index(tail.strip(), len(array)) and where["line"] == 2
    assert "record_index" not in where


def test_a_truncated_file_is_placed_at_the_record_it_cuts(tmp_path):
    data, offset = document(30, good(30), 40)
    cut = data[: offset + 20]
    where = failure(tmp_path, cut, JsonReader()).where
    assert where["record_index"] == 30 and where["byte_offset"] == offset


def test_a_utf8_bom_counts_in_the_offset(tmp_path):
    data, offset = document(3, BAD["nan"], 5)
    where = failure(tmp_path, b"\xef\xbb\xbf" + data, JsonReader()).where
    assert where["byte_offset"] == offset + 3


@pytest.mark.parametrize("bad_row", [0, 40, 79])
def test_an_excel_failure_names_the_record_and_its_row(tmp_path, bad_row):
    """Found by the reader (a value under an empty header) or after it (an integer cell beyond
    64 bits, as a hand-edited sheet can hold), by the streaming reader or openpyxl."""
    rows = [["sku", "ean", None]] + [[f"S{i}", i, None] for i in range(80)]
    rows[1 + bad_row][2] = "stray"
    path = workbooks.write(tmp_path / "t.xlsx", {"S": rows})
    where = failure(tmp_path, path.read_bytes(), ExcelReader()).where
    assert where == {"record_index": bad_row, "sheet": "S", "row": bad_row + 2, "column": "C"}


@pytest.mark.parametrize("bad_row", [0, 40, 79])
def test_an_excel_integer_beyond_64_bits_names_its_record_and_row(tmp_path, bad_row):
    rows = [["sku", "ean"]] + [[f"S{i}", 1_000_000 + i] for i in range(80)]
    path = workbooks.write(tmp_path / "t.xlsx", {"S": rows})
    value = f"<v>{1_000_000 + bad_row}</v>".encode()
    workbooks.edit(
        path,
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace(value, b"<v>99999999999999999999</v>"),
    )
    where = failure(tmp_path, path.read_bytes(), ExcelReader()).where
    assert where["record_index"] == bad_row and where["row"] == bad_row + 2
    assert where["field"] == "ean" and where["value"] == "99999999999999999999"
