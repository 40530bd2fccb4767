"""The expat sheet reader against openpyxl's read-only loop, on generated workbooks.

The property, as for JSON: whenever the streaming reader finishes a workbook, openpyxl reads the
same records from it; anything else must end in Declined. Workbooks are written by openpyxl
(shared strings, styles, dates, times, durations, errors) and by the inline-string writer, then
some are edited at the XML level into what other writers produce or what no writer should.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections import Counter
from pathlib import Path

import orjson
import pytest

from ingestd.readers import ReadDetails, Reread
from ingestd.readers.excel import grammar
from ingestd.readers.excel.records import rows_to_records
from ingestd.readers.excel.reference import ExcelReader
from ingestd.readers.excel.streaming import (
    SHEET_BLOCK,
    Cells,
    FormulaCounter,
    GrammarRows,
    RowOrder,
    SheetRows,
)
from ingestd.readers.excel.workbook import StringTable, read_workbook, shared_strings
from ingestd.readers.tabular import Naming
from tests import workbooks
from tests.differential import DECLINED, REJECTED, outcome

SHEET = "xl/worksheets/sheet1.xml"

GHOST = b'<row r="99"><c r="A99" t="inlineStr"><is><t>ghost</t></is></c></row>'
EDITS = {
    "no cell references": lambda x: re.sub(rb' r="[A-Z]+[0-9]+"', b"", x),
    "no row numbers": lambda x: re.sub(rb'<row r="[0-9]+"', b"<row", x),
    "rows out of order": lambda x: x.replace(b'<row r="3"', b'<row r="2"', 1),
    "a row skipped": lambda x: re.sub(rb'<row r="3"', b'<row r="9"', x, count=1),
    "cells out of order": lambda x: re.sub(rb'<c r="A([0-9]+)"', rb'<c r="E\1"', x, count=3),
    "lower-case reference": lambda x: x.replace(b'r="B2"', b'r="b2"', 1),
    "row zero reference": lambda x: x.replace(b'r="B2"', b'r="B0"', 1),
    "odd reference": lambda x: x.replace(b'r="B2"', b'r="B2C"', 1),
    "empty value": lambda x: re.sub(rb"<v>[^<]*</v>", b"<v></v>", x, count=2),
    "string type": lambda x: x.replace(b'<c r="C2" t="n"', b'<c r="C2" t="str"', 1),
    "iso date": lambda x: re.sub(
        rb'<c r="C2"[^>]*><v>[^<]*</v>', b'<c r="C2" t="d"><v>2024-02-29T10:11:12</v>', x
    ),
    "bad iso date": lambda x: re.sub(
        rb'<c r="C2"[^>]*><v>[^<]*</v>', b'<c r="C2" t="d"><v>yesterday</v>', x
    ),
    "rich inline": lambda x: x.replace(b"<is><t", b"<is><r><t>x</t></r><t", 1),
    "two values": lambda x: re.sub(rb"<v>([^<]*)</v>", rb"<v>\1</v><v>7</v>", x, count=1),
    "bad number": lambda x: re.sub(rb'(<c r="C2"[^>]*>)<v>[^<]*</v>', rb"\1<v>12x</v>", x),
    "bad shared index": lambda x: re.sub(
        rb'(t="s"[^>]*>)<v>[^<]*</v>', rb"\1<v>99999</v>", x, count=1
    ),
    "bad style": lambda x: x.replace(b'<c r="C2"', b'<c r="C2" s="x"', 1),
    "formula with cached value": lambda x: re.sub(rb'(<c r="C2"[^>]*>)<v>', rb"\1<f>1+1</f><v>", x),
    "formulas without cached value": lambda x: re.sub(
        rb'(<c r="[BC][2-9]"[^>/]*>)(<v>[^<]*</v>|<is><t[^>]*>[^<]*</t></is>)',
        rb"\1<f>1+1</f>",
        x,
    ),
    "formula with a blank cached value": lambda x: re.sub(
        rb'<c r="(B[2-9])"[^>/]*><v>[^<]*</v>', rb'<c r="\1" t="str"><f>1+1</f><v> </v>', x
    ),
    "comment between cells": lambda x: x.replace(b"</c><c", b"</c><!-- </row> --><c", 2),
    "space between cells": lambda x: x.replace(b"</c><c", b"</c> <c", 2),
    "character reference": lambda x: x.replace(b"<v>", b"<v>&#49;", 1),
    "entities in text": lambda x: re.sub(
        rb"(<t[^>]*>)", rb"\1&amp;&lt;x&gt;&quot;&apos;", x, count=3
    ),
    "unknown entity": lambda x: re.sub(rb"(<t[^>]*>)", rb"\1&nbsp;", x, count=1),
    "carriage return": lambda x: re.sub(rb"(<t[^>]*>)", b"\\1a\rb", x, count=1),
    "cdata end in text": lambda x: re.sub(rb"(<t[^>]*>)", rb"\1a]]>b", x, count=1),
    "extra cell attribute": lambda x: x.replace(b'<c r="B2"', b'<c r="B2" cm="1"', 1),
    "style twice": lambda x: re.sub(
        rb'<c r="B2"( t="[a-zA-Z]+")?', rb'<c r="B2" s="0"\1 s="0"', x, count=1
    ),
    "row attribute twice": lambda x: x.replace(b'<row r="2"', b'<row r="2" ht="3" ht="4"', 1),
    "row number twice": lambda x: x.replace(b'<row r="2"', b'<row r="2" r="3"', 1),
    "self-closing rows": lambda x: x.replace(b'<row r="3">', b'<row r="3"/><row r="4">', 1),
    "row in a comment": lambda x: x.replace(
        b'<row r="2">', b'<row r="2"><!-- </row>' + GHOST + b" -->", 1
    ),
    "sheet data in a comment": lambda x: x.replace(
        b"<sheetData>", b"<!-- <sheetData>" + GHOST + b"</sheetData> --><sheetData>", 1
    ),
    "unbound prefix on a row": lambda x: x.replace(b'<row r="2"', b'<row r="2" q:x="1"', 1),
    "bound prefix on a row": lambda x: x.replace(
        b"<worksheet ", b'<worksheet xmlns:q="urn:q" ', 1
    ).replace(b'<row r="2"', b'<row r="2" q:x="1"', 1),
    "namespace declared on a row": lambda x: x.replace(
        b'<row r="2"', b'<row r="2" xmlns:q="urn:q" q:x="1"', 1
    ),
    "control character in a row attribute": lambda x: x.replace(
        b'<row r="2"', b'<row r="2" ht="\x01"', 1
    ),
    "bad UTF-8 in a row attribute": lambda x: x.replace(b'<row r="2"', b'<row r="2" ht="\xff"', 1),
    "bad UTF-8 in a formula": lambda x: re.sub(rb'(<c r="C2"[^>]*>)<v>', b"\\1<f>\xff</f><v>", x),
    "truncated": lambda x: x[: len(x) // 2],
    "doctype": lambda x: x.replace(b"<worksheet", b'<!DOCTYPE w [<!ENTITY e "x">]><worksheet', 1),
    "prefixed rows": lambda x: x.replace(
        b"<row ", b'<x:row xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main" ', 1
    ).replace(b"</row>", b"</x:row>", 1),
    "other namespace": lambda x: x.replace(
        b"http://schemas.openxmlformats.org/spreadsheetml/2006/main",
        b"http://purl.oclc.org/ooxml/spreadsheetml/main",
    ),
}


def cell(rng: random.Random) -> object:
    return rng.choice(
        [
            None,
            "",
            rng.randrange(-(10**12), 10**12),
            round(rng.uniform(-1e6, 1e6), rng.randrange(6)),
            rng.choice(["Käse", " padded ", "ß\u2013東京", "#N/A", "1e3", "true"]),
            rng.choice(['24" & <b>', "back\\slash", "tab\there", "two\nlines", "~", '{"a": 1}']),
            rng.choice([10**17, -(10**15), 1e20, -0.0, 2.5e-7]),
            rng.random() < 0.5,
            dt.datetime(2024, 1, 1, 0, 0) + dt.timedelta(seconds=rng.randrange(10**8)),
            dt.date(1900, 1, 1) + dt.timedelta(days=rng.randrange(60000)),
            dt.time(rng.randrange(24), rng.randrange(60), rng.randrange(60)),
            dt.timedelta(hours=rng.randrange(-50, 500), seconds=rng.randrange(3600)),
            workbooks.ExcelError(rng.choice(["#N/A", "#REF!", "#DIV/0!"])),
        ]
    )


def workbook(rng: random.Random, path: Path) -> tuple[Path, bool]:
    """A workbook, and whether it was edited at the XML level."""
    header = ["sku", "a", "b", "c", "d"][: rng.randrange(2, 6)]
    rows = [
        [cell(rng) for _ in range(rng.randrange(len(header) + 1))] for _ in range(rng.randrange(12))
    ]
    if rng.random() < 0.3:
        texts = [[None if v is None else str(v) for v in row] for row in rows]
        workbooks.write_sheet(path, header, texts, sheet="Products")
    else:
        workbooks.write(path, {"Products": [header, *rows]})
    if rng.random() < 0.4:
        workbooks.with_shared_strings(path)  # as Excel stores text
    if rng.random() < 0.5:
        return path, False
    change = EDITS[rng.choice(sorted(EDITS))]
    return workbooks.edit(path, SHEET, change), True


@pytest.mark.parametrize("block", [SHEET_BLOCK, 61], ids=["64 kB blocks", "61-byte blocks"])
def test_streaming_rows_never_differ_from_openpyxl(tmp_path, block):
    """With small blocks, the rows after the first record arrive in blocks of their own, once
    the records layer has named the columns: those read as JSON are made records at once."""
    rng = random.Random(6)
    reference = ExcelReader(sheet_block=block)
    fast = reference.fast
    assert isinstance(fast, ExcelReader)
    seen = {"agreed": 0, "declined": 0, "edited and agreed": 0, "formulas": 0}
    for n in range(300):
        path, edited = workbook(rng, tmp_path / f"w{n}.xlsx")
        notes, fast_notes = ReadDetails(), ReadDetails()
        expected, got = outcome(reference, path, notes), outcome(fast, path, fast_notes)
        if got == DECLINED:
            assert edited, f"declined an unedited workbook: {path}"
            seen["declined"] += 1
            continue
        assert got == expected, path
        assert fast_notes.notes == notes.notes, path
        seen["formulas"] += "formulas_without_cached_value" in notes.notes
        seen["agreed"] += 1
        seen["edited and agreed"] += edited
    assert seen["agreed"] > 150 and seen["declined"] > 20 and seen["edited and agreed"] > 20, seen
    assert seen["formulas"] > 0, seen


CACHED_FORMULAS = {
    "formulas without cached value": 12,
    "formula with a blank cached value": 6,
    "formulas with cached values": 0,
}


@pytest.mark.parametrize("read_by", ["grammar", "expat"])
@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("edit", sorted(CACHED_FORMULAS))
def test_formulas_without_cached_value_are_counted_alike(tmp_path, edit, shared, read_by):
    """The streaming reader counts them as it reads, whichever of its parsers reads the row;
    openpyxl's reading counts them in a pass of its own. The receipt must say the same."""
    rows = [["sku", "b", "c"], *[[f"a{n}", n, f"t{n}"] for n in range(6)]]
    path = workbooks.write_sheet(tmp_path / "w.xlsx", rows[0], rows[1:])
    if shared:
        workbooks.with_shared_strings(path)
    if edit == "formulas with cached values":
        workbooks.edit(path, SHEET, lambda x: re.sub(rb'(<c r="B[2-9]">)', rb"\1<f>1+1</f>", x))
    else:
        workbooks.edit(path, SHEET, EDITS[edit])
    if read_by == "expat":
        workbooks.edit(path, SHEET, lambda x: x.replace(b"</c><c", b"</c> <c"))
    notes, fast_notes = ReadDetails(), ReadDetails()
    expected = outcome(ExcelReader(), path, notes)
    assert isinstance(expected, list) and len(expected) == 6
    assert notes.notes.get("formulas_without_cached_value", 0) == CACHED_FORMULAS[edit]
    assert outcome(ExcelReader().fast, path, fast_notes) == expected
    assert fast_notes.notes == notes.notes


