"""Excel workbooks through the same pipeline as JSON: values, headers, sheets, hostile files."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from ingestd.core.chunking import ChunkLimits
from ingestd.errors import InvalidInput
from ingestd.readers import ReadDetails, SourceStream
from ingestd.readers.excel.reference import ExcelReader
from tests import workbooks
from tests.harness import Harness
from tests.workbooks import BILLION_LAUGHS, ExcelError

HEADER = [
    "sku",
    "qty",
    "price",
    "active",
    "empty",
    "day",
    "moment",
    "clock",
    "error",
    "ref",
    "note",
]
ROW = [
    "A-1",
    3,
    2.5,
    True,
    None,
    dt.date(2026, 11, 26),
    dt.datetime(2026, 11, 26, 13, 45, 7),
    dt.time(8, 30, 15),
    ExcelError("#N/A"),
    ExcelError("#REF!"),
    "  keeps spaces ",
]
EXPECTED = {
    "sku": "A-1",
    "qty": 3,
    "price": 2.5,
    "active": True,
    "empty": None,
    "day": "2026-11-26",
    "moment": "2026-11-26T13:45:07",
    "clock": "08:30:15",
    "error": "#N/A",
    "ref": "#REF!",
    "note": "  keeps spaces ",
}


@pytest.fixture
def h(tmp_path):
    harness = Harness(tmp_path, ChunkLimits(2, 1 << 20))
    yield harness
    harness.close()


def read(path: Path, reader: ExcelReader | None = None) -> tuple[list[dict], ReadDetails]:
    fd = os.open(path, os.O_RDONLY)
    details = ReadDetails()
    try:
        return list((reader or ExcelReader()).records(SourceStream(fd), details)), details
    finally:
        os.close(fd)


def fails(path: Path, match: str, reader: ExcelReader | None = None) -> InvalidInput:
    with pytest.raises(InvalidInput, match=match) as failure:
        read(path, reader)
    return failure.value


def test_each_kind_of_value_becomes_plain_json(tmp_path):
    """Numbers stay numbers (integers integers), dates become ISO text, errors their text."""
    path = workbooks.write(tmp_path / "t.xlsx", {"Products": [HEADER, ROW]})
    records, details = read(path)
    assert records == [EXPECTED]
    assert isinstance(records[0]["qty"], int)
    assert details.sheet == "Products" and details.notes == {}


def test_a_duration_becomes_hours_minutes_seconds(tmp_path):
    path = workbooks.write(tmp_path / "t.xlsx", {"S": [["d"], [dt.timedelta(hours=30, minutes=5)]]})
    assert read(path)[0] == [{"d": "30:05:00"}]


def test_an_excel_file_goes_through_the_whole_pipeline(h, tmp_path):
    """Claimed, staged, chunked, sent with file_type excel and the sheet name, then done/."""
    rows = [HEADER] + [ROW] * 5
    path = workbooks.write(tmp_path / "catalog.xlsx", {"Products": rows, "Other": [["x"], [1]]})
    claim = h.drop("catalog.xlsx", path.read_bytes())
    assert h.run(claim) == "done"
    assert h.chunk_numbers() == [0, 1, 2, "completion"]
    assert h.sent[0]["source"] == {
        "inbox": "products",
        "file_name": "catalog.xlsx",
        "file_type": "excel",
        "sheet": "Products",
    }
    assert h.received(h.sent[0]["ingestion_id"]) == [EXPECTED] * 5


def test_header_cells_are_trimmed_and_title_rows_skipped(tmp_path):
    rows = [["Catalog export"], [], ["  sku ", "name\t"], ["A", "x"]]
    path = workbooks.write(tmp_path / "t.xlsx", {"S": rows})
    assert read(path, ExcelReader(header_row=3))[0] == [{"sku": "A", "name": "x"}]


def test_a_column_without_header_and_without_values_is_dropped(tmp_path):
    rows = [["sku", None, "name"], ["A", None, "x"], ["B", "", "y"]]
    path = workbooks.write(tmp_path / "t.xlsx", {"S": rows})
    assert read(path)[0] == [{"sku": "A", "name": "x"}, {"sku": "B", "name": "y"}]


def test_a_value_under_an_empty_header_fails_naming_the_cell(tmp_path):
    """A record must never silently lose a field."""
    rows = [["sku", None, "name"], ["A", None, "x"], ["B", 7, "y"]]
    failure = fails(workbooks.write(tmp_path / "t.xlsx", {"S": rows}), "cell B3")
    assert failure.where == {"record_index": 1, "sheet": "S", "row": 3, "column": "B"}


def test_a_value_right_of_the_last_header_fails(tmp_path):
    rows = [["sku"], ["A", "stray"]]
    fails(workbooks.write(tmp_path / "t.xlsx", {"S": rows}), "cell B2")


def test_two_columns_with_the_same_header_fail_naming_both(tmp_path):
    """A record must never silently merge two fields."""
    rows = [["sku", "name", "sku"], ["A", "x", "B"]]
    failure = fails(workbooks.write(tmp_path / "t.xlsx", {"S": rows}), "columns A and C")
    assert failure.where["columns"] == ["A", "C"]


def test_a_merged_header_cell_with_values_below_fails(tmp_path):
    rows = [["sku", "dimensions", None, "name"], ["A", 1, 2, "x"]]
    path = workbooks.write(tmp_path / "t.xlsx", {"S": rows}, merged={"S": ["B1:C1"]})
    fails(path, "cell C2 .* merged header")


def test_empty_rows_are_skipped_and_errors_name_the_sheet_row(tmp_path):
    """Record indices count only records; the report names the row as Excel shows it."""
    rows = [["sku", "n"], ["A", 1], [None, None], [], ["B", 2], ["C", 3, "stray"]]
    path = workbooks.write(tmp_path / "t.xlsx", {"S": rows})
    failure = fails(path, "cell C6")
    assert failure.where["row"] == 6
    rows[-1] = ["C", 3]
    path = workbooks.write(tmp_path / "u.xlsx", {"S": rows})
    assert [r["sku"] for r in read(path)[0]] == ["A", "B", "C"]


def test_the_first_sheet_is_read_unless_another_is_named(tmp_path):
    sheets = {"First": [["a"], [1]], "Second": [["b"], [2]]}
    path = workbooks.write(tmp_path / "t.xlsx", sheets)
    assert read(path)[0] == [{"a": 1}]
    assert read(path, ExcelReader(sheet="Second"))[0] == [{"b": 2}]
    assert read(path, ExcelReader(sheet=1))[0] == [{"b": 2}]
    failure = fails(path, "no sheet 'Prices'", ExcelReader(sheet="Prices"))
    assert failure.where["sheets"] == ["First", "Second"]
    fails(path, "no sheet 2", ExcelReader(sheet=2))


def test_an_empty_sheet_is_not_an_empty_catalog(tmp_path):
    fails(workbooks.write(tmp_path / "t.xlsx", {"S": []}), "empty")


def test_a_header_without_rows_is_an_empty_catalog(tmp_path):
    assert read(workbooks.write(tmp_path / "t.xlsx", {"S": [["sku"]]}))[0] == []


def test_formulas_use_cached_values_and_count_the_missing_ones(tmp_path):
    """A formula nobody calculated reads as null, and the count is reported."""
    rows = [["a", "twice", "thrice"], [2, "=A2*2", "=A2*3"], [5, "=A3*2", "=A3*3"]]
    path = workbooks.write(tmp_path / "t.xlsx", {"S": rows})
    workbooks.edit(
        path,
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace(b"<f>A2*2</f><v />", b"<f>A2*2</f><v>4</v>").replace(
            b"<f>A3*2</f><v />", b"<f>A3*2</f><v>10</v>"
        ),
    )
    records, details = read(path)
    assert records == [{"a": 2, "twice": 4, "thrice": None}, {"a": 5, "twice": 10, "thrice": None}]
    assert details.notes == {"formulas_without_cached_value": 2}


def test_a_dimension_that_lies_does_not_cut_data_off(tmp_path):
    rows = [["a", "b", "c"], [1, 2, 3], [4, 5, 6]]
    path = workbooks.write(tmp_path / "t.xlsx", {"S": rows})
    workbooks.edit(
        path,
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace(b'<dimension ref="A1:C3" />', b'<dimension ref="A1:A2" />'),
    )
    assert read(path)[0] == [{"a": 1, "b": 2, "c": 3}, {"a": 4, "b": 5, "c": 6}]


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path):
    path = workbooks.write(tmp_path / "t.xlsx", {"S": [["a"], [1]]})
    workbooks.edit(path, "xl/worksheets/sheet1.xml", lambda xml: xml + b" " * (40 << 20))
    fails(path, "zip bomb")


def test_an_xml_bomb_is_refused(tmp_path):
    path = workbooks.write(tmp_path / "t.xlsx", {"S": [["a"], ["x"]]})
    with workbooks.zipfile.ZipFile(path) as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    workbooks.add_shared_strings(members, BILLION_LAUGHS)
    workbooks.zip_with(path, members)
    fails(path, "entities or a DTD")


def test_an_entity_in_the_sheet_itself_is_refused(tmp_path):
    path = workbooks.write(tmp_path / "t.xlsx", {"S": [["a"], [1]]})
    workbooks.edit(
        path,
        "xl/worksheets/sheet1.xml",
        lambda xml: b'<!DOCTYPE worksheet [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + xml,
    )
    fails(path, "entities or a DTD")


def test_a_legacy_xls_is_named_and_refused(tmp_path):
    failure = fails(
        workbooks.legacy_xls(tmp_path / "old.xlsx"), r"legacy Excel 97-2003 workbook \(.xls\)"
    )
    assert "save it as" in failure.message


def test_a_password_protected_workbook_is_named_and_refused(tmp_path):
    plain = workbooks.write(tmp_path / "plain.xlsx", {"S": [["a"], [1]]})
    fails(workbooks.encrypted(plain, tmp_path / "locked.xlsx"), "password-protected")


def test_a_renamed_text_file_is_named_and_refused(tmp_path):
    path = tmp_path / "export.xlsx"
    path.write_text("sku;name\nA-1;Prodüct\n")
    fails(path, "CSV")


@pytest.mark.parametrize(
    "members,match",
    [
        ({"[Content_Types].xml": b"<Types/>", "xl/workbook.bin": b"\x00"}, r"\.xlsb"),
        (
            {"mimetype": b"application/vnd.oasis.opendocument.spreadsheet", "content.xml": b"<x/>"},
            "OpenDocument",
        ),
        ({"word/document.xml": b"<w/>"}, "not an Excel workbook"),
    ],
)
def test_other_zip_formats_are_named(tmp_path, members, match):
    fails(workbooks.zip_with(tmp_path / "t.xlsx", members), match)


def test_a_damaged_archive_is_refused(tmp_path):
    path = workbooks.write(tmp_path / "t.xlsx", {"S": [["a"], [1]]})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    fails(path, "damaged zip")


def test_binary_garbage_is_refused(tmp_path):
    path = tmp_path / "t.xlsx"
    path.write_bytes(bytes(range(256)) * 4)
    fails(path, "not an Excel workbook")


def test_a_failed_workbook_lands_in_failed_with_a_report(h, tmp_path):
    locked = workbooks.encrypted(
        workbooks.write(tmp_path / "p.xlsx", {"S": [["a"], [1]]}), tmp_path / "l.xlsx"
    )
    assert h.run(h.drop("locked.xlsx", locked.read_bytes())) == "failed"
    report = h.report()
    assert report["reason"] == "invalid_input" and "password" in report["error"]
    assert h.sent == []


def both_readers(path: Path, conflicts: str = "fail") -> list[dict]:
    """The records as staged (rereading when a reader asks), by the streaming reader and by
    openpyxl, which must agree."""
    import orjson

    from tests.harness import stage_bytes

    found = []
    for reader in (
        ExcelReader(header_conflicts=conflicts),
        ExcelReader(header_conflicts=conflicts).fast,
    ):
        assert reader is not None
        folder = path.parent / f"read-{len(found)}"
        staged = stage_bytes(
            folder, path.name, path.read_bytes(), reader, ChunkLimits(100, 1 << 20)
        )
        out = folder / f"{path.name}.staged"
        records = [orjson.loads(line) for line in out.read_bytes().splitlines()]
        found.append((records, staged.details.notes))
    assert found[0] == found[1]
    return found[0][0]


def test_date_times_and_times_keep_their_milliseconds(tmp_path):
    """Excel stores milliseconds: they are kept when, rounded to the millisecond, not zero."""
    values = [
        dt.datetime(2026, 1, 2, 3, 4, 5, 600_000),
        dt.datetime(2026, 1, 2, 0, 0, 0, 250_000),
        dt.datetime(2026, 1, 2, 3, 4, 5),
        dt.datetime(2026, 1, 2),
        dt.time(3, 4, 5, 600_000),
        dt.time(23, 59, 59, 5_000),
        dt.time(3, 4, 5),
        dt.timedelta(hours=30, minutes=5, milliseconds=125),
    ]
    path = workbooks.write(tmp_path / "t.xlsx", {"S": [["v"], *[[v] for v in values]]})
    assert [r["v"] for r in both_readers(path)] == [
        "2026-01-02T03:04:05.600",
        "2026-01-02T00:00:00.250",
        "2026-01-02T03:04:05",
        "2026-01-02",
        "03:04:05.600",
        "23:59:59.005",
        "03:04:05",
        "30:05:00.125",
    ]


RENAMING = [
    ["sku", "description", "price", "description", None, "description_2"],
    ["A", "first", 1, "second", None, "x"],
    ["B", "third", 2, "fourth", "under nothing", "y"],
]


def test_repeated_headers_fail_by_default_saying_how_to_keep_both(tmp_path):
    path = workbooks.write(tmp_path / "t.xlsx", {"S": RENAMING})
    fails(path, 'columns B and D .* excel_header_conflicts = "rename"')


def test_rename_keeps_every_column_and_names_the_generated_ones(tmp_path):
    """Later repeats get _2, _3 (skipping a header that exists, left or right); a column with
    values under an empty header becomes column_<LETTER>, in every record."""
    path = workbooks.write(tmp_path / "t.xlsx", {"S": RENAMING})
    records = both_readers(path, "rename")
    assert records == [
        {"sku": "A", "description": "first", "price": 1, "description_3": "second",
         "column_E": None, "description_2": "x"},
        {"sku": "B", "description": "third", "price": 2, "description_3": "fourth",
         "column_E": "under nothing", "description_2": "y"},
    ]  # fmt: skip


def test_a_value_under_an_empty_header_found_late_puts_its_column_in_every_record(tmp_path):
    """The column is known only at the last row: the sheet is read again, knowing it."""
    rows = [["sku", None, "name"]] + [[f"S{i}", None, "n"] for i in range(50)]
    rows[-1][1] = "late"
    rows.append(["Z", None, "n", "right of the header"])
    path = workbooks.write(tmp_path / "t.xlsx", {"S": rows})
    records = both_readers(path, "rename")
    assert len(records) == 51 and all(
        set(r) == {"sku", "column_B", "name", "column_D"} for r in records
    )
    assert [r["column_B"] for r in records][-2:] == ["late", None]
    assert records[-1]["column_D"] == "right of the header" and records[0]["column_D"] is None


def test_renames_are_in_the_log_and_the_receipt(tmp_path):
    from ingestd.readers.inbox import readers_for
    from tests.harness import INBOX

    rename = readers_for(INBOX.model_copy(update={"excel_header_conflicts": "rename"}))
    h = Harness(tmp_path, ChunkLimits(2, 1 << 20), reader_for=rename)
    try:
        path = workbooks.write(tmp_path / "t.xlsx", {"S": RENAMING})
        assert h.run(h.drop("t.xlsx", path.read_bytes())) == "done"
        (journal,) = [p for p in h.finished("done") if p.name.endswith(".journal")]
        begin = __import__("orjson").loads(journal.read_bytes().splitlines()[0])
        assert begin["notes"]["renamed_columns"] == {
            "D": "description_3", "E": "column_E"
        }  # fmt: skip
    finally:
        h.close()
