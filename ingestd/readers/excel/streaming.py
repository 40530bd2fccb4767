"""A sheet's rows straight from its XML, as openpyxl's read-only `iter_rows(values_only=True)`
would give them, several times faster.

The workbook's other parts (sheet list, shared strings, date styles, epoch) come from
workbook.py; only the per-cell work is done here, by openpyxl's rules: the same number casting,
the same date conversion functions, the same padding of ragged and missing rows. Rows written the
usual way are read by the regular expressions of grammar.py, and those of plain cells (most rows
of most exports) are rewritten there as JSON text that orjson reads in one call; everything else
goes to the C expat parser, which the two hand over to each other row by row. Anything none of
them reads as openpyxl does (rich inline text, a row number that is not an integer, a sheet in
another namespace) raises Declined, and the reader falls back to openpyxl.
tests/readers/test_excel_streaming.py holds them equal, on generated workbooks and fuzzed rows.

    SheetRows     feeds the sheet's bytes to the right reader: expat up to <sheetData>, the
                  grammar row by row inside it (expat for a row it does not match), expat after
    GrammarRows  rows read by regular expressions, plain ones as JSON
    _ExpatRows    expat's handlers: one cell at a time
    Cells        a cell's text to its value, by openpyxl's rules
    RowOrder     rows given in openpyxl's order, padded and deduplicated as it does

Once the records layer knows the sheet's field names (name_records), a row read as JSON is given
as its record instead, a dict (records.py would make the same from its row): one layer of work
per row less, on the path most rows take.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.parsers.expat
from collections import Counter
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any, Protocol

import orjson

from ingestd.core.headers import column_letter
from ingestd.readers import Declined
from ingestd.readers.excel import grammar
from ingestd.readers.excel.workbook import StringTable

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_WORKSHEET, _SHEET_DATA, _ROW, _CELL, _VALUE, _INLINE, _TEXT, _RUN, _PHONETIC = (
    f"{_MAIN} {tag}" for tag in ("worksheet", "sheetData", "row", "c", "v", "is", "t", "r", "rPh")
)
SHEET_BLOCK = 1 << 16
_MAX_ROW_BYTES = 16 << 20
_SHEET_DATA_TAG = b"<sheetData>"
_DATES_REMEMBERED = 4096
_NO_ROW = re.compile(b"(?!)")
Row = tuple[Any, ...]
Named = dict[str, Any]  # a row's record, once the records layer has named the columns


class Source(Protocol):
    """What a sheet is read from: a zip member."""

    def read(self, size: int, /) -> bytes: ...


class SheetRows:
    """A sheet's rows from its bytes, a block at a time. `read_by` counts the rows each way
    read (json, cells, expat; "json as records" of the json ones), for tests and benchmarks."""

    def __init__(
        self,
        strings: StringTable,
        epoch: dt.datetime,
        date_styles: frozenset[int],
        duration_styles: frozenset[int],
        block: int = SHEET_BLOCK,
    ) -> None:
        """`block`: how many bytes of the sheet are read at a time (tests make it small)."""
        self.read_by: Counter[str] = Counter()
        self._block = block
        self.formulas = FormulaCounter()
        self._order = RowOrder()
        cells = Cells(strings, epoch, date_styles, duration_styles)
        self._expat = _ExpatRows(cells, self._order, self.formulas, self.read_by)
        self._grammar = GrammarRows(cells, self._order, self.formulas, self.read_by)
        self._pending = b""
        self._step = self._head

    def rows(self, source: Source) -> Iterator[Row | Named]:
        while block := source.read(self._block):
            yield from self.feed(block)
        yield from self.finish()

    def name_records(self, names: list[str], as_json: Callable[[Any], Any]) -> None:
        """From the next block on, give a row read as JSON as its record under `names` (every
        one a name; records.py calls this once they can no longer change), each value as
        `as_json` makes it."""
        self._grammar.named = _AsRecords(names, as_json)

    def feed(self, block: bytes) -> list[Row | Named]:
        """The rows that the sheet's next bytes completed."""
        try:
            self._step(self._pending + block)
        except xml.parsers.expat.ExpatError as exc:
            raise Declined(f"expat: {exc}") from exc
        return self._order.drain()

    def finish(self) -> list[Row | Named]:
        """The last rows, once the sheet's bytes have all been fed."""
        try:
            self._expat.parse(self._pending, True)
        except xml.parsers.expat.ExpatError as exc:
            raise Declined(f"expat: {exc}") from exc
        return self._order.drain()

    def _keep(self, data: bytes, at: int) -> None:
        """Keep data[at:] for the next block; what comes before it has been read."""
        self._pending = data[at:]

    def _head(self, data: bytes) -> None:
        """Up to <sheetData>, everything goes to expat."""
        at = data.find(_SHEET_DATA_TAG)
        if at < 0:
            cut = max(0, len(data) - len(_SHEET_DATA_TAG))
            self._expat.parse(data[:cut])
            self._keep(data, cut)
            return
        start = at + len(_SHEET_DATA_TAG)
        fed = self._expat.fed
        self._expat.parse(data[:start])
        if self._expat.sheet_data_at != fed + at:  # the text was in a comment, say
            self._to_expat(data, start)
            return
        self._keep(data, start)
        self._step = self._rows
        self._rows(self._pending)

    def _rows(self, data: bytes) -> None:
        """Inside <sheetData>: row by row, the grammar first, expat for a row it does not read;
        a row expat does not end where the text says hands the rest to expat."""
        position = 0
        unusual = grammar.unusual(data)
        while True:
            position = self._grammar.read(data, position, unusual, self._expat.prefixes)
            if data.startswith(b"</sheetData>", position):
                self._to_expat(data, position)
                return
            end = data.find(b"</row>", position)
            if end < 0:
                rest = data[position : position + 4]
                if len(data) - position > _MAX_ROW_BYTES or not b"<row".startswith(rest):
                    self._to_expat(data, position)
                    return
                self._keep(data, position)  # wait for the row's end
                return
            fed = self._expat.fed  # expat has not seen the rows the grammar read
            self._expat.parse(data[position : end + len(b"</row>")])
            if self._expat.row_end_at != fed + end - position:  # "</row>" was not a row's end
                self._to_expat(data, end + len(b"</row>"))
                return
            position = end + len(b"</row>")

    def _to_expat(self, data: bytes, at: int) -> None:
        """From here on expat reads everything."""
        self._step = self._expat_only
        self._expat_only(data[at:])

    def _expat_only(self, data: bytes) -> None:
        self._expat.parse(data)
        self._keep(data, len(data))


