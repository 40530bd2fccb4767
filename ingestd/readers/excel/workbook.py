"""What the streaming sheet reader needs of a workbook besides the sheet: its worksheets and
where they are, its 1900 or 1904 epoch, which cell styles make a number a date or a duration,
and the shared strings. Read from the archive's parts by openpyxl's rules and with its public
number-format helpers, so that openpyxl itself is needed only by the reference reader.

Every part is parsed by defusedxml, which refuses a DTD and entities (XML bombs, external
entities); workbook_zip has already bounded the parts' sizes.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
import zipfile
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate, repeat
from operator import add
from typing import IO, Any, overload

import defusedxml.ElementTree as SafeTree
import orjson

from ingestd import heap
from ingestd.errors import InvalidInput
from ingestd.readers.excel import grammar

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
RELATIONSHIPS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
DOCUMENT_RELATIONSHIP = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
WORKSHEET = "/worksheet"
WINDOWS_EPOCH = dt.datetime(1899, 12, 30)
MAC_EPOCH = dt.datetime(1904, 1, 1)


@dataclass(frozen=True)
class Sheet:
    title: str
    member: str  # its path in the archive


@dataclass(frozen=True)
class Workbook:
    sheets: list[Sheet]  # the worksheets, in the workbook's order (chart sheets left out)
    epoch: dt.datetime
    date_styles: frozenset[int]
    duration_styles: frozenset[int]

    def pick(self, chosen: str | int | None) -> Sheet:
        """The sheet `excel_sheet` names (a title, or a 0-based index), else the first."""
        index: str | int = 0 if chosen is None else chosen
        titles = [sheet.title for sheet in self.sheets]
        if isinstance(index, int):
            if 0 <= index < len(self.sheets):
                return self.sheets[index]
        elif index in titles:
            return self.sheets[titles.index(index)]
        raise InvalidInput(
            f"the workbook has no sheet {index!r}; its sheets are {titles}", sheets=titles
        )


def read_workbook(archive: zipfile.ZipFile) -> Workbook:
    workbook = _parse(archive, "xl/workbook.xml")
    targets = _relationship_targets(archive, "xl/_rels/workbook.xml.rels")
    sheets = []
    for node in workbook.iter(f"{MAIN}sheet"):
        kind, target = targets.get(node.get(DOCUMENT_RELATIONSHIP, ""), ("", ""))
        if kind.endswith(WORKSHEET):
            sheets.append(Sheet(node.get("name", ""), target))
    properties = workbook.find(f"{MAIN}workbookPr")
    mac = properties is not None and _true(properties.get("date1904"))
    dates, durations = _number_styles(archive)
    return Workbook(sheets, MAC_EPOCH if mac else WINDOWS_EPOCH, dates, durations)


# A table of plain strings, as XlsxWriter and LibreOffice write it, is read a block at a time:
# cut by C loops where no text needs anything done, else by one regular expression; anything
# else in it (rich text, character references, a DTD) by ElementTree.
_STRINGS_BLOCK = 1 << 20
_PRESERVE = b' xml:space="preserve"'
_TABLE_START = re.compile(
    rb'(?:<\?xml version="1\.0" encoding="UTF-8"(?: standalone="yes")?\?>\s*)?<sst xmlns="'
    + MAIN[1:-1].encode()
    + rb'"(?: (?:count|uniqueCount)="[0-9]{1,10}")*>'
)
_TABLE_END = re.compile(rb"</sst>\s*")
_PLAIN_ITEM = re.compile(rb'<si><t(?: xml:space="preserve")?>(' + grammar.TEXT + rb")</t></si>")
_ITEM_START, _ITEM_END = b"<si><t>", b"</t></si>"
_PIECE = 1 << 17
# What text needs done to it (an entity, an _x005F_ escape) or XML forbids in it (CR and the
# control characters but tab and newline), each looked for by a search in C: all of them take a
# tenth of the time of one regular expression that finds any.
_NOT_AS_IT_STANDS = (b"&", b"x005F_", *(bytes([c]) for c in (*range(9), *range(11, 32))))


def shared_strings(archive: zipfile.ZipFile) -> StringTable:
    """The shared-string table as openpyxl reads it: each string's plain text and the text of
    its rich runs, phonetic runs left out, `_x005F_` escapes undone."""
    if "xl/sharedStrings.xml" not in archive.namelist():
        return StringTable()
    with archive.open("xl/sharedStrings.xml") as source:
        plain = plain_strings(source)
    return parsed_strings(archive) if plain is None else plain


def parsed_strings(archive: zipfile.ZipFile) -> StringTable:
    """The shared-string table parsed by ElementTree, whatever it holds; each string goes into
    the compact table as it is read (a list of them all had held 50 MB for 400,000)."""
    with archive.open("xl/sharedStrings.xml") as source:
        return StringTable.of(_parsed_texts(source))


def _parsed_texts(source: IO[bytes]) -> Iterator[str]:
    for _, node in SafeTree.iterparse(source):
        if node.tag == f"{MAIN}si":
            yield _content(node).replace("x005F_", "")
            node.clear()


class StringTable(Sequence[str]):
    """Shared strings kept end to end as the JSON text of each (a quoted literal, escaped as
    JSON escapes it), decoded when one is looked up: 400,000 strings of a 200,000-row catalog
    take about 15 MB instead of 50 as str objects. A row read as JSON takes its strings' text
    as it stands (literals), so that orjson makes the str objects, not Python."""

    def __init__(self) -> None:
        self._blob = bytearray()
        self._ends = array("I", [0])  # beyond 4 GB it overflows: the reference reader reads it

    @classmethod
    def of(cls, texts: Iterable[str]) -> StringTable:
        table = cls()
        for text in texts:
            table.append(text.encode(), False)
        return table

    def append(self, text: bytes, plain: bool, /) -> None:
        """A string's UTF-8 text; `plain` if it holds nothing JSON would escape."""
        if plain:
            self._blob += b'"' + text + b'"'
        else:
            self._blob += orjson.dumps(text.decode())
        self._ends.append(len(self._blob))

    def extend_plain(self, texts: list[bytes]) -> None:
        """Strings' UTF-8 texts that JSON writes as they stand, in C loops: not a call each."""
        if texts:
            ends = accumulate(map(add, map(len, texts), repeat(2)), initial=len(self._blob))
            next(ends)  # where the first begins
            self._blob += b'"'  # three steps: a copy of a block less at the peak
            self._blob += b'""'.join(texts)
            self._blob += b'"'
            self._ends.extend(ends)

    def __len__(self) -> int:
        return len(self._ends) - 1

    def finder(self) -> Callable[[int], str]:
        """Look a string up by its index, as a list would (-1 the last), faster than
        __getitem__: what the sheet reader calls for a cell of text it reads alone. It slices
        the table's own bytearray: a copy as bytes had kept the table twice for the whole
        sheet, 10 MB more for XlsxWriter's 200,000 rows."""
        blob, ends, count, loads = self._blob, self._ends, len(self), orjson.loads

        def find(index: int) -> str:
            if index < 0:
                index += count
                if index < 0:
                    raise IndexError(index)
            text: str = loads(blob[ends[index] : ends[index + 1]])
            return text

        return find

    def literals(self, indexes: list[bytes]) -> list[bytearray]:
        """The JSON text of the strings at these indexes (decimal digits); IndexError if the
        table has no such string."""
        blob, ends = self._blob, self._ends
        return [blob[ends[index] : ends[index + 1]] for index in map(int, indexes)]

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        find = self.finder()
        if isinstance(index, slice):
            return [find(i) for i in range(*index.indices(len(self)))]
        return find(index)


