"""CSV and TSV: every value the string written, the header's names by Excel's rules, and every
failure placed at its physical line."""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

import pytest

from ingestd.core.chunking import ChunkLimits
from ingestd.errors import InvalidInput
from ingestd.readers.csv import CsvReader
from ingestd.readers.csv.reader import FIELD_LIMIT
from tests.harness import Harness, stage_bytes, staged_records


def read(tmp_path: Path, data: bytes, **settings) -> list[dict]:
    return staged_records(tmp_path, "f.csv", data, CsvReader(**settings))


def failure(tmp_path: Path, data: bytes, **settings) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        stage_bytes(tmp_path, "f.csv", data, CsvReader(**settings), ChunkLimits(50, 1 << 20))
    return caught.value


def test_every_value_is_the_string_written(tmp_path):
    data = b'ean,price,flag,date,empty,quoted\n0752917034236,1.50,TRUE,2026-01-02,,""\n'
    assert read(tmp_path, data) == [
        {
            "ean": "0752917034236",
            "price": "1.50",
            "flag": "TRUE",
            "date": "2026-01-02",
            "empty": "",
            "quoted": "",
        }
    ]


def test_quoted_fields_hold_delimiters_doubled_quotes_and_line_breaks(tmp_path):
    data = b'a,b\r\n"x, y","say ""hi"""\r\n"two\r\nlines","\n"\r\n'
    assert read(tmp_path, data) == [
        {"a": "x, y", "b": 'say "hi"'},
        {"a": "two\r\nlines", "b": "\n"},
    ]


def test_a_utf8_byte_order_mark_is_dropped(tmp_path):
    assert read(tmp_path, b"\xef\xbb\xbfsku\nA\n") == [{"sku": "A"}]


def test_a_utf8_byte_order_mark_in_an_8_bit_encoding_fails_saying_what_to_set(tmp_path):
    error = failure(tmp_path, b"\xef\xbb\xbfsku\nA\n", encoding="cp1252")
    assert 'set csv_encoding = "utf-8"' in error.message


@pytest.mark.parametrize(
    ("encoding", "data", "line", "offset"),
    [
        ("utf-8", b"sku,name\nA,ok\nB,caf\xe9\n", 3, 19),
        ("utf-8", b"sku,name\nA,ok\nB,caf\xc3", 3, 19),  # cut off inside a character
        ("cp1252", b"sku,name\nA,\x81\n", 2, 11),
        ("utf-16", "sku\nA\n".encode("utf-16") + b"\x00", 3, 14),  # an odd byte at the end
    ],
)
def test_bytes_invalid_in_the_encoding_fail_with_their_line_and_what_to_set(
    tmp_path, encoding, data, line, offset
):
    error = failure(tmp_path, data, encoding=encoding)
    assert error.where["line"] == line and error.where["byte_offset"] == offset
    assert f"not {encoding} text" in error.message and "set csv_encoding" in error.message


def test_an_invalid_byte_beyond_the_first_block_is_placed_exactly(tmp_path):
    rows = [f"S{i},{'é' * 40}\n".encode() for i in range(3000)]
    rows[2500] = b"BAD,caf\xe9\n"
    data = b"sku,name\n" + b"".join(rows)
    error = failure(tmp_path, data)
    assert error.where["line"] == 2502
    assert error.where["byte_offset"] == data.index(b"caf\xe9") + 3


def test_latin_1_reads_any_byte(tmp_path):
    assert read(tmp_path, b"n\n\xe9\x81\xff\n", encoding="latin-1") == [{"n": "\xe9\x81\xff"}]


def test_the_header_is_trimmed_and_an_empty_column_without_values_is_dropped(tmp_path):
    data = b" sku ,\tname ,\nA,b,\nC,d,\n"
    assert read(tmp_path, data) == [{"sku": "A", "name": "b"}, {"sku": "C", "name": "d"}]


def test_a_duplicate_header_fails_naming_the_columns_unless_renaming(tmp_path):
    error = failure(tmp_path, b"sku,name,sku\nA,b,c\n")
    assert error.where["columns"] == ["A", "C"] and error.where["line"] == 1
    assert 'csv_header_conflicts = "rename"' in error.message
    assert read(tmp_path, b"sku,name,sku\nA,b,c\n", header_conflicts="rename") == [
        {"sku": "A", "name": "b", "sku_2": "c"}
    ]


def test_a_value_under_an_empty_header_fails_with_its_line_and_column(tmp_path):
    data = b"sku,,name\nA,,b\n\nC,lost?,d\n"
    error = failure(tmp_path, data)
    assert error.where == {"record_index": 1, "line": 4, "column": "B"}
    assert "column_B" in error.message


def test_renaming_names_a_column_by_its_letter_skipping_names_the_header_has(tmp_path):
    header = ",".join(["h"] * 26 + ["", "column_AB", "column_AA"])
    row = ",".join(["v"] * 26 + ["x", "y", "z"])
    data = f"{header}\n{row}\n{row.replace('x', '')}\n".encode()
    records = read(tmp_path, data, header_conflicts="rename")
    assert records[0]["column_AA_2"] == "x" and records[0]["column_AA"] == "z"
    assert records[0]["h_26"] == "v" and records[1]["column_AA_2"] == ""