def _loads(text: bytes | None) -> list[dict[str, Any]] | None:
    """Rows as JSON, or None to read them cell by cell: those tell which is wrong and how
    (invalid UTF-8, say, or a shared string the table does not have)."""
    if text is None:
        return None
    try:
        rows: list[dict[str, Any]] = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return rows


class RowOrder:
    """Rows in the order openpyxl gives them: a gap in the numbering padded with empty rows, a
    row numbered at or below one already given skipped."""

    def __init__(self) -> None:
        self._next = 1
        self._ready: list[Row | Named] = []

    def add(self, number: int, row: Row | Named) -> None:
        while self._next < number:
            self._next += 1
            self._ready.append(())
        if self._next > number:
            return
        self._next += 1
        self._ready.append(row)

    def add_cells(self, number: int, cells: list[tuple[int, Any]]) -> None:
        """A row from its cells, (1-based column, value) in document order."""
        if not cells:
            self.add(number, ())
            return
        width = cells[-1][0]
        row: list[Any] = [None] * width
        for column, value in cells:
            if 1 <= column <= width:
                row[column - 1] = value
        self.add(number, tuple(row))

    def drain(self) -> list[Row | Named]:
        ready, self._ready = self._ready, []
        return ready


class Cells:
    """A cell's value by openpyxl's rules (worksheet/_reader.py, parse_cell)."""

    def __init__(
        self,
        strings: StringTable,
        epoch: dt.datetime,
        date_styles: frozenset[int],
        duration_styles: frozenset[int],
    ) -> None:
        self.strings = strings
        self.text = strings.finder()
        self.dates = date_styles
        self._epoch = epoch
        self._durations = duration_styles
        self._dates_seen: dict[tuple[float, type, int], Any] = {}

    def convert(self, kind: str, style: int, value: str | None, inline: str | None) -> Any:
        if kind == "inlineStr":
            return inline
        if not value:
            return None
        if kind == "n":
            number = float(value) if "." in value or "E" in value or "e" in value else int(value)
            if style in self.dates:
                return self._date(number, style)
            return number
        if kind == "s":
            return self.text(int(value))
        if kind == "b":
            return bool(int(value))
        if kind == "d":
            return _from_iso8601(value)
        return value

    def _date(self, serial: float, style: int) -> Any:
        """A number in a date style as openpyxl reads it, remembered: a sheet's dates repeat
        (LibreOffice's catalog: one in each of its 200,000 rows, a few hundred different)."""
        key = (serial, type(serial), style)
        found = self._dates_seen.get(key)
        if found is None:
            found = self._date_of(serial, style)
            if len(self._dates_seen) < _DATES_REMEMBERED:
                self._dates_seen[key] = found
        return found

    def _date_of(self, serial: float, style: int) -> Any:
        from openpyxl.utils.datetime import from_excel

        try:
            return from_excel(serial, self._epoch, timedelta=style in self._durations)
        except (OverflowError, ValueError):
            return "#VALUE!"

    def dated(
        self,
        cells: dict[str, Any],
        keys: list[tuple[str, str, int]],
        as_json: Callable[[Any], Any] | None = None,
    ) -> bool:
        """Turn a row read as JSON's date-styled numbers ("A@14@": 45123.5) into dates, by the
        keys its block holds (grammar.DatedKeys), or into what `as_json` makes of them; False
        to read the row cell by cell."""
        for key, column, style in keys:
            number = cells.pop(key, None)  # such a number is never null: not in this row
            if number is None:
                continue
            if column in cells or type(number) not in (int, float):
                return False
            date = self._date(number, style)
            cells[column] = date if as_json is None else as_json(date)
        return True


