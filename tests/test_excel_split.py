"""A sheet read by two processes against the same sheet read by one.

The property: wherever a single streaming reading finishes a workbook, reading it in two halves
gives the same records and the same formula count; wherever the single reading declines or
refuses, so does the split one (either way the reference reader then decides). The cut is put
at random places, so that it lands before, inside and after the rows, inside comments, at rows
numbered out of order, and on every edit of the streaming reader's own corpus.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingestd.core.chunking import ChunkLimits
from ingestd.errors import InvalidInput
from ingestd.readers import ReadDetails, excel_split
from ingestd.readers.excel import ExcelReader
from ingestd.staging import stage_file
from tests import workbooks
from tests.differential import DECLINED, REJECTED, outcome
from tests.processes import alive, check_abandoned_reading, children
from tests.test_excel_rows import GHOST, SHEET, workbook

STREAMING = ExcelReader(streaming=True)


TAKEN = "read_in_two_processes"


@pytest.fixture
def split_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(excel_split, "SPLIT_MIN_BYTES", 0)


def test_two_halves_read_what_one_reading_reads(tmp_path, monkeypatch, split_all):
    rng = random.Random(11)
    monkeypatch.setattr(excel_split, "cut_target", rng.randrange)
    before = set(children())
    seen = {"same records": 0, "both gave up": 0, "taken": 0}
    for n in range(240):
        path, _ = workbook(rng, tmp_path / f"w{n}.xlsx")
        single, split = ReadDetails(), ReadDetails()
        expected = outcome(STREAMING, path, single)
        got = outcome(STREAMING, path, split, scratch=tmp_path)
        if expected in (DECLINED, REJECTED):
            assert got in (DECLINED, REJECTED), path
            seen["both gave up"] += 1
            continue
        assert got == expected, path
        seen["taken"] += split.notes.pop(TAKEN, False)
        assert split.notes == single.notes, path
        seen["same records"] += 1
    assert seen["same records"] > 100 and seen["both gave up"] > 20, seen
    assert seen["taken"] > 60, seen
    assert set(children()) <= before, "a process reading a second half outlived its reading"


def _long_sheet(path: Path, rows: int = 400) -> Path:
    header = ["sku", "name", "price"]
    data = [[f"S{i}", f"Stück {i}", round(i * 1.25, 2)] for i in range(rows)]
    return workbooks.write(path, {"Products": [header, *data]})


def _at_middle_row(sheet: bytes, change) -> bytes:
    middle = sheet.index(b"<row ", len(sheet) // 2)
    return sheet[:middle] + change(sheet[middle:])


HIGH_GHOST = GHOST.replace(b"99", b"9999")


@pytest.mark.parametrize(
    "edit,why_not_taken",
    [
        (lambda tail: tail, None),
        (lambda tail: tail.replace(b'<row r="', b'<row r="2', 1), None),
        (
            lambda tail: (
                b'<row r="5"><c r="A5" t="inlineStr"><is><t>again</t></is></c></row>' + tail
            ),
            "row 5 was given already: a single reading skips it",
        ),
        (lambda tail: b"<!-- " + HIGH_GHOST + b" -->" + tail, "the cut is inside a comment"),
    ],
    ids=["plain", "a gap in the numbering", "a repeated row number", "a row in a comment"],
)
def test_the_cut_is_taken_only_where_a_single_reading_would_agree(
    tmp_path, split_all, edit, why_not_taken
):
    path = workbooks.edit(
        _long_sheet(tmp_path / "w.xlsx"), SHEET, lambda x: _at_middle_row(x, edit)
    )
    expected = outcome(STREAMING, path)
    assert isinstance(expected, list) and len(expected) > 150
    split = ReadDetails()
    assert outcome(STREAMING, path, split, scratch=tmp_path) == expected
    assert split.notes.get(TAKEN, False) is (why_not_taken is None), why_not_taken


def test_a_bad_row_after_the_cut_fails_the_file_as_a_single_reading_does(tmp_path, monkeypatch):
    """The second half refuses, the split reading declines, and the reference reader says what
    is wrong: the same report as without the split."""
    path = workbooks.edit(
        _long_sheet(tmp_path / "w.xlsx"),
        SHEET,
        lambda x: _at_middle_row(
            x, lambda tail: tail.replace(b"</c></row>", b'</c><c r="Z9"><v>1</v></c></row>', 1)
        ),
    )
    taken = []
    records = excel_split.SecondHalf.records
    monkeypatch.setattr(
        excel_split.SecondHalf, "records", lambda half: taken.append(True) or records(half)
    )
    reports = []
    for threshold in (1 << 40, 0):
        monkeypatch.setattr(excel_split, "SPLIT_MIN_BYTES", threshold)
        folder = tmp_path / str(threshold)
        folder.mkdir()
        with pytest.raises(InvalidInput) as failed:
            stage_file(path, ExcelReader(), ChunkLimits(100, 1 << 20), folder / "s", folder / "i")
        reports.append(str(failed.value))
    assert "empty header" in reports[0] and reports[0] == reports[1]
    assert taken == [True], "the second half was not taken: the test would not test it"


def test_formulas_without_a_cached_value_are_counted_on_both_sides_of_the_cut(tmp_path, split_all):
    path = workbooks.edit(
        _long_sheet(tmp_path / "w.xlsx"),
        SHEET,
        lambda x: re.sub(rb'(<c r="C[0-9]*[05]"[^>/]*>)<v>[^<]*</v>', rb"\1<f>1+1</f>", x),
    )
    single, split = ReadDetails(), ReadDetails()
    expected = outcome(STREAMING, path, single)
    assert outcome(STREAMING, path, split, scratch=tmp_path) == expected
    assert single.notes == {"formulas_without_cached_value": 80}
    assert split.notes == {**single.notes, TAKEN: True}


def test_staging_a_split_sheet_stages_the_same_bytes(tmp_path, monkeypatch):
    path = _long_sheet(tmp_path / "w.xlsx", rows=2000)
    staged = {}
    for threshold in (1 << 40, 0):
        monkeypatch.setattr(excel_split, "SPLIT_MIN_BYTES", threshold)
        folder = tmp_path / str(threshold)
        folder.mkdir()
        result = stage_file(
            path, ExcelReader(), ChunkLimits(100, 1 << 20), folder / "s", folder / "i"
        )
        staged[threshold] = ((folder / "s").read_bytes(), (folder / "i").read_bytes(), result)
    assert staged[0][:2] == staged[1 << 40][:2]
    assert staged[0][2].total_records == 2000


def test_an_abandoned_reading_stops_the_other_process(tmp_path, split_all):
    check_abandoned_reading(STREAMING, _long_sheet(tmp_path / "w.xlsx", rows=3000), tmp_path)


def test_the_other_process_dies_with_the_reader(tmp_path):
    """A reader killed outright (its parser child over its memory limit, the daemon killed)
    must not leave the second half running."""
    path = _long_sheet(tmp_path / "w.xlsx", rows=20000)
    script = (
        "import os, sys\n"
        "from ingestd.readers import ReadDetails, SourceStream, excel_split\n"
        "from ingestd.readers.excel import ExcelReader\n"
        "excel_split.SPLIT_MIN_BYTES = 0\n"
        "records = ExcelReader(streaming=True).records("
        "SourceStream(os.open(sys.argv[1], os.O_RDONLY), sys.argv[2]), ReadDetails())\n"
        "next(records)\n"
        "print('reading', flush=True)\n"
        "sys.stdin.read()\n"
    )
    reader = subprocess.Popen(
        [sys.executable, "-c", script, str(path), str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert reader.stdout is not None and reader.stdout.readline() == b"reading\n"
        (other,) = children(reader.pid)
        os.kill(reader.pid, signal.SIGKILL)
        reader.wait(timeout=10)
        deadline = time.monotonic() + 10
        while alive(other) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not alive(other)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
