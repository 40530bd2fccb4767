"""Workbooks other programs wrote (tests/readers/producers/): the fast sheet reader reads each
as openpyxl does, without declining, dates and booleans and shared strings included."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ingestd.readers import ReadDetails
from ingestd.readers.excel import ExcelReader
from tests.differential import DECLINED, REJECTED, outcome
from tests.readers.producers.make import HERE, rows
from tests.readers.test_excel_streaming import ways_read

WORKBOOKS = sorted(HERE.glob("*.xlsx"))


def test_the_workbooks_are_there():
    assert {p.name for p in WORKBOOKS} == {
        "libreoffice.xlsx",
        "xlsxwriter.xlsx",
        "openpyxl-write-only.xlsx",
    }


@pytest.mark.parametrize("path", WORKBOOKS, ids=lambda p: p.stem)
def test_the_fast_reader_reads_every_producer_as_openpyxl_does(path: Path):
    reference = ExcelReader()
    expected = outcome(reference, path)
    assert expected not in (DECLINED, REJECTED)
    assert outcome(reference.fast, path, ReadDetails()) == expected
    assert len(expected) == len(rows())


@pytest.mark.parametrize("path", WORKBOOKS, ids=lambda p: p.stem)
def test_rows_take_the_quick_ways(path: Path):
    """No row is left to expat; with a shared-string table (LibreOffice, XlsxWriter) every row,
    date-styled numbers included, is read as JSON."""
    read_by = ways_read(path)
    assert read_by["expat"] == 0, read_by
    if path.stem != "openpyxl-write-only":  # inline text with a quote is read cell by cell
        assert read_by["json"] == len(rows()) + 1, read_by


@pytest.mark.parametrize("path", WORKBOOKS, ids=lambda p: p.stem)
def test_dates_and_values_arrive_as_written(path: Path):
    import orjson

    records = [orjson.loads(line) for line in outcome(ExcelReader().fast, path)]
    first, source = records[0], rows()[0]
    assert first["sku"] == source[0] and first["name"] == source[1]
    assert first["price"] == source[2] and first["stock"] == source[3]
    assert first["active"] is source[4]
    assert first["released"] == source[5].isoformat()
    assert first["updated"] == source[6].isoformat(timespec="seconds")
    assert first["note"] is None and records[3]["note"] == "note 4"
    assert isinstance(source[5], dt.date)