# A row that json_candidate accepted, waiting to be read as JSON with its neighbours: where it
# starts, its number, its body, its JSON and its last cell's letters (a tuple: made per row).
_PlainRow = tuple[int, bytes, bytes, bytes, bytes]


class GrammarRows:
    """Rows read by regular expressions (grammar.py); consecutive rows of plain cells are
    gathered and read as JSON together (unless `as_json` is off: tests hold the two equal)."""

    def __init__(
        self,
        cells: Cells,
        order: RowOrder,
        formulas: FormulaCounter,
        read_by: Counter[str],
        as_json: bool = True,
    ) -> None:
        self._cells = cells
        self._order = order
        self._formulas = formulas
        self._read_by = read_by
        self.json_row = grammar.json_row(cells.dates) if as_json else _NO_ROW
        self.named: _AsRecords | None = None
        self._dated_keys = grammar.DatedKeys()
        self._attributes: dict[bytes, bool] = {}

    def read(
        self, data: bytes, position: int, unusual: tuple[bool, bool], prefixes: set[bytes]
    ) -> int:
        """Read the rows matching the grammar from `position` on; returns where they end."""
        match = grammar.ROW_START.match
        plain: list[_PlainRow] = []
        while (row := match(data, position)) is not None:
            number, attributes, empty = row.groups()
            if empty:
                body, end = b"", row.end()
            else:
                close = data.find(b"</row>", start := row.end())
                if close < 0:
                    break  # the rest of the row is still to come
                body, end = data[start:close], close + len(b"</row>")
            plain_row = not attributes or self._plain_attributes(attributes, prefixes)
            found = (
                grammar.json_candidate(body, self.json_row, unusual, self._cells.dates)
                if plain_row and body
                else None
            )
            if found is not None:
                plain.append((position, number, body, *found))
                position = end
                continue
            handed_over = self._read_as_json(plain, unusual[1])
            plain = []
            if handed_over is not None:
                return handed_over
            if not plain_row or not self._read_cells(number, body):
                break
            position = end
        handed_over = self._read_as_json(plain, unusual[1])
        return position if handed_over is None else handed_over

    def _plain_attributes(self, attributes: bytes, prefixes: set[bytes]) -> bool:
        """grammar.plain_attributes, remembered: a writer gives most rows the same attributes
        (LibreOffice: six on every row). The prefixes are the root's, fixed once rows begin."""
        known = self._attributes.get(attributes)
        if known is None:
            known = grammar.plain_attributes(attributes, prefixes)
            if len(self._attributes) < 256:
                self._attributes[attributes] = known
        return known

    def _read_as_json(self, plain: list[_PlainRow], escapes: bool) -> int | None:
        """Rows of plain cells in one orjson call (grammar.as_json). A row that cannot be read
        so is read cell by cell; returns where expat must take over, if it must."""
        if not plain:
            return None
        text = grammar.as_json([row[3] for row in plain], escapes)
        keys = text.count(b'":')  # each key ends so, no text holds a quote yet
        dated = self._dated_keys.of(text)
        rows = _loads(grammar.with_strings(text, self._cells.strings.literals))
        if rows is not None and (len(rows) != len(plain) or sum(map(len, rows)) != keys):
            rows = None  # a column twice
        add, width_of, named = self._order.add, _LETTER_COLUMNS.get, self.named
        as_json = named.as_json if named is not None else None
        read = made = 0
        for index, (start, number, body, _, letters) in enumerate(plain):
            cells = rows[index] if rows is not None else None
            if cells is not None and (not dated or self._cells.dated(cells, dated, as_json)):
                width = width_of(letters) or _letters_column(letters)
                if named is not None and width <= named.width:
                    add(int(number), named.record(cells, width))
                    made += 1
                else:
                    add(int(number), tuple(map(cells.get, _column_names(width))))
                read += 1
            elif not self._read_cells(number, body):
                self._count(read, made)
                return start
        self._count(read, made)
        return None

    def _count(self, read: int, made: int) -> None:
        """Rows read as JSON, and how many of them were given as records."""
        self._read_by["json"] += read
        if made:
            self._read_by["json as records"] += made

    def _read_cells(self, number: bytes, body: bytes) -> bool:
        """One row's cells, or False (nothing changed) to hand the row to expat."""
        if not grammar.plain_text(body):
            return False
        found = grammar.cells(body) if body else []
        if found is None:
            return False
        columns: list[int] = []
        values: list[Any] = []
        add_column, add, text = columns.append, values.append, grammar.text
        convert = self._cells.convert
        plain_numbers, text_of = 0 not in self._cells.dates, self._cells.text
        for _, letters, s1, kind, s2, value, inline in found:
            if s1 and s2:
                return False  # s="..." twice: not XML
            add_column(_LETTER_COLUMNS.get(letters) or _letters_column(letters))
            if kind == b"inlineStr":
                add(text(inline[1:]) if inline else None)
            elif not value:
                add(None)
            elif kind == b"s":  # Excel's text: an index into the shared strings
                add(text_of(int(value)))
            elif (not kind or kind == b"n") and not s1 and not s2 and plain_numbers:  # a number
                digits = value.decode()
                float_like = b"." in value or b"E" in value or b"e" in value
                add(float(digits) if float_like else int(digits))
            else:
                style = int(s1 or s2) if s1 or s2 else 0
                add(convert(kind.decode() if kind else "n", style, text(value), None))
        if b"<f" in body:
            for cell, *_, value, _ in found:
                self._formulas.cell(b"<f" in cell, text(value))
        self._read_by["cells"] += 1
        if columns and columns[-1] == len(columns) and columns == list(range(1, len(columns) + 1)):
            self._order.add(int(number), tuple(values))  # cells A, B, C... in order: as it stands
        else:
            self._order.add_cells(int(number), list(zip(columns, values, strict=True)))
        return True


