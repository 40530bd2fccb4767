"""The shared-string table: a table of plain items (XlsxWriter's, LibreOffice's) is read by one
regular expression, and reads exactly as ElementTree reads it; anything else is left to
ElementTree."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from ingestd.readers.excel.workbook import parsed_strings, plain_strings

HEAD = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="9" '
    b'uniqueCount="7">'
)


def table(*items: bytes, head: bytes = HEAD) -> bytes:
    return head + b"".join(items) + b"</sst>"


def parsed(tmp_path: Path, data: bytes) -> list[str]:
    path = tmp_path / "t.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("xl/sharedStrings.xml", data)
    with zipfile.ZipFile(path) as archive:
        return parsed_strings(archive)


PLAIN = [
    table(b"<si><t>sku</t></si>", b'<si><t xml:space="preserve"> padded </t></si>'),
    table(b"<si><t>K\xc3\xa4se &amp; &lt;Brot&gt; &quot;neu&quot; &apos;x&apos;</t></si>"),
    table(b"<si><t>tab\there\nnewline</t></si>", b"<si><t></t></si>", b"<si><t>_x005F_x000D_</t></si>"),
    table(b"<si><t>\xf0\x9f\x98\x80 \xe8\x9e\xba</t></si>", head=HEAD.replace(b' standalone="yes"', b"")),
    table(),
]  # fmt: skip
NOT_PLAIN = [
    table(b"<si><r><t>rich</t></r><r><t> text</t></r></si>"),
    table(b"<si><t>&#65;&#x42;</t></si>"),
    table(b'<si><t>one</t><rPh sb="0" eb="1"><t>phonetic</t></rPh></si>'),
    table(b"<si><t>a</t></si><!-- comment --><si><t>b</t></si>"),
    table(b"<si><t><![CDATA[x]]></t></si>"),
    table(b"<si>\n<t>pretty</t>\n</si>"),
    table(b"<si><t>cr\r\nlf</t></si>"),
    b"<sst xmlns='http://schemas.openxmlformats.org/spreadsheetml/2006/main'><si><t>a</t></si></sst>",
]


@pytest.mark.parametrize("data", PLAIN)
def test_a_plain_table_reads_as_elementtree_reads_it(tmp_path, data):
    assert plain_strings(data) == parsed(tmp_path, data)


@pytest.mark.parametrize("data", NOT_PLAIN)
def test_anything_else_is_left_to_elementtree(tmp_path, data):
    assert plain_strings(data) is None
    parsed(tmp_path, data)  # and ElementTree reads it


def test_invalid_utf8_or_what_xml_forbids_is_left_to_elementtree():
    assert plain_strings(table(b"<si><t>\xff</t></si>")) is None
    assert plain_strings(table(b"<si><t>a]]>b</t></si>")) is None
    assert plain_strings(table(b"<si><t>\x01</t></si>")) is None
