"""Excel workbooks (.xlsx, .xlsm): one sheet, a header row, one record per non-empty row.

openpyxl reads in read-only mode with cached formula values, one row at a time, so memory is
bounded by a row (plus the workbook's shared strings). defusedxml is installed, which openpyxl
uses to refuse XML entity tricks. The archive is inspected first (workbook_zip).
"""

from __future__ import annotations

import datetime as dt
import math
import xml.parsers.expat
import zipfile
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from ingestd.errors import Interrupted, InvalidInput
from ingestd.readers import (
    CanonicalRecord,
    Declined,
    ReadDetails,
    Reader,
    Record,
    SourceStream,
    excel_split,
)
from ingestd.readers.excel_rows import FormulaCounter, SheetRows, Source, column_letter
from ingestd.readers.workbook_zip import SAVE_AS_XLSX, open_workbook_zip


class ExcelReader:
    file_type = "excel"
    fast: Reader | None = None

    def __init__(
        self, sheet: str | int | None = None, header_row: int = 1, streaming: bool = False
    ) -> None:
        self._sheet = sheet
        self._header_row = header_row
        self._streaming = streaming
        self.fast: Reader | None = None if streaming else ExcelReader(sheet, header_row, True)

    def records(
        self, stream: SourceStream, details: ReadDetails
    ) -> Iterator[Record | CanonicalRecord]:
        f = stream.seekable()
        archive = open_workbook_zip(f)
        workbook = _load(f)
        try:
            sheet = self._pick(workbook)
            details.sheet = sheet.title
            # openpyxl keeps the sheet's archive path private; its API has no public name for it
            member = sheet._worksheet_path.lstrip("/")
            if self._streaming:
                read = self._read_streaming(workbook, sheet, archive, member, stream, details)
            else:
                read = self._read_with_openpyxl(sheet, archive, member)
            uncached = yield from read
            if uncached:
                details.notes["formulas_without_cached_value"] = uncached
        except (InvalidInput, Interrupted, GeneratorExit, Declined):
            raise
        except Exception as exc:
            if self._streaming:
                raise Declined(f"{type(exc).__name__}: {exc}") from exc
            raise _unreadable(exc, "the workbook cannot be read") from exc
        finally:
            workbook.close()
            archive.close()

    def _read_with_openpyxl(
        self, sheet: Any, archive: zipfile.ZipFile, member: str
    ) -> Generator[Record, None, int]:
        """The records, then the number of formulas without a cached value."""
        sheet.reset_dimensions()  # a wrong <dimension> must not cut rows or columns off
        yield from _rows_to_records(
            sheet.iter_rows(values_only=True), self._header_row, sheet.title
        )
        return _formulas_without_cached_value(archive, member)

    def _read_streaming(
        self,
        workbook: Any,
        sheet: Any,
        archive: zipfile.ZipFile,
        member: str,
        stream: SourceStream,
        details: ReadDetails,
    ) -> Generator[Record | CanonicalRecord, None, int]:
        """The same from the sheet's XML, formulas counted on the way (excel_rows); a long sheet
        by two processes at once (excel_split)."""
        settings: SheetSettings = (
            sheet._shared_strings,  # the table openpyxl read for this sheet; no public name
            workbook.epoch,
            set(workbook._date_formats),
            set(workbook._timedelta_formats),
        )
        size, scratch = archive.getinfo(member).file_size, stream.scratch
        if scratch is not None and size >= excel_split.SPLIT_MIN_BYTES:
            halves = _Halves(settings, sheet.title, self._header_row, lambda: archive.open(member))
            uncached = yield from halves.read(excel_split.cut_target(size), scratch)
            if halves.taken:
                details.notes["read_in_two_processes"] = True
            return uncached
        rows = SheetRows(*settings)
        with archive.open(member) as source:
            yield from _rows_to_records(rows.rows(source), self._header_row, sheet.title)
        return rows.formulas.missing

    def where(self, fd: int, index: int) -> dict[str, Any]:
        """The sheet and row of record `index`, read again with openpyxl, for a report."""
        if self._streaming:
            return {}  # the reference reader reads the file again and says
        f = SourceStream(fd).seekable()
        with open_workbook_zip(f):
            workbook = _load(f)
            try:
                sheet = self._pick(workbook)
                sheet.reset_dimensions()
                rows = enumerate(sheet.iter_rows(values_only=True), start=1)
                for number, _ in rows:
                    if number == self._header_row:
                        break
                for found, number, _ in _record_rows(rows):
                    if found == index:
                        return {"record_index": index, "sheet": sheet.title, "row": number}
            finally:
                workbook.close()
        return {"record_index": index}

    def _pick(self, workbook: Any) -> Any:
        sheets = workbook.worksheets
        names = [s.title for s in sheets]
        chosen = self._sheet if self._sheet is not None else 0
        if isinstance(chosen, int):
            if 0 <= chosen < len(sheets):
                return sheets[chosen]
        elif chosen in names:
            return sheets[names.index(chosen)]
        raise InvalidInput(
            f"the workbook has no sheet {chosen!r}; its sheets are {names}",
            sheets=names,
        )