class _AsRecords:
    """Rows read as JSON made records: keyed by the field names, missing cells null, as
    records.py names a row's cells."""

    def __init__(self, names: list[str], as_json: Callable[[Any], Any]) -> None:
        self.width = len(names)
        self.as_json = as_json
        self._names = names
        self._keys: dict[int, tuple[str, ...]] = {}  # by a row's width: most rows have one

    def record(self, cells: dict[str, Any], width: int) -> Named:
        """The record of a row as JSON of `width` columns (at most as many as names); a blank
        one is skipped by records.py, as a blank row is."""
        keys = self._keys.get(width) or self._keys_of(width)
        return dict(zip(self._names, map(cells.get, keys), strict=True))

    def _keys_of(self, width: int) -> tuple[str, ...]:
        """The keys to take a row's values by: its columns' letters, then a key no row holds
        up to the last name (a missing cell is null)."""
        keys = self._keys[width] = _column_names(width) + ("",) * (self.width - width)
        return keys


class _ExpatRows:
    """expat's handlers for a sheet: rows and cells one event at a time, whatever the markup."""

    def __init__(
        self, cells: Cells, order: RowOrder, formulas: FormulaCounter, read_by: Counter[str]
    ) -> None:
        self._cells = cells
        self._order = order
        self._formulas = formulas
        self._read_by = read_by
        self.prefixes: set[bytes] = set()  # namespace prefixes declared on the root
        self.sheet_data_at = -1  # where expat met these, counted in the bytes it was fed
        self.row_end_at = -1
        self.fed = 0
        self._root_seen = False
        self._row = _Row()
        self._cell = _Cell()
        self._parser = self._new_parser()

    def parse(self, data: bytes, final: bool = False) -> None:
        self._parser.Parse(data, final)
        self.fed += len(data)

    def _new_parser(self) -> Any:
        parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
        parser.buffer_text = True
        parser.buffer_size = SHEET_BLOCK
        parser.StartDoctypeDeclHandler = _refuse
        parser.EntityDeclHandler = _refuse
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._characters
        parser.StartNamespaceDeclHandler = self._namespace
        return parser

    def _namespace(self, prefix: str | None, uri: str) -> None:
        if not self._root_seen and prefix:  # declared on the root: in scope for every row
            self.prefixes.add(prefix.encode())

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        self._formulas.start(name)
        cell = self._cell
        if name == _CELL:  # the hot path of rows that expat reads: kept inline
            reference = attributes.get("r")
            cell.column = _column(reference) if reference else cell.column + 1
            cell.kind = attributes.get("t", "n")
            style = attributes.get("s")
            cell.style = int(style) if style else 0
            cell.value = cell.inline = None
        elif name == _VALUE or (name == _TEXT and cell.in_inline):
            cell.text = []
        elif name == _ROW:
            self._row.start(attributes.get("r"))
            cell.column = 0
        elif name == _SHEET_DATA:
            self.sheet_data_at = self._parser.CurrentByteIndex
        elif name == _INLINE:
            cell.in_inline = True
        elif name in (_RUN, _PHONETIC) and cell.in_inline:
            raise Declined("rich text in an inline string")
        elif not self._root_seen:
            if name != _WORKSHEET:
                raise Declined(f"the sheet's root element is {name!r}")
            self._root_seen = True

    def _characters(self, data: str) -> None:
        self._formulas.text(data)
        if self._cell.text is not None:
            self._cell.text.append(data)

    def _end(self, name: str) -> None:
        self._formulas.end(name)
        cell = self._cell
        if name == _CELL:
            value = self._cells.convert(cell.kind, cell.style, cell.value, cell.inline)
            self._row.cells.append((cell.column, value))
        elif cell.text is not None and name in (_VALUE, _TEXT):
            text = "".join(cell.text)
            cell.text = None
            if name == _VALUE:
                if cell.value is None:  # openpyxl reads the first <v>
                    cell.value = text
            elif cell.inline is None:
                cell.inline = text
            else:
                raise Declined("an inline string of several texts")
        elif name == _ROW:
            self.row_end_at = self._parser.CurrentByteIndex
            self._order.add_cells(self._row.number, self._row.cells)
            self._read_by["expat"] += 1
        elif name == _INLINE:
            cell.in_inline = False
            if cell.inline is None:
                raise Declined("an inline string without text")


