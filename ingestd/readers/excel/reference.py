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
from collections.abc import Generator, Iterator
from typing import IO, Any

from ingestd.core import headers
from ingestd.errors import Interrupted, InvalidInput
from ingestd.readers import (
    CanonicalRecord,
    Declined,
    ReadDetails,
    Reader,
    Record,
    Reread,
    SourceStream,
)
from ingestd.readers.excel.streaming import FormulaCounter, SheetRows
from ingestd.readers.excel.workbook_zip import SAVE_AS_XLSX, open_workbook_zip


class ExcelReader:
    file_type = "excel"
    fast: Reader | None = None

    def __init__(
        self,
        sheet: str | int | None = None,
        header_row: int = 1,
        streaming: bool = False,
        header_conflicts: str = headers.FAIL,
    ) -> None:
        self._sheet = sheet
        self._header_row = header_row
        self._streaming = streaming
        self._conflicts = header_conflicts
        self.fast: Reader | None = (
            None if streaming else ExcelReader(sheet, header_row, True, header_conflicts)
        )

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
            naming = Naming(self._conflicts, details)
            if self._streaming:
                read = self._read_streaming(workbook, sheet, archive, member, naming)
            else:
                read = self._read_with_openpyxl(sheet, archive, member, naming)
            uncached = yield from read
            if uncached:
                details.notes["formulas_without_cached_value"] = uncached
        except (InvalidInput, Interrupted, GeneratorExit, Declined, Reread):
            raise
        except Exception as exc:
            if self._streaming:
                raise Declined(f"{type(exc).__name__}: {exc}") from exc
            raise _unreadable(exc, "the workbook cannot be read") from exc
        finally:
            workbook.close()
            archive.close()

    def _read_with_openpyxl(
        self, sheet: Any, archive: zipfile.ZipFile, member: str, naming: Naming
    ) -> Generator[Record, None, int]:
        """The records, then the number of formulas without a cached value."""
        sheet.reset_dimensions()  # a wrong <dimension> must not cut rows or columns off
        rows = sheet.iter_rows(values_only=True)
        yield from _rows_to_records(rows, self._header_row, sheet.title, naming)
        return _formulas_without_cached_value(archive, member)

    def _read_streaming(
        self, workbook: Any, sheet: Any, archive: zipfile.ZipFile, member: str, naming: Naming
    ) -> Generator[Record | CanonicalRecord, None, int]:
        """The same from the sheet's XML, formulas counted on the way (excel_rows)."""
        rows = SheetRows(
            sheet._shared_strings,  # the table openpyxl read for this sheet; no public name
            workbook.epoch,
            set(workbook._date_formats),
            set(workbook._timedelta_formats),
        )
        with archive.open(member) as source:
            yield from _rows_to_records(rows.rows(source), self._header_row, sheet.title, naming)
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


def _rows_to_records(
    rows: Iterator[tuple[Any, ...]],
    header_row: int,
    sheet: str,
    naming: Naming,
) -> Iterator[Record]:
    numbered = enumerate(rows, start=1)
    for number, row in numbered:
        if number == header_row:
            names = naming.start(_header(row, number, sheet), number, sheet)
            yield from _records_under(names, numbered, sheet, naming)
            return
    raise InvalidInput(f"sheet {sheet!r} has no header row {header_row}: it is empty", sheet=sheet)


def _records_under(
    names: list[str],
    numbered: Iterator[tuple[int, tuple[Any, ...]]],
    sheet: str,
    naming: Naming,
) -> Iterator[Record]:
    named = all(names)
    for index, number, row in _record_rows(numbered):
        if named and len(row) <= len(names) and _PLAIN.issuperset(map(type, row)):
            # the common row: every column named, every value JSON already; a float that is
            # not finite is left for orjson, which writes it as null, as _json_value would
            record = dict(zip(names, row, strict=False))
            if len(row) < len(names):
                record.update(dict.fromkeys(names[len(row) :]))
            yield record
            continue
        record, unnamed = _record(names, row)
        if unnamed:
            if not naming.renaming:
                raise _value_under_empty_header(unnamed[0], number, sheet, index)
            names = naming.add(unnamed, index, numbered)
            named = all(names)
            record, _ = _record(names, row)
        yield record


