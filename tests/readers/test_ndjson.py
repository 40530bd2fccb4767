"""NDJSON: one object per line under the rules `.json` files obey, each failure placed at its
line and byte."""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pytest

from ingestd.core.chunking import ChunkLimits
from ingestd.errors import InvalidInput
from ingestd.readers.json import JsonReader
from ingestd.readers.ndjson import NdjsonReader
from tests.harness import Harness, stage_bytes, staged_records
from tests.readers.test_failure_positions import BAD


def read(tmp_path: Path, data: bytes) -> list[dict]:
    return staged_records(tmp_path, "f.ndjson", data, NdjsonReader())


def failure(tmp_path: Path, data: bytes) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        stage_bytes(tmp_path, "f.ndjson", data, NdjsonReader(), ChunkLimits(50, 1 << 20))
    return caught.value


def test_lines_blank_lines_crlf_a_bom_and_no_final_line_end(tmp_path):
    data = b'\xef\xbb\xbf{"a": 1}\r\n\r\n   \n\t{"b": "\xc3\xa9"}  \r\n{"c": [1, 2.5, null]}'
    assert read(tmp_path, data) == [{"a": 1}, {"b": "é"}, {"c": [1, 2.5, None]}]


def test_the_rules_of_json_files_hold_per_line(tmp_path):
    edges = b'{"max": 9223372036854775807, "min": -9223372036854775808}\n'
    assert read(tmp_path, edges) == [{"max": (1 << 63) - 1, "min": -(1 << 63)}]
    assert read(tmp_path, b'{"sku": "A", "sku": "B"}\n') == [{"sku": "B"}]
    assert read(tmp_path, b'{"s": "smile \\ud83d\\ude00"}\n') == [{"s": "smile 😀"}]


@pytest.mark.parametrize(
    ("line", "phrase"),
    [
        (b'{"ean": 9223372036854775808}', "beyond the signed 64-bit integer range"),
        (b'{"ean": 18446744073709551616}', "beyond the signed 64-bit integer range"),
        (b'{"ean": -9223372036854775809}', "beyond the signed 64-bit integer range"),
        (b'{"price": NaN}', "malformed JSON"),
        (b'{"price": Infinity}', "malformed JSON"),
        (b'{"price": 1e999}', "beyond the range of a double"),
        (b'{"name": "x\\ud800y"}', "lone UTF-16 surrogate"),
        (b'{"name": "caf\xe9"}', "not UTF-8"),
        (b"[1, 2]", "is an array, not an object"),
        (b'"text"', "is a string, not an object"),
        (b"null", "is null, not an object"),
        (b'{"a": 1} {"b": 2}', "malformed JSON"),
        (b'{"a": 1', "malformed JSON"),
    ],
)
def test_a_bad_line_fails_the_file_with_its_line_and_byte_offset(tmp_path, line, phrase):
    data = b'{"ok": 1}\n\n{"ok": 2}\n' + line + b'\n{"ok": 3}\n'
    error = failure(tmp_path, data)
    assert phrase in error.message, error.message
    assert error.where["line"] == 4 and error.where["record_index"] == 2
    assert data.index(line) <= error.where["byte_offset"] <= data.index(line) + len(line)


def test_a_syntax_error_is_placed_at_its_byte_even_after_multibyte_text(tmp_path):
    data = b'{"ok": 1}\n{"name": "Z\xc3\xbcrich \xe6\x9d\xb1", tru}\n'
    assert failure(tmp_path, data).where["byte_offset"] == data.index(b"tru}")


@pytest.mark.parametrize("kind", sorted(BAD))
@pytest.mark.parametrize("at", [0, 57, 199])
def test_a_failure_names_the_record_its_line_and_where_it_starts(tmp_path, kind, at):
    """The cases the JSON reader is held to, at the first line, in the middle and far beyond
    the first 64 kB read."""
    lines = [orjson.dumps({"sku": f"S{i}", "pad": "é" * 500}) for i in range(200)]
    lines[at] = BAD[kind]
    data = b"\n".join(lines) + b"\n"
    where = failure(tmp_path, data).where
    start = len(b"\n".join(lines[:at])) + (1 if at else 0)
    assert where["record_index"] == at and where["line"] == at + 1
    assert start <= where["byte_offset"] < start + len(BAD[kind])


