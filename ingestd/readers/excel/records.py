"""A sheet's rows to records, whichever reader read them: the header row names the fields
(core/headers.py, by excel_header_conflicts), each non-blank row below it is a record, and each
cell's value becomes plain JSON (dates, times and durations as ISO 8601 text)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from typing import Any

from ingestd.core import headers
from ingestd.errors import InvalidInput, Reread
from ingestd.readers import ReadDetails, Record


def rows_to_records(
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
    for index, number, row in record_rows(numbered):
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


def record_rows(
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
