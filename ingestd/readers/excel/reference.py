"""Excel workbooks (.xlsx, .xlsm): one sheet, a header row, one record per non-empty row.

The reference reader is openpyxl in read-only mode with cached formula values, one row at a
time, so memory is bounded by a row (plus the workbook's shared strings); defusedxml is
installed, which openpyxl uses to refuse XML entity tricks. Its fast variant reads the sheet's
XML itself (streaming.py). Both inspect the archive first (workbook_zip.py) and make records of
the rows the same way (records.py).
"""

from __future__ import annotations

import xml.parsers.expat
import zipfile
from collections.abc import Generator, Iterator
from typing import IO, Any

from ingestd.core import headers
from ingestd.errors import Interrupted, InvalidInput
from ingestd.readers import (
    Declined,
    ReadDetails,
    Reader,
    Record,
    Reread,
    SourceStream,
)
from ingestd.readers.excel.records import record_rows, rows_to_records
from ingestd.readers.excel.streaming import SHEET_BLOCK, FormulaCounter, SheetRows
from ingestd.readers.excel.workbook import read_workbook, shared_strings
from ingestd.readers.excel.workbook_zip import SAVE_AS_XLSX, open_workbook_zip
from ingestd.readers.tabular import Naming


class ExcelReader:
    file_type = "excel"
    fast: Reader | None = None

    def __init__(
        self,
        sheet: str | int | None = None,
        header_row: int = 1,
        streaming: bool = False,
        header_conflicts: str = headers.FAIL,
        sheet_block: int = SHEET_BLOCK,
    ) -> None:
        """`sheet_block`: the bytes of the sheet the fast reader reads at a time (tests make
        it small, so that rows of a small sheet arrive in blocks of their own)."""
        self._sheet = sheet
        self._header_row = header_row
        self._streaming = streaming
        self._conflicts = header_conflicts
        self._sheet_block = sheet_block
        self.fast: Reader | None = (
            None
            if streaming
            else ExcelReader(sheet, header_row, True, header_conflicts, sheet_block)
        )

    def records(self, stream: SourceStream, details: ReadDetails) -> Iterator[Record]:
        f = stream.seekable()
        with open_workbook_zip(f) as archive:
            naming = Naming(self._conflicts, details, "excel_header_conflicts")
            try:
                if self._streaming:
                    uncached = yield from self._read_streaming(archive, naming, details)
                else:
                    uncached = yield from self._read_with_openpyxl(f, archive, naming, details)
            except (InvalidInput, Interrupted, GeneratorExit, Declined, Reread):
                raise
            except Exception as exc:
                if self._streaming:
                    raise Declined(f"{type(exc).__name__}: {exc}") from exc
                raise _unreadable(exc, "the workbook cannot be read") from exc
            if uncached:
                details.notes["formulas_without_cached_value"] = uncached

    def _read_with_openpyxl(
        self, f: IO[bytes], archive: zipfile.ZipFile, naming: Naming, details: ReadDetails
    ) -> Generator[Record, None, int]:
        """The records, then the number of formulas without a cached value."""
        workbook = _load(f)
        try:
            sheet = self._pick(workbook)
            details.sheet = sheet.title
            sheet.reset_dimensions()  # a wrong <dimension> must not cut rows or columns off
            rows = sheet.iter_rows(values_only=True)
            yield from rows_to_records(rows, self._header_row, sheet.title, naming)
        finally:
            workbook.close()
        member = read_workbook(archive).pick(sheet.title).member
        return _formulas_without_cached_value(archive, member)

    def _read_streaming(
        self, archive: zipfile.ZipFile, naming: Naming, details: ReadDetails
    ) -> Generator[Record, None, int]:
        """The same from the sheet's XML, formulas counted on the way (streaming.py)."""
        workbook = read_workbook(archive)
        sheet = workbook.pick(self._sheet)
        details.sheet = sheet.title
        rows = SheetRows(
            shared_strings(archive),
            workbook.epoch,
            workbook.date_styles,
            workbook.duration_styles,
            self._sheet_block,
        )
        with archive.open(sheet.member) as source:
            yield from rows_to_records(
                rows.rows(source), self._header_row, sheet.title, naming, rows.name_records
            )
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
                for found, number, _ in record_rows(rows):
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
