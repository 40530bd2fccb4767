"""Field names from a header row, for every tabular format (Excel sheets, CSV).

`header_conflicts = "fail"` (the default) refuses a header that names two columns alike, and a
value under an empty header. `"rename"` keeps every column: the second and later columns with
the same header are named `<header>_2`, `<header>_3`, ... from left to right, and a column with a
value under an empty header `column_<LETTER>`; a generated name that equals any header of the
row, left or right (or one generated before it), is skipped for the next number.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

FAIL, RENAME = "fail", "rename"


def column_letter(index: int) -> str:
    """The column letters a spreadsheet shows for a 0-based index (0 -> A, 26 -> AA)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


class DuplicateHeader(ValueError):
    def __init__(self, name: str, first: int, second: int) -> None:
        super().__init__(name)
        self.name = name
        self.columns = [column_letter(first), column_letter(second)]


@dataclass(frozen=True)
class Columns:
    """Each column's field name ("" for a column that is not a field), and what was renamed."""

    names: list[str]
    renamed: dict[str, str] = field(default_factory=dict)  # column letter -> generated name

    def named(self, index: int) -> bool:
        return index < len(self.names) and bool(self.names[index])


def name_columns(
    header: list[str], conflicts: str = FAIL, with_values: Iterable[int] = ()
) -> Columns:
    """Field names for a header row (names already trimmed, "" where empty). `with_values` are
    the columns known to hold a value under an empty header, named only when renaming."""
    taken = set(header)
    names = list(header)
    renamed: dict[str, str] = {}
    first_seen: dict[str, int] = {}
    for index, name in enumerate(header):
        if not name:
            continue
        if name not in first_seen:
            first_seen[name] = index
            continue
        if conflicts != RENAME:
            raise DuplicateHeader(name, first_seen[name], index)
        names[index] = renamed[column_letter(index)] = _free(name, 2, taken)
    if conflicts == RENAME:
        for index in sorted(with_values):
            if index >= len(names):
                names.extend([""] * (index + 1 - len(names)))
            if not names[index]:
                names[index] = _free(f"column_{column_letter(index)}", 1, taken)
                renamed[column_letter(index)] = names[index]
    return Columns(names, renamed)


def _free(base: str, number: int, taken: set[str]) -> str:
    """The first of base_<number>, base_<number+1>, ... (base itself for number 1) not taken."""
    while True:
        candidate = base if number == 1 else f"{base}_{number}"
        if candidate not in taken:
            taken.add(candidate)
            return candidate
        number += 1
