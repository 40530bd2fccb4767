"""A sheet's rows to records, whichever reader read them: the header row names the fields
(readers/tabular.py, by excel_header_conflicts), each non-blank row below it is a record, and each
cell's value becomes plain JSON (dates, times and durations as ISO 8601 text)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

from ingestd.core import headers
from ingestd.errors import InvalidInput
from ingestd.readers import Record
from ingestd.readers.tabular import Naming, empty

NameRecords = Callable[[list[str], Callable[[Any], Any]], None]
"""How a row source is told the field names, to give rows as their records from then on
(streaming.SheetRows.name_records): a dict among the rows is a record already."""


def rows_to_records(
    rows: Iterator[tuple[Any, ...] | Record],
    header_row: int,
    sheet: str,
    naming: Naming,
    name_records: NameRecords | None = None,
) -> Iterator[Record]:
    numbered = enumerate(rows, start=1)
    for number, row in numbered:
        if number == header_row:
            header = _header(row, number, sheet)
            names = naming.start(header, f"of sheet {sheet!r}", sheet=sheet, row=number)
            yield from _records_under(names, numbered, sheet, naming, name_records)
            return
    raise InvalidInput(f"sheet {sheet!r} has no header row {header_row}: it is empty", sheet=sheet)


def _records_under(
    names: list[str],
    numbered: Iterator[tuple[int, Any]],
    sheet: str,
    naming: Naming,
    name_records: NameRecords | None,
) -> Iterator[Record]:
    named = all(names)
    for index, number, row in record_rows(numbered):
        if type(row) is dict:  # the row source's record of the row, under these names
            yield row
            continue
        if index == 1 and named and name_records is not None:
            name_records(names, _json_value)  # past the first record, names no longer change
        if named and len(row) <= len(names):
            yield _named_record(names, row)
            continue
        record, unnamed = _record(names, row)
        if unnamed:
            if not naming.renaming:
                raise naming.value_under_empty_header(
                    unnamed[0],
                    f"cell {headers.column_letter(unnamed[0])}{number} of sheet {sheet!r}",
                    record_index=index,
                    sheet=sheet,
                    row=number,
                )
            names = naming.add(unnamed, index, numbered)
            named = all(names)
            record, _ = _record(names, row)
        yield record


def _named_record(names: list[str], row: tuple[Any, ...]) -> Record:
    """The common row's record: every column named. A float that is not finite is left for
    orjson, which writes it as null, as _json_value would."""
    if not _PLAIN.issuperset(map(type, row)):  # dates, times and durations as text
        row = tuple([v if type(v) in _PLAIN else _json_value(v) for v in row])
    record = dict(zip(names, row, strict=False))
    if len(row) < len(names):
        record.update(dict.fromkeys(names[len(row) :]))
    return record


def record_rows(
    numbered: Iterator[tuple[int, Any]],
) -> Iterator[tuple[int, int, Any]]:
    """The rows that are records (not blank), each with its record index and row number."""
    index = 0
    for number, row in numbered:
        if not _BLANK.issuperset(row.values() if type(row) is dict else row):
            yield index, number, row
            index += 1


_BLANK = frozenset({None, ""})
_PLAIN = frozenset({str, int, float, bool, type(None)})


def _header(row: tuple[Any, ...] | Record, number: int, sheet: str) -> list[str]:
    cells = row.values() if isinstance(row, dict) else row  # no row source names it so early
    names = ["" if empty(v) else _text(v).strip() for v in cells]
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
        elif not empty(value):
            unnamed.append(index)
    for name in names[len(row) :]:
        if name:
            record[name] = None
    return record, unnamed


def _json_value(value: Any) -> Any:
    """Excel's value as plain JSON: numbers, booleans, null, text, and dates, times and
    durations as ISO 8601 text, with milliseconds when Excel stored any (it stores no finer)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dt.datetime):
        return _moment(value)
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


@lru_cache(maxsize=4096)  # a sheet's dates repeat
def _moment(value: dt.datetime) -> str:
    value, millis = _whole_seconds(value)
    if millis:
        return f"{value.isoformat(timespec='seconds')}.{millis:03d}"
    if value.time() == dt.time(0):
        return value.date().isoformat()
    return value.isoformat(timespec="seconds")


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