class _Row:
    """The row expat is in: its number (counted on where `r` is missing) and its cells."""

    def __init__(self) -> None:
        self.number = 0
        self.cells: list[tuple[int, Any]] = []

    def start(self, number: str | None) -> None:
        if number is None:
            self.number += 1
        elif number.isdigit():
            self.number = int(number)
        else:
            raise Declined(f"row number {number!r}")
        self.cells = []


class _Cell:
    """The cell expat is in."""

    def __init__(self) -> None:
        self.column = 0
        self.kind = "n"
        self.style = 0
        self.text: list[str] | None = None
        self.value: str | None = None
        self.inline: str | None = None
        self.in_inline = False


class FormulaCounter:
    """Cells with a formula but no cached value, which openpyxl reads as empty, so that the
    receipt can say how many. Fed expat's events, or cell by cell; blind to namespaces."""

    def __init__(self) -> None:
        self.missing = 0
        self._formula = False
        self._value = ""
        self._in_value = False

    def cell(self, formula: bool, value: str) -> None:
        if formula and not value.strip():
            self.missing += 1

    def start(self, name: str, attributes: object = None) -> None:
        tag = name.rpartition(" ")[2]
        if tag == "c":
            self._formula, self._value = False, ""
        elif tag == "f":
            self._formula = True
        elif tag == "v":
            self._in_value = True

    def end(self, name: str) -> None:
        tag = name.rpartition(" ")[2]
        if tag == "v":
            self._in_value = False
        elif tag == "c":
            self.cell(self._formula, self._value)

    def text(self, data: str) -> None:
        if self._in_value:
            self._value += data


