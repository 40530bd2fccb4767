"""Field names for the columns of a table, whichever format it came in (Excel, CSV).

The header row's names come from core/headers.py by the inbox's `*_header_conflicts`. When
renaming, a value under an empty header found after the first record means the records already
given lack its column: the rest of the table is searched for more such columns, and the reading
starts again (Reread) knowing them all, so that every record has every column.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from ingestd.core import headers
from ingestd.errors import InvalidInput, Reread
from ingestd.readers.base import ReadDetails

COLUMNS_WITH_VALUES = "columns_with_values"

Rows = Iterator[tuple[int, Sequence[Any] | dict[str, Any]]]
"""(row or line number, the row's values), or its record where the row source made it (Excel's
fast reader, once the names are known: streaming.SheetRows.name_records)."""


class Naming:
    def __init__(self, conflicts: str, details: ReadDetails, setting: str) -> None:
        """`setting` is the config key that chooses `conflicts`, named in failure reports."""
        self.renaming = conflicts == headers.RENAME
        self._conflicts = conflicts
        self._details = details
        self._setting = setting
        self._header: list[str] = []
        self._known: set[int] = set(details.hints.get(COLUMNS_WITH_VALUES, ()))

    def start(self, header: list[str], place: str, **where: Any) -> list[str]:
        """The field names for `header`; `place` ("of sheet 'S'", "on line 3") and `where`
        say where the header is, for a report."""
        self._header = header
        try:
            return self._names()
        except headers.DuplicateHeader as exc:
            first, second = exc.columns
            raise InvalidInput(
                f"columns {first} and {second} {place} both have the header {exc.name!r}: a "
                f'record cannot hold the same field twice (set {self._setting} = "rename" '
                "to keep both)",
                **where,
                columns=exc.columns,
            ) from None

    def add(self, columns: list[int], index: int, rest: Rows) -> list[str]:
        """Name `columns`, found holding values under an empty header in record `index`."""
        self._known.update(columns)
        if index > 0:
            for _, row in rest:
                cells = row.values() if type(row) is dict else row  # a record: its cells in order
                self._known.update(c for c, v in enumerate(cells) if not empty(v))
            self._known.difference_update(i for i, name in enumerate(self._header) if name)
            self._details.hints[COLUMNS_WITH_VALUES] = sorted(self._known)
            raise Reread(f"columns with values under an empty header: {sorted(self._known)}")
        return self._names()

    def value_under_empty_header(self, column: int, cell: str, **where: Any) -> InvalidInput:
        """The failure for a value under an empty header when not renaming; `cell` names it
        ("cell B7 of sheet 'S'", "line 7, column B")."""
        letter = headers.column_letter(column)
        return InvalidInput(
            f"{cell} holds a value under an empty header (a missing header, or a merged "
            f'header cell): the value would be lost (set {self._setting} = "rename" to keep '
            f"it as column_{letter})",
            **where,
            column=letter,
        )

    def _names(self) -> list[str]:
        columns = headers.name_columns(self._header, self._conflicts, self._known)
        if columns.renamed:
            self._details.notes["renamed_columns"] = columns.renamed
        return columns.names


def empty(value: Any) -> bool:
    return value is None or value == ""