def _load(f: IO[bytes]) -> Any:
    import openpyxl  # here, not at the top: the daemon itself never parses, its children do

    try:
        return openpyxl.load_workbook(f, read_only=True, data_only=True, keep_links=False)
    except Exception as exc:
        raise _unreadable(exc, "the workbook cannot be opened") from exc


class _Halves:
    """A sheet read by this process up to its middle and by a forked one after it."""

    def __init__(
        self,
        settings: SheetSettings,
        title: str,
        header_row: int,
        open_sheet: Callable[[], IO[bytes]],
    ) -> None:
        self._settings = settings
        self._title = title
        self._header_row = header_row
        self._open = open_sheet
        self.taken = False

    def read(self, target: int, scratch: Path) -> Generator[Record | CanonicalRecord, None, int]:
        rows = SheetRows(*self._settings)
        with excel_split.SecondHalf(self._open, self._read_from, target, scratch) as half:
            first = self._first_half(rows, half, excel_split.SplitFinder(target))
            yield from _rows_to_records(first, self._header_row, self._title, half.send_header)
            if not self.taken:
                return rows.formulas.missing
            yield from half.records()
            return rows.formulas.missing + half.formulas

    def _first_half(
        self,
        rows: SheetRows,
        half: excel_split.SecondHalf,
        finder: excel_split.SplitFinder,
    ) -> Iterator[tuple[Any, ...]]:
        """The rows up to the cut; from there on too, unless the other process takes over."""
        with self._open() as source:
            rest = None
            while rest is None and (block := source.read(excel_split.BLOCK)):
                ready, rest = finder.feed(block)
                yield from rows.feed(ready)
            if (
                rest is not None
                and half.header_sent
                and rows.between_rows
                and half.takes_over(finder, rows.sheet_data_at, rows.next_row)
            ):
                self.taken = True
                return
            half.close()
            yield from rows.feed(finder.rest() if rest is None else rest)
            while block := source.read(excel_split.BLOCK):
                yield from rows.feed(block)
            yield from rows.finish()

    def _read_from(
        self, source: Source, first_row: int, header: list[str]
    ) -> Generator[Record, None, int]:
        """In the other process: the records from the cut on, numbered as a single reading
        numbers them."""
        rows = SheetRows(*self._settings, first_row=first_row)
        numbered = enumerate(rows.rows(source), start=first_row)
        yield from _records_under(header, numbered, self._title)
        return rows.formulas.missing


SheetSettings = tuple[Sequence[str], dt.datetime, set[int], set[int]]


def _rows_to_records(
    rows: Iterator[tuple[Any, ...]],
    header_row: int,
    sheet: str,
    found_header: Callable[[list[str]], None] | None = None,
) -> Iterator[Record]:
    numbered = enumerate(rows, start=1)
    for number, row in numbered:
        if number == header_row:
            header = _header(row, number, sheet)
            if found_header is not None:
                found_header(header)
            yield from _records_under(header, numbered, sheet)
            return
    raise InvalidInput(f"sheet {sheet!r} has no header row {header_row}: it is empty", sheet=sheet)


def _records_under(
    header: list[str], numbered: Iterator[tuple[int, tuple[Any, ...]]], sheet: str
) -> Iterator[Record]:
    named = all(header)
    for index, number, row in _record_rows(numbered):
        if named and len(row) <= len(header) and _PLAIN.issuperset(map(type, row)):
            # the common row: every column named, every value JSON already; a float that is
            # not finite is left for orjson, which writes it as null, as _json_value would
            record = dict(zip(header, row, strict=False))
            if len(row) < len(header):
                record.update(dict.fromkeys(header[len(row) :]))
            yield record
        else:
            yield _record(header, row, number, sheet, index)