def test_a_value_under_an_empty_header_found_late_is_a_column_of_every_record(tmp_path):
    data = b"sku,\n" + b"".join(b"S%d,\n" % i for i in range(5000)) + b"LAST,late\n"
    records = read(tmp_path, data, header_conflicts="rename")
    assert len(records) == 5001
    assert records[0] == {"sku": "S0", "column_B": ""}
    assert records[-1] == {"sku": "LAST", "column_B": "late"}


def test_a_row_with_more_or_fewer_fields_fails_with_its_line_and_both_counts(tmp_path):
    error = failure(tmp_path, b"sku,name\nA,b\n\nC\n")
    assert error.where == {"record_index": 1, "line": 4, "fields": 1, "header_fields": 2}
    error = failure(tmp_path, b"sku,name\nA,b\nC,d,e\n")
    assert error.where["fields"] == 3 and "has 3 fields where the header has 2" in error.message


def test_blank_lines_and_rows_of_delimiters_are_skipped_and_lines_still_counted(tmp_path):
    data = b'sku,name\n\n,\nA,"multi\nline"\n\r\n,\nB,x,y\n'
    error = failure(tmp_path, data)
    assert error.where["line"] == 8 and error.where["record_index"] == 1


def test_a_header_only_file_is_an_empty_catalog_and_an_empty_one_fails(tmp_path):
    assert read(tmp_path, b"sku,name\r\n") == []
    assert "ends before line 1" in failure(tmp_path, b"\xef\xbb\xbf").message
    assert "is blank" in failure(tmp_path, b"\n\nsku\n", header_row=2).message


def test_csv_header_row_skips_the_lines_above_the_header(tmp_path):
    data = b"Export of 2026-12-01, all shops\n\nsku,name\nA,b\n"
    assert read(tmp_path, data, header_row=3) == [{"sku": "A", "name": "b"}]


@pytest.mark.parametrize(
    ("data", "line", "phrase"),
    [
        (b'sku,name\nA,"never closed\nB,c\n', 2, "not closed before the end of the file"),
        (b'sku,name\nA,"quoted"then\n', 2, "not valid CSV"),
        (b"sku,name\nA," + b'"' + b"x" * (FIELD_LIMIT + 10) + b'"\n', 2, "a quote out of place"),
    ],
)
def test_malformed_csv_fails_with_its_line(tmp_path, data, line, phrase):
    error = failure(tmp_path, data)
    assert error.where["line"] == line and phrase in error.message


def test_a_failure_report_names_the_physical_line_and_records_count_records_only(tmp_path):
    """Through a whole ingestion: blank lines and multi-line values move lines, not indices."""
    h = Harness(tmp_path)
    try:
        data = b'sku,name\n\nA,"x\ny"\n\nB,b\nC,c\n\n\nD,d,EXTRA\n'
        assert h.run(h.drop("p.csv", data)) == "failed"
        report = h.report()
        assert report["where"]["line"] == 10 and report["where"]["record_index"] == 3
        assert h.sent == []
        assert h.run(h.drop("q.csv", data.replace(b",EXTRA", b""))) == "done"
        offsets = [m["record_offset"] for m in h.sent if m["type"] == "chunk"]
        assert offsets == [0, 2]
        assert h.sent[-1]["source"]["file_type"] == "csv"
    finally:
        h.close()


DIALECTS = [
    {"delimiter": ",", "lineterminator": "\r\n", "quoting": csv.QUOTE_MINIMAL},
    {"delimiter": ";", "lineterminator": "\n", "quoting": csv.QUOTE_ALL},
    {"delimiter": "\t", "lineterminator": "\r\n", "quoting": csv.QUOTE_MINIMAL},
    {"delimiter": "|", "lineterminator": "\n", "quoting": csv.QUOTE_NONNUMERIC},
]
ALPHABET = ["a", "Z", "0", " ", ",", ";", "\t", "|", '"', "\n", "\r\n", "é", "東", "😀", "'", "\\"]


def _table(rng: random.Random) -> tuple[list[str], list[list[str]]]:
    width = rng.randint(1, 6)
    header = [f"h{i}" for i in range(width)]
    rows = []
    for _ in range(rng.randint(0, 30)):
        row = ["".join(rng.choices(ALPHABET, k=rng.randint(0, 8))) for _ in range(width)]
        if any(row):
            rows.append(row)
    return header, rows


@pytest.mark.parametrize("seed", range(60))
def test_differential_against_csv_dictreader(tmp_path, seed):
    """Random tables, written by the csv module in four dialects and three encodings, read the
    same by this reader as by the standard library's DictReader."""
    rng = random.Random(seed)
    header, rows = _table(rng)
    dialect = DIALECTS[seed % len(DIALECTS)]
    encoding = ["utf-8", "utf-16", "utf-8"][seed % 3]
    text = io.StringIO(newline="")
    writer = csv.writer(text, **dialect)
    writer.writerow(header)
    writer.writerows(rows)
    data = text.getvalue().encode(encoding)
    expected = list(csv.DictReader(io.StringIO(text.getvalue(), newline=""), **_reading(dialect)))
    expected = [row for row in expected if any(row.values())]
    got = read(tmp_path, data, delimiter=dialect["delimiter"], encoding=encoding)
    assert got == expected


def _reading(dialect: dict) -> dict:
    return {"delimiter": dialect["delimiter"], "strict": True}
