"""The shared-string table: a table of plain items (XlsxWriter's, LibreOffice's) is read by one
regular expression, and reads exactly as ElementTree reads it; anything else is left to
ElementTree."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from ingestd.readers.excel.workbook import StringTable, parsed_strings, plain_strings

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
        return list(parsed_strings(archive))


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
    found = plain_strings(io.BytesIO(data))
    assert found is not None and list(found) == parsed(tmp_path, data)


@pytest.mark.parametrize("data", NOT_PLAIN)
def test_anything_else_is_left_to_elementtree(tmp_path, data):
    assert plain_strings(io.BytesIO(data)) is None
    parsed(tmp_path, data)  # and ElementTree reads it


def test_invalid_utf8_or_what_xml_forbids_is_left_to_elementtree():
    for item in (b"<si><t>\xff</t></si>", b"<si><t>a]]>b</t></si>", b"<si><t>\x01</t></si>"):
        assert plain_strings(io.BytesIO(table(item))) is None


def test_a_table_is_read_a_block_at_a_time_and_refused_wherever_it_stops_being_plain(tmp_path):
    """Items cut across blocks, and a rich item far into the table, as in a large workbook."""
    import ingestd.readers.excel.workbook as workbook

    items = [b"<si><t>item %d &amp; more</t></si>" % n for n in range(70_000)]
    data = table(*items)
    assert len(data) > 2 * workbook._STRINGS_BLOCK
    found = plain_strings(io.BytesIO(data))
    assert isinstance(found, StringTable)
    assert list(found) == parsed(tmp_path, data)
    assert isinstance(plain_strings(io.BytesIO(table(*items[:10]))), StringTable)  # a small one too
    items[50_000] = b"<si><r><t>rich</t></r></si>"
    assert plain_strings(io.BytesIO(table(*items))) is None


SIMPLE = [b"sku", b"", b"K\xc3\xa4se > Brot", b"\xf0\x9f\x98\x80", b" padded ", b"x" * 300]


def simple_items(count: int) -> list[bytes]:
    """Items whose text needs nothing done to it, with xml:space="preserve" or without."""
    t = (b"<t>", b'<t xml:space="preserve">')
    return [b"<si>%s%s %d</t></si>" % (t[n % 2], SIMPLE[n % 6], n) for n in range(count)]


def test_a_block_of_texts_as_they_stand_is_cut_by_c_loops_and_reads_as_elementtree(tmp_path):
    """Items needing nothing done, over several blocks and many pieces of each."""
    import ingestd.readers.excel.workbook as workbook

    data = table(*simple_items(90_000), b"<si><t></t></si>")
    assert len(data) > 2 * workbook._STRINGS_BLOCK
    found = plain_strings(io.BytesIO(data))
    assert found is not None and list(found) == parsed(tmp_path, data)
    items = b"".join(simple_items(40_000))
    appended = StringTable()
    assert workbook._as_they_stand(items, appended) and len(appended) == 40_000


@pytest.mark.parametrize(
    "odd",
    [
        b"<si><t>a &amp; b</t></si>",
        b"<si><t>_x005F_x000D_</t></si>",
        b"<si><t>cr\rhere</t></si>",
        b"<si><t>\x01</t></si>",
        b"<si><t/></si>",
        b"<si><r><t>rich</t></r></si>",
        b"<si><t>a</t></si>\n",
        b"<!-- c --><si><t>a</t></si>",
        b'<si xml:space="preserve"><t>a</t></si>',
    ],
)
def test_a_block_with_anything_else_is_not_cut_so_and_nothing_is_appended(odd):
    """All or nothing: the block is read item by item (or the table by ElementTree) instead."""
    import ingestd.readers.excel.workbook as workbook

    items = simple_items(3000)
    appended = StringTable()
    assert not workbook._as_they_stand(b"".join([*items[:2000], odd, *items[2000:]]), appended)
    assert len(appended) == 0


def test_the_compact_table_answers_as_a_list_of_its_strings():
    texts = ["", "a", "Käse", "😀 螺丝", "x" * 1000, 'say "hi"', "back\\slash", "tab\tand\nline"]
    table = StringTable()
    for text in texts:
        table.append(text.encode(), False)
    assert len(table) == len(texts) and list(table) == texts
    for index in (-5, -1, 0, 3, 4):
        assert table[index] == texts[index]
    assert table[1:4] == texts[1:4]
    for index in (len(texts), -len(texts) - 1):
        with pytest.raises(IndexError):
            table[index]


def test_the_table_gives_its_strings_as_json_text():
    """What a row read as JSON splices in (grammar.with_strings): each string as JSON writes it,
    whether the table was told it needs no escapes (a plain block of XlsxWriter's) or not."""
    table = StringTable.of(["a", 'say "hi"', "tab\tx"])
    table.append("Käse".encode(), True)
    assert table.literals([b"3", b"1", b"0", b"2"]) == [
        '"Käse"'.encode(),
        b'"say \\"hi\\""',
        b'"a"',
        b'"tab\\tx"',
    ]
    with pytest.raises(IndexError):
        table.literals([b"4"])


def test_a_sheet_with_a_large_table_reads_as_openpyxl_reads_it(tmp_path):
    """A table of 65,545 strings, more than one block of its XML (XlsxWriter writes each text
    once in the table): the fast reader reads what openpyxl reads."""
    import xlsxwriter

    from ingestd.readers.excel import ExcelReader
    from tests.differential import outcome

    path = tmp_path / "large.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet()
    sheet.write_row(0, 0, ["sku", "name"])
    for row in range(1, 65_536 + 10):
        sheet.write_row(row, 0, [f"S{row}", f"Käse {row} 😀" if row % 7 else ""])
    workbook.close()
    expected = outcome(ExcelReader(), path)
    assert isinstance(expected, list) and len(expected) == 65_536 + 9
    assert outcome(ExcelReader().fast, path) == expected