@pytest.mark.parametrize("edit", ["rich inline", "other namespace", "odd reference", "doctype"])
def test_declines_what_it_does_not_read_like_openpyxl(tmp_path, edit):
    """Never records from these; a refusal by openpyxl's own loading is as good (staging then
    runs the reference reader, which refuses the file in its own words)."""
    path = workbooks.write_sheet(tmp_path / "w.xlsx", ["sku", "c"], [["a", "1"], ["b", "2"]])
    workbooks.edit(path, SHEET, EDITS[edit])
    assert outcome(ExcelReader().fast, path) in (DECLINED, REJECTED)


@pytest.mark.parametrize("edit", ["row in a comment", "sheet data in a comment"])
def test_rows_that_look_right_inside_a_comment_are_not_read(tmp_path, edit):
    """Text that matches the row grammar but sits in a comment: expat must be where the text
    seems to be before the grammar reads on, or the ghost row would become a record."""
    path = workbooks.write_sheet(tmp_path / "w.xlsx", ["sku", "c"], [["a", "1"], ["b", "2"]])
    workbooks.edit(path, SHEET, EDITS[edit])
    reference = ExcelReader()
    expected = outcome(reference, path)
    assert isinstance(expected, list) and b"ghost" not in b"".join(expected)
    assert outcome(reference.fast, path) == expected