def plain_strings(source: IO[bytes]) -> StringTable | None:
    """The table's strings if it is only plain items (`<si><t>text</t></si>`), read a block
    at a time; else None."""
    pending = source.read(_STRINGS_BLOCK)
    start = _TABLE_START.match(pending)
    if start is None:
        return None
    pending, strings = pending[start.end() :], StringTable()
    while block := source.read(_STRINGS_BLOCK):
        pending += block
        cut = pending.rfind(b"</si>")  # no plain text holds "<": the end of an item
        if cut < 0:
            if len(pending) > 4 * _STRINGS_BLOCK:
                return None
            continue
        cut += len(b"</si>")
        if not _plain_items(pending[:cut], strings):
            return None
        pending = pending[cut:]
        heap.give_back_freed_memory()  # each block's garbage: the peak stays near the table
    end = pending.rfind(b"</sst>")
    if (
        end < 0
        or not _TABLE_END.fullmatch(pending, end)
        or not _plain_items(pending[:end], strings)
    ):
        return None
    heap.give_back_freed_memory()  # the last block's, before the sheet
    return strings


def _plain_items(items: bytes, strings: StringTable) -> bool:
    """Append the texts of `items` if they are all plain items and nothing else (if not, the
    table is thrown away). One match at a time: a list of a block's 30,000 matches left the
    parser's heap 5 MB larger for the rest of the sheet."""
    if grammar.forbidden_in_text(items):
        return False
    try:
        items.decode()  # what is looked up later must decode
    except UnicodeDecodeError:
        return False
    at, escapes = 0, _json_escapes(items, outside=items.count(_PRESERVE))
    if not escapes and _as_they_stand(items, strings):
        return True
    for item in _PLAIN_ITEM.finditer(items):
        if item.start() != at:
            return False  # something between the items the pattern does not read
        at = item.end()
        raw = item[1]
        if b"&" in raw or b"x005F_" in raw:
            raw = grammar.text(raw).replace("x005F_", "").encode()
        strings.append(raw, not escapes or not _json_escapes(raw, outside=0))
    return at == len(items)


