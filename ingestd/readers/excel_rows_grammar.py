"""The strict grammar of rows as Excel, openpyxl and most writers put them in a sheet's XML.

`<row r="2" spans="1:3"><c r="A2" s="1" t="s"><v>7</v></c>...</row>`: attributes in double
quotes, in the order writers use, no whitespace between elements, text without character
references other than the five named entities. A row this matches is well-formed XML, and reads
exactly as expat would read it. Anything else (comments, CDATA, pretty-printing, other
attributes, rich text) simply does not match and goes to expat.
"""

from __future__ import annotations

import re

_TEXT_CHAR = rb"[^<&\x00-\x08\x0b\x0c\x0e-\x1f\r]"
_TEXT = _TEXT_CHAR + rb"*(?:&(?:amp|lt|gt|quot|apos);" + _TEXT_CHAR + rb"*)*"
_FORMULA = (
    rb'(?:<f(?: t="(?:shared|array)")?(?: ref="[A-Z0-9:$]{1,32}")?(?: si="[0-9]{1,9}")?'
    rb"(?:/>|>" + _TEXT + rb"</f>))?"
)


def _cell(group: bytes) -> bytes:
    """A cell, capturing its parts. The inline text is captured with the ">" before it, so that
    an empty text differs from none."""
    return (
        rb'<c r="' + group + rb'[A-Z]{1,3})[1-9][0-9]{0,6}"'
        rb'(?: s="' + group + rb'[0-9]{1,6})")?'
        rb'(?: t="' + group + rb'[a-zA-Z]{1,9})")?'
        rb'(?: s="' + group + rb'[0-9]{1,6})")?'
        rb"(?:/>|>" + _FORMULA + rb"(?:<v>" + group + _TEXT + rb")</v>"
        rb'|<is><t(?: xml:space="preserve")?' + group + rb">" + _TEXT + rb")</t></is>)?</c>)"
    )


CELL = re.compile(b"(" + _cell(b"(") + b")")
ROW_START = re.compile(
    rb'<row r="([1-9][0-9]{0,8})"((?: [A-Za-z_][\w.:-]*="[^"<&\x00-\x08\x0b\x0c\x0e-\x1f]*")*)(/?)>'
)
_ATTRIBUTE_NAME = re.compile(rb' ([^=]+)="')
_ENTITIES = ((b"&lt;", b"<"), (b"&gt;", b">"), (b"&quot;", b'"'), (b"&apos;", b"'"))


def cells(body: bytes) -> list[tuple[bytes, ...]] | None:
    """A row's cells, each (whole, letters, s, t, s, value, inline), or None unless the cells
    are all there is: a row's text between cells that the pattern skipped is not read here."""
    found = CELL.findall(body)
    return found if b"".join(cell[0] for cell in found) == body else None


def plain_attributes(attributes: bytes, prefixes: set[bytes]) -> bool:
    """A row's attributes after r="...": each named once, none named r again, none declaring a
    namespace, every prefix declared on the root, and their text plain."""
    names = _ATTRIBUTE_NAME.findall(attributes)
    if b"r" in names or len(set(names)) != len(names) or not plain_text(attributes):
        return False
    for name in names:
        prefix, colon, _ = name.partition(b":")
        if name.startswith(b"xmlns") or (colon and prefix not in prefixes):
            return False
    return True


def plain_text(row: bytes) -> bool:
    """Valid UTF-8, no "]]>" (not allowed in XML text) and no U+FFFE or U+FFFF (not XML
    characters): what the grammar's character classes cannot say."""
    if b"]]>" in row or b"\xef\xbf\xbe" in row or b"\xef\xbf\xbf" in row:
        return False
    try:
        row.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def text(raw: bytes) -> str:
    """The characters of text the grammar matched."""
    if b"&" not in raw:
        return raw.decode("utf-8")
    for entity, character in _ENTITIES:
        raw = raw.replace(entity, character)
    return raw.replace(b"&amp;", b"&").decode("utf-8")