def test_a_file_of_blank_lines_is_not_an_empty_catalog(tmp_path):
    assert "only blank lines" in failure(tmp_path, b"\n  \r\n\n").message


def test_through_an_ingestion_chunks_count_records_not_lines(tmp_path):
    h = Harness(tmp_path)
    try:
        data = b'\n{"a": 1}\n\n{"a": 2}\n{"a": 3}\n\n'
        assert h.run(h.drop("p.jsonl", data)) == "done"
        chunks = [m for m in h.sent if m["type"] == "chunk"]
        assert [c["record_offset"] for c in chunks] == [0, 2]
        assert [r["a"] for c in chunks for r in c["records"]] == [1, 2, 3]
        assert h.sent[-1]["source"]["file_type"] == "ndjson"
    finally:
        h.close()


VALUES = [
    b"0",
    b"-0",
    b"-0.0",
    b"1.5e3",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"9223372036854775808",
    b"18446744073709551615",
    b"18446744073709551616",
    b"123456789012345678901234567890",
    b"1e400",
    b"5e-324",
    b"true",
    b"false",
    b"null",
    b'""',
    b'"a\\"b"',
    b'"\\u00e9"',
    b'"\\ud83d\\ude00"',
    b'"\\ud800"',
    b'"\\udc00x"',
    b'"\xc3\xa9"',
    b'"\xe9"',
    b"NaN",
    b"[]",
    b"[1, [2, {}]]",
    b"{}",
    b'"\\/"',
    b"01",
    b"1.",
    b'"tab\there"',
    b"-",
    b"1e5000",
]


def _record(rng: random.Random) -> bytes:
    fields = [
        b'"%s": %s' % (rng.choice([b"a", b"b", b"sku", b"\xc3\xa9"]), rng.choice(VALUES))
        for _ in range(rng.randint(0, 4))
    ]
    return b"{" + b", ".join(fields) + b"}"


def _staged(tmp_path: Path, name: str, data: bytes, reader) -> object:
    try:
        stage_bytes(tmp_path, name, data, reader, ChunkLimits(1000, 1 << 20))
    except InvalidInput:
        return "rejected"
    return (tmp_path / f"{name}.staged").read_bytes()


@pytest.mark.parametrize("seed", range(150))
def test_differential_against_the_json_reader(tmp_path, seed):
    """The same records as a JSON array and as NDJSON, valid and not: both readers stage the
    same bytes, or both refuse."""
    rng = random.Random(seed)
    records = [_record(rng) for _ in range(rng.randint(1, 6))]
    as_json = _staged(tmp_path, "f.json", b"[" + b",\n".join(records) + b"]", JsonReader())
    as_ndjson = _staged(tmp_path, "f.ndjson", b"\n".join(records) + b"\n", NdjsonReader())
    assert as_ndjson == as_json, records


@pytest.mark.parametrize("at", [255, 256, 300, 700])
def test_a_record_that_cannot_be_staged_is_named_wherever_it_falls_in_its_batch(tmp_path, at):
    """Records handed over one by one are serialized a few hundred at a time by one call; a
    record orjson cannot write (a number beyond a double) is still named exactly, at a batch's
    edge or inside one."""
    lines = [orjson.dumps({"sku": f"S{i}"}) for i in range(800)]
    lines[at] = b'{"price": 1e999}'
    error = failure(tmp_path, b"\n".join(lines) + b"\n")
    assert "beyond the range of a double" in error.message, error.message
    assert error.where["record_index"] == at and error.where["line"] == at + 1


def test_a_bad_record_before_a_line_the_reader_refuses_is_the_one_told(tmp_path):
    """The file's first problem is reported, though the record waits in a batch while the
    reader goes on to the malformed line."""
    lines = [orjson.dumps({"sku": f"S{i}"}) for i in range(500)]
    lines[300], lines[310] = b'{"price": 1e999}', b'{"sku": '
    error = failure(tmp_path, b"\n".join(lines) + b"\n")
    assert "beyond the range of a double" in error.message, error.message
    assert error.where["record_index"] == 300
