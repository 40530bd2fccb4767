"""A sheet's rows straight from its XML, as openpyxl's read-only `iter_rows(values_only=True)`
would give them, several times faster.

openpyxl still opens the workbook (sheet list, shared strings, date styles, epoch); only the
per-cell work is done here, by openpyxl's rules: the same number casting, the same date
conversion functions, the same padding of ragged and missing rows. Rows written the usual way
are read by the regular expressions of excel_rows_grammar, and those of plain cells (most rows
of most exports) are rewritten there as JSON text that orjson reads in one call; everything
else goes to the C expat parser, which the two hand over to each other row by row. Anything
none of them reads as openpyxl does (rich inline text, a row number that is not an integer, a
sheet in another namespace) raises Declined, and the reader falls back to openpyxl.
tests/test_excel_rows.py holds them equal, on generated workbooks and on fuzzed rows.
"""

from __future__ import annotations

import datetime as dt
import xml.parsers.expat
from collections.abc import Iterator, Sequence
from functools import cache
from typing import Any, NamedTuple, Protocol

import orjson

from ingestd.readers import Declined
from ingestd.readers.excel import grammar

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_WORKSHEET, _SHEET_DATA, _ROW, _CELL, _VALUE, _INLINE, _TEXT, _RUN, _PHONETIC = (
    f"{_MAIN} {tag}" for tag in ("worksheet", "sheetData", "row", "c", "v", "is", "t", "r", "rPh")
)
_BLOCK = 1 << 16
_MAX_ROW_BYTES = 16 << 20
_HEAD, _ROWS, _EXPAT = range(3)
Row = tuple[Any, ...]


class Source(Protocol):
    """What a sheet is read from: a zip member, or a sheet's head joined to the bytes after a
    cut (excel_split)."""

    def read(self, size: int, /) -> bytes: ...


class _PlainRow(NamedTuple):
    """A row that json_candidate accepted, waiting to be read as JSON with its neighbours."""

    start: int
    number: bytes
    body: bytes
    json: bytes
    letters: bytes