@pytest.mark.parametrize(
    "edit",
    [
        "unbound prefix on a row",
        "control character in a row attribute",
        "bad UTF-8 in a row attribute",
        "bad UTF-8 in a formula",
    ],
)
def test_rows_that_are_not_xml_are_not_read(tmp_path, edit):
    """What the row grammar lets through but XML forbids: openpyxl refuses the workbook, and
    the streaming reader must not return records from it."""
    path = workbooks.write(tmp_path / "w.xlsx", {"Products": [["sku", "a", "n"], ["x", 1, 2]]})
    workbooks.edit(path, SHEET, EDITS[edit])
    assert outcome(ExcelReader(), path) == REJECTED
    assert outcome(ExcelReader().fast, path) in (DECLINED, REJECTED)


def test_shared_strings_are_read_like_openpyxl_reads_them(tmp_path):
    """Excel keeps text in xl/sharedStrings.xml; the generated corpus does too, in part."""
    rows = [["sku", "name"], ["a", "Käse & <Brot>"], ["b", "a\u2013b"], ["c", "Käse & <Brot>"]]
    path = workbooks.with_shared_strings(workbooks.write(tmp_path / "w.xlsx", {"Products": rows}))
    with workbooks.zipfile.ZipFile(path) as z:
        assert b't="s"' in z.read(SHEET)
    expected = outcome(ExcelReader(), path)
    assert isinstance(expected, list) and len(expected) == 3
    assert outcome(ExcelReader().fast, path) == expected


