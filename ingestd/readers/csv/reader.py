"""CSV and TSV files: a header line naming the fields, one record per line below it.

Read with the standard library's csv module (C, strict about quotes) over text decoded in
`csv_encoding`; every value is the string written, nothing guessed. The header's names follow
the rules of Excel headers (readers/tabular.py, by `csv_header_conflicts`); blank lines, and
rows of nothing but delimiters, are skipped; a row with more or fewer fields than the header
fails the file, with its line.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from ingestd.core import headers
from ingestd.errors import InvalidInput
from ingestd.readers.base import ReadDetails, Reader, Record, SourceStream
from ingestd.readers.csv.text import DecodedLines
from ingestd.readers.tabular import Naming

FIELD_LIMIT = 16 << 20
"""Characters in one field: more is a quote out of place, not a product description."""

Row = tuple[int, list[str]]  # the line the row starts on, its fields


class CsvReader:
    file_type = "csv"
    fast: Reader | None = None

    def __init__(
        self,
        delimiter: str = ",",
        quotechar: str = '"',
        encoding: str = "utf-8",
        header_row: int = 1,
        header_conflicts: str = headers.FAIL,
    ) -> None:
        self._delimiter = delimiter
        self._quotechar = quotechar
        self._encoding = encoding
        self._header_row = header_row
        self._conflicts = header_conflicts

    def records(self, stream: SourceStream, details: ReadDetails) -> Iterator[Record]:
        naming = Naming(self._conflicts, details, "csv_header_conflicts")
        rows = self._rows(stream)
        line, header = self._header(rows)
        names = naming.start(header, f"on line {line}", line=line)
        width = len(header)
        for index, (line, fields) in enumerate(_nonblank(rows)):
            if len(fields) != width:
                raise self._wrong_width(line, len(fields), width, index)
            record, unnamed = _record(names, fields)
            if unnamed:
                if not naming.renaming:
                    raise naming.value_under_empty_header(
                        unnamed[0],
                        f"line {line}, column {headers.column_letter(unnamed[0])},",
                        record_index=index,
                        line=line,
                    )
                names = naming.add(unnamed, index, rows)
                record, _ = _record(names, fields)
            yield record

    def where(self, fd: int, index: int) -> dict[str, Any]:
        rows = self._rows(SourceStream(fd))
        self._header(rows)
        for found, (line, _) in enumerate(_nonblank(rows)):
            if found == index:
                return {"record_index": index, "line": line}
        return {"record_index": index}

    def _rows(self, stream: SourceStream) -> Iterator[Row]:
        csv.field_size_limit(FIELD_LIMIT)  # the module's own limit (128 KiB) is too small
        reader = csv.reader(
            DecodedLines(stream, self._encoding),
            delimiter=self._delimiter,
            quotechar=self._quotechar,
            strict=True,
        )
        start = 1
        try:
            for fields in reader:
                yield start, fields
                start = reader.line_num + 1
        except csv.Error as exc:
            raise self._malformed(exc, start, reader.line_num) from None

    def _header(self, rows: Iterator[Row]) -> tuple[int, list[str]]:
        """The row on line `csv_header_row`, its names trimmed ("" where empty)."""
        for line, fields in rows:
            if line + _spanned(fields) < self._header_row:
                continue  # the row ends before the header line
            names = [field.strip() for field in fields]
            if not any(names):
                raise InvalidInput(
                    f"line {line}, the header (csv_header_row = {self._header_row}), is blank",
                    line=line,
                )
            return line, names
        raise InvalidInput(
            f"the file ends before line {self._header_row}, its header (csv_header_row): an "
            "empty export is not an empty catalog"
        )

    def _wrong_width(self, line: int, count: int, width: int, index: int) -> InvalidInput:
        return InvalidInput(
            f"line {line} has {count} fields where the header has {width}: a delimiter or a "
            f"quote out of place? (csv_delimiter is {self._delimiter!r}, csv_quotechar is "
            f"{self._quotechar!r})",
            record_index=index,
            line=line,
            fields=count,
            header_fields=width,
        )

    def _malformed(self, exc: csv.Error, start: int, stopped: int) -> InvalidInput:
        text, line = str(exc), start
        if "unexpected end of data" in text:
            what = (
                f"the row starting on line {start} has a quoted field that is not closed "
                "before the end of the file"
            )
        elif "field larger than field limit" in text:
            what = (
                f"the row starting on line {start} has a field longer than {FIELD_LIMIT} "
                "characters: a quote out of place?"
            )
        else:
            line = stopped
            what = (
                f"line {stopped} is not valid CSV ({text}; csv_delimiter is "
                f"{self._delimiter!r}, csv_quotechar is {self._quotechar!r})"
            )
        return InvalidInput(what, line=line)


def _nonblank(rows: Iterator[Row]) -> Iterator[Row]:
    """Rows with a value: an empty line, or one of delimiters only, is not a record."""
    for row in rows:
        if any(row[1]):
            yield row


def _spanned(fields: list[str]) -> int:
    """How many line breaks quoted fields of a row hold: the lines it takes, less one."""
    return sum(field.count("\n") for field in fields)


def _record(names: list[str], fields: list[str]) -> tuple[Record, list[int]]:
    """The record of a row, and the columns holding a value under no name."""
    if all(names):
        return dict(zip(names, fields, strict=True)), []
    record = {name: value for name, value in zip(names, fields, strict=True) if name}
    unnamed = [
        i for i, (name, value) in enumerate(zip(names, fields, strict=True)) if not name and value
    ]
    return record, unnamed
