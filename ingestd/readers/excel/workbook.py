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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import defusedxml.ElementTree as SafeTree

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


# A table of plain strings, as XlsxWriter and LibreOffice write it, is read by one regular
# expression; anything else in it (rich text, character references, a DTD) by ElementTree.
_PLAIN_STRINGS_MAX = 64 << 20
_TABLE_START = re.compile(
    rb'(?:<\?xml version="1\.0" encoding="UTF-8"(?: standalone="yes")?\?>\s*)?<sst xmlns="'
    + MAIN[1:-1].encode()
    + rb'"(?: (?:count|uniqueCount)="[0-9]{1,10}")*>'
)
_TABLE_END = re.compile(rb"</sst>\s*")
_PLAIN_ITEM = re.compile(rb'(<si><t(?: xml:space="preserve")?>(' + grammar.TEXT + rb")</t></si>)")


def shared_strings(archive: zipfile.ZipFile) -> Sequence[str]:
    """The shared-string table as openpyxl reads it: each string's plain text and the text of
    its rich runs, phonetic runs left out, `_x005F_` escapes undone."""
    if "xl/sharedStrings.xml" not in archive.namelist():
        return []
    if archive.getinfo("xl/sharedStrings.xml").file_size <= _PLAIN_STRINGS_MAX:
        plain = plain_strings(archive.read("xl/sharedStrings.xml"))
        if plain is not None:
            return plain
    return parsed_strings(archive)


def parsed_strings(archive: zipfile.ZipFile) -> list[str]:
    """The shared-string table parsed by ElementTree, whatever it holds."""
    strings: list[str] = []
    with archive.open("xl/sharedStrings.xml") as source:
        for _, node in SafeTree.iterparse(source):
            if node.tag == f"{MAIN}si":
                strings.append(_content(node).replace("x005F_", ""))
                node.clear()
    return strings


def plain_strings(data: bytes) -> list[str] | None:
    """The table's strings if it is only plain items (`<si><t>text</t></si>`); else None."""
    start = _TABLE_START.match(data)
    end = data.rfind(b"</sst>")
    if start is None or end < 0 or not _TABLE_END.fullmatch(data, end):
        return None
    body = data[start.end() : end]
    if grammar.forbidden_in_text(body):
        return None
    items = _PLAIN_ITEM.findall(body)
    if sum(len(whole) for whole, _ in items) != len(body):
        return None  # something between or inside the items the pattern does not read
    try:
        return [grammar.text(text).replace("x005F_", "") for _, text in items]
    except UnicodeDecodeError:
        return None


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