def _as_they_stand(items: bytes, strings: StringTable) -> bool:
    """Append the texts of a block of plain items none of which needs anything done (no
    entity, no _x005F_ escape; the caller knows that JSON escapes nothing), cut by C loops a
    piece at a time (a list of a whole block's texts raised the parser's peak); False, and
    nothing appended, for any other block. Each item's markup holds four "<" and its text
    none: a count tells."""
    if _PRESERVE in items:
        items = items.replace(b"<t" + _PRESERVE + b">", b"<t>")
    between, last = _ITEM_END + _ITEM_START, len(items) - len(_ITEM_END)
    if (
        not (items.startswith(_ITEM_START) and items.endswith(_ITEM_END))
        or any(mark in items for mark in _NOT_AS_IT_STANDS)
        or items.count(b"<") != 4 * (items.count(between) + 1)
    ):
        return False
    at = len(_ITEM_START)
    while True:
        cut = items.find(between, at + _PIECE)
        strings.extend_plain(items[at : last if cut < 0 else cut].split(between))
        if cut < 0:
            return True
        at = cut + len(between)


def _json_escapes(text: bytes, outside: int) -> bool:
    """Whether JSON writes plain items' text otherwise than as it stands (XML has refused the
    other control characters), or it holds what decodes to a quote; `outside` is how many
    xml:space="preserve" (two quotes each) the markup holds. Counted, not copied without them:
    a copy of each megabyte of the table raised the reading's peak."""
    return (
        text.count(b'"') != 2 * outside
        or b"\\" in text
        or b"\t" in text
        or b"\n" in text
        or b"&quot;" in text
    )


def _content(item: Any) -> str:
    snippets = []
    plain = item.find(f"{MAIN}t")
    if plain is not None and plain.text is not None:
        snippets.append(plain.text)
    for run in item.findall(f"{MAIN}r"):
        text = run.find(f"{MAIN}t")
        if text is not None and text.text is not None:
            snippets.append(text.text)
    return "".join(snippets)


def _number_styles(archive: zipfile.ZipFile) -> tuple[frozenset[int], frozenset[int]]:
    """The cell styles (indexes into cellXfs) whose number format is a date, or a duration."""
    from openpyxl.styles.numbers import (
        builtin_format_code,
        is_date_format,
        is_timedelta_format,
    )

    if "xl/styles.xml" not in archive.namelist():
        return frozenset(), frozenset()
    styles = _parse(archive, "xl/styles.xml")
    custom = {
        _int(node.get("numFmtId")): node.get("formatCode", "")
        for node in styles.iter(f"{MAIN}numFmt")
    }
    dates, durations = set(), set()
    cell_formats = styles.find(f"{MAIN}cellXfs")
    for index, xf in enumerate(() if cell_formats is None else cell_formats.findall(f"{MAIN}xf")):
        number = _int(xf.get("numFmtId"))
        code = custom[number] if number in custom else builtin_format_code(number)
        if is_date_format(code):
            dates.add(index)
        if is_timedelta_format(code):
            durations.add(index)
    return frozenset(dates), frozenset(durations)


def _relationship_targets(archive: zipfile.ZipFile, part: str) -> dict[str, tuple[str, str]]:
    """Each relationship's id: its type, and its target as an archive path."""
    if part not in archive.namelist():
        return {}
    base = posixpath.dirname(posixpath.dirname(part))  # xl/_rels/x.rels is relative to xl/
    found = {}
    for node in _parse(archive, part).iter(f"{RELATIONSHIPS}Relationship"):
        target = node.get("Target", "")
        path = target.lstrip("/") if target.startswith("/") else posixpath.join(base, target)
        found[node.get("Id", "")] = (node.get("Type", ""), posixpath.normpath(path))
    return found


def _parse(archive: zipfile.ZipFile, part: str) -> Any:
    with archive.open(part) as source:
        return SafeTree.parse(source).getroot()


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true")