@cache
def _column_names(width: int) -> tuple[str, ...]:
    """The keys of a row read as JSON: "A", "B", ... up to column `width`."""
    return tuple(column_letter(index) for index in range(width))


_COLUMNS: dict[str, int] = {}
_LETTER_COLUMNS: dict[bytes, int] = {}


def _letters_column(letters: bytes) -> int:
    column = _LETTER_COLUMNS[letters] = _column(letters.decode() + "1")
    return column


def _column(reference: str) -> int:
    """The column of a plain reference like "AB12"; anything else openpyxl reads otherwise."""
    letters = reference.rstrip("0123456789")
    row = reference[len(letters) :]
    column = _COLUMNS.get(letters)
    if column is None:
        if not (0 < len(letters) <= 3 and letters.isascii() and letters.isupper()):
            raise Declined(f"cell reference {reference!r}")
        column = 0
        for letter in letters:
            column = column * 26 + ord(letter) - 64
        _COLUMNS[letters] = column
    if not row or row[0] == "0":
        raise Declined(f"cell reference {reference!r}")
    return column


def _from_iso8601(value: str) -> Any:
    from openpyxl.utils.datetime import from_ISO8601

    return from_ISO8601(value)


def _refuse(*args: object) -> None:
    raise Declined("the sheet XML declares a DTD or entities")