def test_a_sheet_as_excel_writes_it_takes_the_fast_path(tmp_path):
    """Excel's own markup: namespace declarations on the root, spans and a prefixed attribute
    on every row, text in the shared-string table."""
    rows = [["sku", "price", "day"], ["a", 1.5, dt.date(2024, 2, 29)], ["b", 2, None]]
    path = workbooks.with_shared_strings(workbooks.write(tmp_path / "w.xlsx", {"Products": rows}))
    workbooks.edit(
        path,
        SHEET,
        lambda x: x.replace(
            b"<worksheet ",
            b'<worksheet xmlns:x14ac="http://schemas.microsoft.com/office/spreadsheetml/2009/9/ac" '
            b'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
            b'mc:Ignorable="x14ac" ',
            1,
        ),
    )
    workbooks.edit(
        path,
        SHEET,
        lambda x: re.sub(
            rb'<row r="([0-9]+)"', rb'<row r="\1" spans="1:3" x14ac:dyDescent="0.25"', x
        ),
    )
    expected = outcome(ExcelReader(), path)
    assert isinstance(expected, list) and len(expected) == 2
    assert outcome(ExcelReader().fast, path) == expected
    read_by = ways_read(path)
    assert read_by["expat"] == 0 and read_by["cells"] < 3, read_by


