"""Real workbooks for the tests: written with openpyxl, then edited at the XML level where a test
needs what openpyxl does not write (cached formula values, lying dimensions, bombs)."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl

from bench.data import write_sheet


class ExcelError(str):
    """A cell value to be written as an Excel error (#N/A, #REF!, ...)."""


def write(
    path: Path, sheets: dict[str, list[list[Any]]], merged: dict[str, list[str]] | None = None
) -> Path:
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
        for cells in sheet.iter_rows():
            for cell in cells:
                if isinstance(cell.value, ExcelError):
                    cell.value, cell.data_type = str(cell.value), "e"
        for cells in (merged or {}).get(title, []):
            sheet.merge_cells(cells)
    workbook.save(path)
    return path


def edit(path: Path, member: str, change: Callable[[bytes], bytes]) -> Path:
    """Rewrite one archive member in place."""
    with zipfile.ZipFile(path) as source:
        parts = {info.filename: source.read(info) for info in source.infolist()}
    parts[member] = change(parts[member])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in parts.items():
            target.writestr(name, data)
    return path


def zip_with(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in members.items():
            target.writestr(name, data)
    return path


def encrypted(source: Path, path: Path, password: str = "secret") -> Path:
    from msoffcrypto.format.ooxml import OOXMLFile

    out = io.BytesIO()
    with open(source, "rb") as f:
        OOXMLFile(f).encrypt(password, out)
    path.write_bytes(out.getvalue())
    return path


def legacy_xls(path: Path) -> Path:
    import xlwt

    workbook = xlwt.Workbook()
    sheet = workbook.add_sheet("Products")
    sheet.write(0, 0, "sku")
    sheet.write(1, 0, "A-1")
    workbook.save(str(path))
    return path


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>
<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t>&lol9;</t></si></sst>"""


def large(path: Path, header: list[str], rows: Any, sheet: str = "Products") -> Path:
    """A one-sheet workbook written straight as XML: fast enough for 100,000-row tests."""
    return write_sheet(path, header, rows, sheet)


_INLINE = re.compile(
    rb'<c r="([A-Z]+[0-9]+)"( s="[0-9]+")? t="inlineStr"><is><t[^>]*>([^<]*)</t></is></c>'
)
_MAIN = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def with_shared_strings(path: Path, member: str = "xl/worksheets/sheet1.xml") -> Path:
    """Move a sheet's inline strings into xl/sharedStrings.xml, as Excel itself stores text."""
    with zipfile.ZipFile(path) as source:
        parts = {info.filename: source.read(info) for info in source.infolist()}
    table: dict[bytes, int] = {}

    def shared(cell: re.Match[bytes]) -> bytes:
        index = table.setdefault(cell.group(3), len(table))
        return b'<c r="%s"%s t="s"><v>%d</v></c>' % (cell.group(1), cell.group(2) or b"", index)

    parts[member] = _INLINE.sub(shared, parts[member])
    items = b"".join(b'<si><t xml:space="preserve">%s</t></si>' % text for text in table)
    table_xml = b'<sst xmlns="%s" count="%d" uniqueCount="%d">%s</sst>' % (
        _MAIN,
        len(table),
        len(table),
        items,
    )
    add_shared_strings(parts, table_xml)
    return zip_with(path, parts)


def add_shared_strings(parts: dict[str, bytes], table: bytes) -> None:
    """Put `table` into the archive's parts as xl/sharedStrings.xml, registered as Excel does."""
    parts["xl/sharedStrings.xml"] = table
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"</Types>",
        b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
        b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
    )
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>",
        b'<Relationship Id="rIdSST" Target="sharedStrings.xml" Type="http://schemas.openxml'
        b'formats.org/officeDocument/2006/relationships/sharedStrings"/></Relationships>',
    )