class SheetRows:
    """Feeds the sheet XML to expat a block at a time and yields the rows it completed."""

    def __init__(
        self,
        strings: Sequence[str],
        epoch: dt.datetime,
        date_styles: set[int],
        duration_styles: set[int],
        first_row: int = 1,
    ) -> None:
        self._strings = strings
        self._epoch = epoch
        self._dates = date_styles
        self._durations = duration_styles
        self._ready: list[Row] = []
        self._next_row = first_row
        self._row_number = 0
        self._cells: list[tuple[int, Any]] = []
        self._column = 0
        self._type = "n"
        self._style = 0
        self._text: list[str] | None = None
        self._value: str | None = None
        self._inline: str | None = None
        self._in_inline = False
        self._root_seen = False
        self._sheet_data_at = -1
        self._row_end_at = -1
        self._prefixes: set[bytes] = set()
        self._json_row = grammar.json_row(frozenset(date_styles))
        self.formulas = FormulaCounter()
        self._parser = self._new_parser()
        self._pending, self._offset, self._mode = b"", 0, _HEAD

    def rows(self, source: Source) -> Iterator[Row]:
        while block := source.read(_BLOCK):
            yield from self.feed(block)
        yield from self.finish()

    def feed(self, block: bytes) -> list[Row]:
        """The rows that the sheet's next bytes completed."""
        try:
            self._pending, self._offset, self._mode = self._advance(
                self._pending + block, self._offset, self._mode
            )
        except xml.parsers.expat.ExpatError as exc:
            raise Declined(f"expat: {exc}") from exc
        return self._drain()

    def finish(self) -> list[Row]:
        """The last rows, once the sheet's bytes have all been fed."""
        try:
            self._parser.Parse(self._pending, True)
        except xml.parsers.expat.ExpatError as exc:
            raise Declined(f"expat: {exc}") from exc
        return self._drain()

    @property
    def between_rows(self) -> bool:
        """Whether everything fed so far ends with a whole row inside <sheetData>, still in the
        row-by-row mode (rows found by the grammar, read by it or handed to expat one at a
        time): the next bytes may then be read on their own, after the sheet's head."""
        return self._mode == _ROWS and not self._pending

    @property
    def next_row(self) -> int:
        """The number the next row given must have; a row numbered below it is skipped."""
        return self._next_row

    @property
    def sheet_data_at(self) -> int:
        return self._sheet_data_at

    def _new_parser(self) -> Any:
        parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
        parser.buffer_text = True
        parser.buffer_size = _BLOCK
        parser.StartDoctypeDeclHandler = _refuse
        parser.EntityDeclHandler = _refuse
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._characters
        parser.StartNamespaceDeclHandler = self._namespace
        return parser

    def _advance(self, pending: bytes, offset: int, mode: int) -> tuple[bytes, int, int]:
        """Feed what can be fed; returns the bytes kept back, their offset, and the mode.

        Up to `<sheetData>` everything goes to expat. Rows that match the strict grammar of
        excel_rows_grammar are then read by regular expressions, expat never seeing them; a row
        that does not match is fed to expat alone, which must end it where the text says. After
        `</sheetData>`, or once anything is not as expected, expat reads the rest."""
        parse = self._parser.Parse
        if mode == _HEAD:
            at = pending.find(b"<sheetData>")
            if at < 0:
                cut = max(0, len(pending) - len(b"<sheetData>"))
                parse(pending[:cut], False)
                return pending[cut:], offset + cut, _HEAD
            start = at + len(b"<sheetData>")
            parse(pending[:start], False)
            if self._sheet_data_at != offset + at:  # the text was in a comment, say
                parse(pending[start:], False)
                return b"", offset + len(pending), _EXPAT
            pending, offset, mode = pending[start:], offset + start, _ROWS
        if mode == _ROWS:
            return self._advance_rows(pending, offset)
        parse(pending, False)
        return b"", offset + len(pending), mode

    def _advance_rows(self, pending: bytes, offset: int) -> tuple[bytes, int, int]:
        parse = self._parser.Parse
        position = 0
        unusual = grammar.unusual(pending)
        while True:
            position = self._matching_rows(pending, position, unusual)
            if pending.startswith(b"</sheetData>", position):
                parse(pending[position:], False)
                return b"", offset + len(pending), _EXPAT
            end = pending.find(b"</row>", position)
            if end < 0:
                rest = pending[position : position + 4]
                if len(pending) - position > _MAX_ROW_BYTES or not b"<row".startswith(rest[:4]):
                    parse(pending[position:], False)
                    return b"", offset + len(pending), _EXPAT
                return pending[position:], offset + position, _ROWS  # wait for the row's end
            parse(pending[position : end + len(b"</row>")], False)
            if self._row_end_at != offset + end:  # "</row>" was not where a row ended
                parse(pending[end + len(b"</row>") :], False)
                return b"", offset + len(pending), _EXPAT
            position = end + len(b"</row>")

    def _matching_rows(self, data: bytes, position: int, unusual: tuple[bool, bool]) -> int:
        """Read the rows matching the grammar from `position` on; returns where they end.
        Consecutive rows of plain cells are gathered and read as JSON together."""
        match = grammar.ROW_START.match
        plain: list[_PlainRow] = []
        while (row := match(data, position)) is not None:
            number, attributes, empty = row.groups()
            if empty:
                body, end = b"", row.end()
            else:
                close = data.find(b"</row>", row.end())
                if close < 0:
                    break  # the rest of the row is still to come
                body, end = data[row.end() : close], close + len(b"</row>")
            plain_row = not attributes or grammar.plain_attributes(attributes, self._prefixes)
            found = (
                grammar.json_candidate(body, self._json_row, unusual)
                if plain_row and body
                else None
            )
            if found is not None:
                plain.append(_PlainRow(position, number, body, *found))
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

    def _read_as_json(self, plain: list[_PlainRow], escapes: bool) -> int | None:
        """Rows of plain cells in one orjson call (excel_rows_grammar.as_json). A row that
        cannot be read so is read cell by cell; returns where expat must take over, if it must."""
        if not plain:
            return None
        text = grammar.as_json([row.json for row in plain], escapes)
        try:
            rows: list[dict[str, Any]] | None = orjson.loads(text)
        except orjson.JSONDecodeError:
            rows = None  # invalid UTF-8, say: the rows read cell by cell tell which and how
        if rows is not None and (
            len(rows) != len(plain) or sum(map(len, rows)) != text.count(b'":')
        ):
            rows = None  # a column twice (each key ends so, no text holds a quote)
        shared = grammar.SHARED.encode() in text
        for index, row in enumerate(plain):
            cells = rows[index] if rows is not None else None
            if cells is not None and (not shared or self._look_up_shared(cells)):
                width = _LETTER_COLUMNS.get(row.letters) or _letters_column(row.letters)
                self._row_number = int(row.number)
                self._end_row(tuple(map(cells.get, _column_names(width))))
            elif not self._read_cells(row.number, row.body):
                return row.start
        return None

    def _read_cells(self, number: bytes, body: bytes) -> bool:
        """One row's cells, or False (nothing changed) to hand the row to expat."""
        if not grammar.plain_text(body):
            return False
        found = grammar.cells(body) if body else []
        if found is None:
            return False
        columns: list[int] = []
        values: list[Any] = []
        add_column, add, convert, text = columns.append, values.append, self._convert, grammar.text
        plain_numbers, strings = 0 not in self._dates, self._strings
        for _, letters, s1, kind, s2, value, inline in found:
            if s1 and s2:
                return False  # s="..." twice: not XML
            add_column(_LETTER_COLUMNS.get(letters) or _letters_column(letters))
            if kind == b"inlineStr":
                add(text(inline[1:]) if inline else None)
            elif not value:
                add(None)
            elif kind == b"s":  # Excel's text: an index into the shared strings
                add(strings[int(value)])
            elif (not kind or kind == b"n") and not s1 and not s2 and plain_numbers:  # a number
                digits = value.decode()
                float_like = b"." in value or b"E" in value or b"e" in value
                add(float(digits) if float_like else int(digits))
            else:
                style = int(s1 or s2) if s1 or s2 else 0
                add(convert(kind.decode() if kind else "n", style, text(value), None))
        if b"<f" in body:
            for cell, *_, value, _ in found:
                self.formulas.cell(b"<f" in cell, text(value))
        self._row_number = int(number)
        if columns and columns[-1] == len(columns) and columns == list(range(1, len(columns) + 1)):
            self._end_row(tuple(values))  # cells A, B, C... in order: the row as it stands
        else:
            self._cells = list(zip(columns, values, strict=True))
            self._end_row()
        return True

    def _look_up_shared(self, cells: dict[str, Any]) -> bool:
        for key in [key for key in cells if key[-1] == grammar.SHARED]:
            column = key[:-1]
            if column in cells or not 0 <= cells[key] < len(self._strings):
                return False  # the column twice, or no such string: read cell by cell
            cells[column] = self._strings[cells.pop(key)]
        return True

    def _drain(self) -> list[Row]:
        ready, self._ready = self._ready, []
        return ready

    def _namespace(self, prefix: str | None, uri: str) -> None:
        if not self._root_seen and prefix:  # declared on the root: in scope for every row
            self._prefixes.add(prefix.encode())

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        self.formulas.start(name)
        if name == _CELL:  # the hot path of rows that expat reads: kept inline
            reference = attributes.get("r")
            self._column = _column(reference) if reference else self._column + 1
            self._type = attributes.get("t", "n")
            style = attributes.get("s")
            self._style = int(style) if style else 0
            self._value = self._inline = None
        elif name == _VALUE or (name == _TEXT and self._in_inline):
            self._text = []
        elif name == _ROW:
            self._start_row(attributes)
        elif name == _SHEET_DATA:
            self._sheet_data_at = self._parser.CurrentByteIndex
        elif name == _INLINE:
            self._in_inline = True
        elif name in (_RUN, _PHONETIC) and self._in_inline:
            raise Declined("rich text in an inline string")
        elif not self._root_seen:
            if name != _WORKSHEET:
                raise Declined(f"the sheet's root element is {name!r}")
            self._root_seen = True

    def _start_row(self, attributes: dict[str, str]) -> None:
        number = attributes.get("r")
        if number is None:
            self._row_number += 1
        elif number.isdigit():
            self._row_number = int(number)
        else:
            raise Declined(f"row number {number!r}")
        self._column = 0
        self._cells = []

    def _characters(self, data: str) -> None:
        self.formulas.text(data)
        if self._text is not None:
            self._text.append(data)

    def _end(self, name: str) -> None:
        self.formulas.end(name)
        if name == _CELL:
            self._cells.append((self._column, self._cell_value()))
        elif self._text is not None and name in (_VALUE, _TEXT):
            text = "".join(self._text)
            self._text = None
            if name == _VALUE:
                if self._value is None:  # openpyxl reads the first <v>
                    self._value = text
            elif self._inline is None:
                self._inline = text
            else:
                raise Declined("an inline string of several texts")
        elif name == _ROW:
            self._row_end_at = self._parser.CurrentByteIndex
            self._end_row()
        elif name == _INLINE:
            self._in_inline = False
            if self._inline is None:
                raise Declined("an inline string without text")

    def _cell_value(self) -> Any:
        return self._convert(self._type, self._style, self._value, self._inline)

    def _convert(self, kind: str, style: int, value: str | None, inline: str | None) -> Any:
        """A cell's value by openpyxl's rules (worksheet/_reader.py, parse_cell)."""
        if kind == "inlineStr":
            return inline
        if not value:
            return None
        if kind == "n":
            number = float(value) if "." in value or "E" in value or "e" in value else int(value)
            if style in self._dates:
                return self._date(number, style)
            return number
        if kind == "s":
            return self._strings[int(value)]
        if kind == "b":
            return bool(int(value))
        if kind == "d":
            return _from_iso8601(value)
        return value

    def _date(self, serial: float, style: int) -> Any:
        from openpyxl.utils.datetime import from_excel

        try:
            return from_excel(serial, self._epoch, timedelta=style in self._durations)
        except (OverflowError, ValueError):
            return "#VALUE!"

    def _end_row(self, whole: Row | None = None) -> None:
        """The row just read, padded as openpyxl pads it; `whole` when it needs no padding."""
        number = self._row_number
        while self._next_row < number:
            self._next_row += 1
            self._ready.append(())
        if self._next_row > number:
            return  # openpyxl skips a row numbered at or below one already given
        self._next_row += 1
        if whole is not None:
            self._ready.append(whole)
            return
        cells = self._cells
        if not cells:
            self._ready.append(())
            return
        width = cells[-1][0]
        row: list[Any] = [None] * width
        for column, value in cells:
            if 1 <= column <= width:
                row[column - 1] = value
        self._ready.append(tuple(row))


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


def column_letter(index: int) -> str:
    """The column letters Excel shows for a 0-based index (0 -> A, 26 -> AA)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


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