def ways_read(path: Path, block: int = SHEET_BLOCK, named: bool = False) -> Counter[str]:
    """How many of the sheet's rows each way read: as JSON, cell by cell, by expat; `named`:
    through the records layer, which names the columns ("json as records")."""
    with workbooks.zipfile.ZipFile(path) as archive:
        workbook = read_workbook(archive)
        sheet = workbook.pick(None)
        rows = SheetRows(
            shared_strings(archive),
            workbook.epoch,
            workbook.date_styles,
            workbook.duration_styles,
            block,
        )
        with archive.open(sheet.member) as source:
            if named:
                naming = Naming("fail", ReadDetails(), "excel_header_conflicts")
                for _ in rows_to_records(rows.rows(source), 1, "s", naming, rows.name_records):
                    pass
            else:
                for _ in rows.rows(source):
                    pass
    return rows.read_by


NUMBERS = [b"0", b"-0", b"12", b"-12", b"1.5", b"-0.0", b"1e5", b"1E-5", b"2.5e+10"]
ODD_NUMBERS = [b"1.", b".5", b"+5", b"1_000", b"0012", b"123456789012345678", b"1e400", b"12x"]
TEXTS = [
    b"",
    b"plain",
    "Käse ~ {x: 1}, [y]".encode(),
    b"a &amp; b &lt;c&gt; &quot;q&quot; &amp;lt;",
]
TEXTS += [b"&apos;", b"tab\there", b"two\nlines"]
ODD_TEXTS = [b'say "hi"', b"back\\slash", b"cr\rx", b"a]]>b", b"\xef\xbf\xbe", b"\xff", b"&#49;"]
STYLES = [b"", b"", b' s="0"', b' s="3"', b' s="03"', b' s="7"']


def usually(rng: random.Random, common: list[bytes], odd: list[bytes]) -> bytes:
    return rng.choice(common if rng.random() < 0.9 else [*odd, b""])


def row_cell(rng: random.Random, reference: bytes) -> bytes:
    style = rng.choice(STYLES)
    head = b'<c r="' + reference + b'"'
    number, text = usually(rng, NUMBERS, ODD_NUMBERS), usually(rng, TEXTS, ODD_TEXTS)
    plain = [
        head + style + b"><v>" + number + b"</v></c>",
        head + style + b' t="n"><v>' + number + b"</v></c>",
        head + style + b' t="inlineStr"><is><t>' + text + b"</t></is></c>",
        head + b' t="inlineStr"><is><t xml:space="preserve">' + text + b"</t></is></c>",
        head + style + b' t="b"><v>' + usually(rng, [b"0", b"1"], [b"2"]) + b"</v></c>",
        head
        + style
        + b' t="s"><v>'
        + usually(rng, [b"0", b"1", b"2", b"3", b"5"], [b"6"])
        + b"</v></c>",
        head + style + b"/>",
    ]
    odd = [
        head + b' t="n"' + style + b"><v>" + number + b"</v></c>",
        head + b' t="s"/>',
        head + b' t="str"><v>' + text + b"</v></c>",
        head + b' t="e"><v>#N/A</v></c>',
        head + b"><f>1+1</f><v>2</v></c>",
    ]
    return usually(rng, plain, odd)