class Naming:
    """Field names for one sheet's columns, by `excel_header_conflicts`; when renaming, a value
    under an empty header found after the first record means the records already given lack
    its column: the rest of the sheet is searched for more such columns, and the reading starts
    again (Reread) knowing them all, so that every record has every column."""

    def __init__(self, conflicts: str, details: ReadDetails) -> None:
        self.renaming = conflicts == headers.RENAME
        self._conflicts = conflicts
        self._details = details
        self._header: list[str] = []
        self._known: set[int] = set(details.hints.get(COLUMNS_WITH_VALUES, ()))

    def start(self, header: list[str], number: int, sheet: str) -> list[str]:
        self._header = header
        try:
            return self._names()
        except headers.DuplicateHeader as exc:
            first, second = exc.columns
            raise InvalidInput(
                f"columns {first} and {second} of sheet {sheet!r} both have the header "
                f"{exc.name!r}: a record cannot hold the same field twice (set "
                'excel_header_conflicts = "rename" to keep both)',
                sheet=sheet,
                row=number,
                columns=exc.columns,
            ) from None

    def add(
        self,
        columns: list[int],
        index: int,
        rest: Iterator[tuple[int, tuple[Any, ...]]],
    ) -> list[str]:
        self._known.update(columns)
        if index > 0:
            for _, row in rest:
                self._known.update(c for c, v in enumerate(row) if not _empty(v))
            self._known.difference_update(i for i, name in enumerate(self._header) if name)
            self._details.hints[COLUMNS_WITH_VALUES] = sorted(self._known)
            raise Reread(f"columns with values under an empty header: {sorted(self._known)}")
        return self._names()

    def _names(self) -> list[str]:
        columns = headers.name_columns(self._header, self._conflicts, self._known)
        if columns.renamed:
            self._details.notes["renamed_columns"] = columns.renamed
        return columns.names


COLUMNS_WITH_VALUES = "excel_columns_with_values"


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
    if not any(names):
        raise InvalidInput(
            f"header row {number} of sheet {sheet!r} is empty", sheet=sheet, row=number
        )
    return names


def _record(names: list[str], row: tuple[Any, ...]) -> tuple[Record, list[int]]:
    """The record of a row, and the columns holding a value under no name."""
    record: Record = {}
    unnamed: list[int] = []
    for index, cell in enumerate(row):
        name = names[index] if index < len(names) else ""
        kind = type(cell)
        value = cell
        if kind is not str and kind is not int and kind is not bool and cell is not None:
            value = _json_value(cell)  # floats (not finite ones), dates, times, durations
        if name:
            record[name] = value
        elif not _empty(value):
            unnamed.append(index)
    for name in names[len(row) :]:
        if name:
            record[name] = None
    return record, unnamed


def _value_under_empty_header(column: int, number: int, sheet: str, index: int) -> InvalidInput:
    letter = headers.column_letter(column)
    return InvalidInput(
        f"cell {letter}{number} of sheet {sheet!r} holds a value under an empty header "
        "(a missing header, or a merged header cell): the value would be lost (set "
        'excel_header_conflicts = "rename" to keep it as column_' + letter + ")",
        record_index=index,
        sheet=sheet,
        row=number,
        column=letter,
    )


def _json_value(value: Any) -> Any:
    """Excel's value as plain JSON: numbers, booleans, null, text, and dates, times and
    durations as ISO 8601 text, with milliseconds when Excel stored any (it stores no finer)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dt.datetime):
        value, millis = _whole_seconds(value)
        if millis:
            return f"{value.isoformat(timespec='seconds')}.{millis:03d}"
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        moment, millis = _whole_seconds(dt.datetime.combine(dt.date(2000, 1, 1), value))
        text = moment.time().isoformat(timespec="seconds")
        return f"{text}.{millis:03d}" if millis else text
    if isinstance(value, dt.timedelta):
        millis = round(value / dt.timedelta(milliseconds=1))
        sign, millis = ("-" if millis < 0 else ""), abs(millis)
        seconds, millis = divmod(millis, 1000)
        text = f"{sign}{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        return f"{text}.{millis:03d}" if millis else text
    return str(value)


def _whole_seconds(value: dt.datetime) -> tuple[dt.datetime, int]:
    """The moment to the second below it, and the milliseconds after (rounded half up)."""
    millis = (value.microsecond + 500) // 1000
    whole = value.replace(microsecond=0)
    if millis == 1000:
        return whole + dt.timedelta(seconds=1), 0
    return whole, millis


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