def _record_rows(
    numbered: Iterator[tuple[int, tuple[Any, ...]]],
) -> Iterator[tuple[int, int, tuple[Any, ...]]]:
    """The rows that are records (not blank), each with its record index and row number."""
    index = 0
    for number, row in numbered:
        if not _BLANK.issuperset(row):
            yield index, number, row
            index += 1


_BLANK = frozenset({None, ""})
_PLAIN = frozenset({str, int, float, bool, type(None)})


def _header(row: tuple[Any, ...], number: int, sheet: str) -> list[str]:
    names = ["" if _empty(v) else _text(v).strip() for v in row]
    seen: dict[str, str] = {}
    for index, name in enumerate(names):
        if not name:
            continue
        column = column_letter(index)
        if name in seen:
            raise InvalidInput(
                f"columns {seen[name]} and {column} of sheet {sheet!r} both have the header "
                f"{name!r}: a record cannot hold the same field twice",
                sheet=sheet,
                row=number,
                columns=[seen[name], column],
            )
        seen[name] = column
    if not seen:
        raise InvalidInput(
            f"header row {number} of sheet {sheet!r} is empty", sheet=sheet, row=number
        )
    return names


def _record(
    header: list[str], row: tuple[Any, ...], number: int, sheet: str, record_index: int
) -> Record:
    record: Record = {}
    for index, cell in enumerate(row):
        name = header[index] if index < len(header) else ""
        kind = type(cell)
        value = cell
        if kind is not str and kind is not int and kind is not bool and cell is not None:
            value = _json_value(cell)  # floats (not finite ones), dates, times, durations
        if name:
            record[name] = value
        elif not _empty(value):
            column = column_letter(index)
            raise InvalidInput(
                f"cell {column}{number} of sheet {sheet!r} holds a value under an empty header "
                "(a missing header, or a merged header cell): the value would be lost",
                record_index=record_index,
                sheet=sheet,
                row=number,
                column=column,
            )
    for name in header[len(row) :]:
        if name:
            record[name] = None
    return record


def _json_value(value: Any) -> Any:
    """Excel's value as plain JSON: numbers, booleans, null, text, and dates as ISO 8601 text."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dt.datetime):
        value = _round_to_second(value)
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.replace(microsecond=0).isoformat(timespec="seconds")
    if isinstance(value, dt.timedelta):
        seconds = round(value.total_seconds())
        sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
        return f"{sign}{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return str(value)


def _round_to_second(value: dt.datetime) -> dt.datetime:
    rounded = value.replace(microsecond=0)
    return rounded + dt.timedelta(seconds=1) if value.microsecond >= 500_000 else rounded


def _text(value: Any) -> str:
    converted = _json_value(value)
    return converted if isinstance(converted, str) else str(converted)


def _empty(value: Any) -> bool:
    return value is None or value == ""


def _formulas_without_cached_value(archive: zipfile.ZipFile, member: str) -> int:
    """Cells with a formula but no cached value: openpyxl reads them as empty, so count them."""
    with archive.open(member) as source:
        first = source.read(1 << 20)
        if b"<f" not in first and not _any_formula(source):
            return 0
    counter = FormulaCounter()
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.StartElementHandler = counter.start
    parser.EndElementHandler = counter.end
    parser.CharacterDataHandler = counter.text
    with archive.open(member) as source:
        parser.ParseFile(source)
    return counter.missing


def _any_formula(source: IO[bytes]) -> bool:
    tail = b""
    while block := source.read(1 << 20):
        if b"<f" in tail + block:
            return True
        tail = block[-2:]
    return False


def _refuse_doctype(*args: object) -> None:
    raise InvalidInput("the sheet XML declares a DTD, which no Excel workbook does: refused")


def _unreadable(exc: BaseException, what: str) -> InvalidInput:
    """openpyxl wraps parser errors; look down the chain for an XML attack defusedxml stopped."""
    import defusedxml

    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, defusedxml.DefusedXmlException):
            return InvalidInput(
                f"the workbook's XML declares entities or a DTD ({type(cause).__name__}), as XML "
                f"bombs and external-entity attacks do: refused. {SAVE_AS_XLSX}"
            )
        cause = cause.__cause__ or cause.__context__
    message = " ".join(str(exc).split())
    return InvalidInput(f"{what}: {type(exc).__name__}: {message}. {SAVE_AS_XLSX}")