def row_body(rng: random.Random) -> bytes:
    column, cells = 0, []
    for _ in range(rng.randrange(1, 8)):
        step = rng.choice([1, 1, 1, 1, 1, 1, 2, 3, 0, -1])  # now and then a column twice
        column = max(1, column + step)
        digits = b"1" if rng.random() < 0.98 else b"2"
        cells.append(row_cell(rng, _letters(column) + digits))
    return b"".join(cells)


def _letters(column: int) -> bytes:
    return (_letters((column - 1) // 26) if column > 26 else b"") + bytes([65 + (column - 1) % 26])


STRINGS = ["zero", "one & <two>", "drei", 'say "hi"', "back\\slash", "tab\there\nline"]


def grammar_rows(
    as_json: bool, dates: frozenset[int] = frozenset({3})
) -> tuple[GrammarRows, RowOrder]:
    cells = Cells(StringTable.of(STRINGS), dt.datetime(1899, 12, 30), dates, frozenset())
    order = RowOrder()
    return GrammarRows(cells, order, FormulaCounter(), Counter(), as_json), order


def read_rows(data: bytes, as_json: bool, dates: frozenset[int]) -> object:
    """Where the grammar stopped and the rows it read, or the exception it raised."""
    rows, order = grammar_rows(as_json, dates)
    try:
        position = rows.read(data, 0, grammar.unusual(data), set())
    except Exception as exc:
        return type(exc).__name__
    return position, repr(order.drain())


@pytest.mark.parametrize("dates", [frozenset({3}), frozenset({0, 3})], ids=["style 3", "0 and 3"])
def test_rows_read_as_json_equal_the_per_cell_reading(dates):
    """The JSON shortcut (excel_rows_grammar.as_json) on runs of fuzzed rows, numbered with gaps
    and repeats: the rows read, to the type (True is not 1, -0.0 is not 0), and where reading
    stopped for expat are those of the per-cell reading, itself held equal to openpyxl above.
    Where style 0 is a date style, a number without a style is a date too."""
    rng = random.Random(11)
    candidates = 0
    pattern = grammar_rows(True, dates)[0].json_row
    for _ in range(6000):
        bodies = [row_body(rng) for _ in range(rng.randrange(1, 7))]
        number, data = 0, b""
        for body in bodies:
            number += rng.choice([1, 1, 1, 1, 2, 0])
            data += b'<row r="%d">%s</row>' % (max(number, 1), body)
            candidates += grammar.json_candidate(body, pattern, grammar.unusual(body)) is not None
        assert read_rows(data, True, dates) == read_rows(data, False, dates), data
    assert 3000 < candidates < 16000, candidates


def test_a_sheet_of_plain_cells_is_read_as_json(tmp_path):
    """Inline text, shared strings, numbers, booleans and gaps: every row of the benchmark's
    kind of sheet takes the JSON shortcut, but those whose inline text holds a quote."""
    rows = [["sku", "name", "price", "stock", "active", "note"]]
    for n in range(40):
        rows.append([f"A-{n}", 'Käse & "Brot"\tneu' if n % 2 else "Ñandú", 1.5 * n, n, n % 3 == 0])
    inline = workbooks.write_sheet(tmp_path / "inline.xlsx", rows[0], rows[1:])
    shared = workbooks.with_shared_strings(
        workbooks.write_sheet(tmp_path / "shared.xlsx", rows[0], rows[1:])
    )
    for path, quoted in ((inline, 20), (shared, 0)):
        expected = outcome(ExcelReader(), path)
        assert isinstance(expected, list) and len(expected) == 40
        assert outcome(ExcelReader().fast, path) == expected
        read_by = ways_read(path)
        assert read_by["expat"] == 0 and read_by["cells"] == quoted, read_by


def _last_two_cells_swapped(sheet: bytes) -> bytes:
    """Every row's last two cells in the other order: openpyxl makes a row as wide as its last
    cell says, so it drops the other one."""

    def swap(row: re.Match[bytes]) -> bytes:
        cells = [cell[0] for cell in grammar.CELL.findall(row[2])]
        if len(cells) < 2 or b"".join(cells) != row[2]:
            return row[0]
        cells[-2], cells[-1] = cells[-1], cells[-2]
        return row[1] + b"".join(cells) + b"</row>"

    return re.sub(rb"(<row [^>]*>)(.*?)</row>", swap, sheet)


def _catalog_rows(rng: random.Random, count: int, wide_at: int | None = None) -> list[list[object]]:
    day = dt.datetime(2024, 3, 1, 8, 30)
    rows: list[list[object]] = []
    for n in range(count):
        row: list[object] = [f"S-{n}", rng.choice(["Käse", "", None, "x & y"]), n * 1.25]
        row += [day + dt.timedelta(days=n % 5), rng.random() < 0.5, None if n % 3 else "note"]
        rows.append(row[: rng.choice([6, 6, 6, 4, 2])] if n % 7 else [None] * 6)  # blank, short
    if wide_at is not None:
        rows[wide_at] += [None, "beyond the header"]
    return rows


@pytest.mark.parametrize("shared", [False, True], ids=["inline strings", "shared strings"])
@pytest.mark.parametrize(
    ("conflicts", "wide_at"),
    [("fail", None), ("rename", 0), ("rename", 30), ("fail", 30)],
    ids=["plain", "first record wider", "a later record wider", "a later record wider, failing"],
)
def test_rows_after_the_first_record_arrive_as_records(tmp_path, shared, conflicts, wide_at):
    """Blocks of 61 bytes: every row after the first record comes once the records layer has
    named the columns, and those read as JSON are given as records (name_records). The records
    are openpyxl's, blank and short rows, dates, a row whose last two cells are swapped (openpyxl
    drops one) included; a record wider than the header is named as the reference reader names
    it (renamed at the first record, read again at a later one) or fails alike."""
    rng = random.Random(5)
    header = ["sku", "name", "price", "released", "active", "note"]
    path = workbooks.write(
        tmp_path / "w.xlsx", {"Products": [header, *_catalog_rows(rng, 60, wide_at)]}
    )
    if shared:
        workbooks.with_shared_strings(path)
    workbooks.edit(path, SHEET, _last_two_cells_swapped)
    expected = _read_through(ExcelReader(header_conflicts=conflicts), path)
    fast = ExcelReader(header_conflicts=conflicts, sheet_block=61).fast
    assert fast is not None
    assert _read_through(fast, path) == expected
    if wide_at is None:
        assert isinstance(expected, list) and len(expected) == 51
        assert ways_read(path, block=61, named=True)["json as records"] >= 30
    elif conflicts == "fail":
        assert expected == REJECTED
    else:  # every record has every column, the renamed one too
        assert isinstance(expected, list)
        keys = {tuple(orjson.loads(record)) for record in expected}
        assert len(keys) == 1 and any(k.startswith("column_") for k in keys.pop()), keys


def _read_through(reader: ExcelReader, path: Path) -> object:
    """The outcome as staging has it: read again, knowing more, when the reader asks."""
    details = ReadDetails()
    for _ in range(3):
        try:
            return outcome(reader, path, details)
        except Reread:
            continue
    raise AssertionError("read three times")


def test_a_row_expat_reads_leaves_the_rows_after_it_to_the_grammar(tmp_path):
    """expat counts only the bytes it is given, not the rows the grammar read before: a row it
    reads ends where the text says, and the rows after it go back to the grammar."""
    rows = [["sku", "name", "price"]] + [[f"S-{n}", "Käse", n * 1.5] for n in range(40)]
    path = workbooks.write_sheet(tmp_path / "w.xlsx", rows[0], rows[1:])
    workbooks.edit(path, SHEET, lambda x: re.sub(rb'(<c r="B9"[^>]*>)', rb"<!-- odd -->\1", x))
    assert outcome(ExcelReader().fast, path) == outcome(ExcelReader(), path)
    read_by = ways_read(path)
    assert read_by["expat"] == 1 and read_by["json"] == 40, read_by
