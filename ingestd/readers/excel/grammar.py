"""The strict grammar of rows as Excel, openpyxl and most writers put them in a sheet's XML.

`<row r="2" spans="1:3"><c r="A2" s="1" t="s"><v>7</v></c>...</row>`: attributes in double
quotes, in the order writers use, no whitespace between elements, text without character
references other than the five named entities. A row this matches is well-formed XML, and reads
exactly as expat would read it. Anything else (comments, CDATA, pretty-printing, other
attributes, rich text) simply does not match and goes to expat.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

_TEXT_CHAR = rb"[^<&\x00-\x08\x0b\x0c\x0e-\x1f\r]"
_TEXT = _TEXT_CHAR + rb"*(?:&(?:amp|lt|gt|quot|apos);" + _TEXT_CHAR + rb"*)*"
TEXT = _TEXT  # text as the grammar reads it, for the shared strings (workbook.py)
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
    """Valid UTF-8, and nothing XML forbids in text that the grammar's character classes
    cannot say (forbidden_in_text)."""
    if forbidden_in_text(row):
        return False
    try:
        row.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def forbidden_in_text(data: bytes) -> bool:
    """Whether `data` holds "]]>" (not allowed in XML text) or U+FFFE or U+FFFF (not XML
    characters). One byte is found much faster than three, so it is looked for first."""
    return (b"]" in data and b"]]>" in data) or (
        b"\xef" in data and (b"\xef\xbf\xbe" in data or b"\xef\xbf\xbf" in data)
    )


def text(raw: bytes) -> str:
    """The characters of text the grammar matched."""
    if b"&" not in raw:
        return raw.decode("utf-8")
    for entity, character in _ENTITIES:
        raw = raw.replace(entity, character)
    return raw.replace(b"&amp;", b"&").decode("utf-8")


# Rows of plain cells rewritten as one JSON object, {"A": value, ...}, by bytes.replace in C and
# parsed by orjson: no Python per cell. A row qualifies only if it matches json_row's pattern;
# in such a row every `"` and `<` is markup, so each replacement meets only the markup it names.
# Text with `"`, `\` or CR, numbers that JSON would read otherwise, date-styled numbers, formulas
# and anything rarer are read per cell instead.
SHARED = b"\x01"  # marks a shared string's index, "A":\x017, until with_strings
DATED = "@"  # marks the key of a number in a date style: "A@14@": 45123.5
_JSON_TEXT_CHAR = rb'[^<&"\\\x00-\x08\x0b-\x1f]'  # tab and newline are escaped afterwards
_JSON_TEXT = _JSON_TEXT_CHAR + rb"*+(?:&(?:amp|lt|gt|quot|apos);" + _JSON_TEXT_CHAR + rb"*+)*+"
_JSON_NUMBER = rb"-?(?:0|[1-9][0-9]{0,14}+)(?:\.[0-9]{1,17}+)?(?:[eE][-+]?[0-9]{1,2}+)?"
_STYLE_NUMBER = rb"(?:0|[1-9][0-9]{0,5})"
# Styles are taken off a block of rows at once (as_json); a number's date style was moved onto
# its key before (json_candidate). No candidate's text holds a quote, so this is markup; the
# value may be empty, where a row's digits were taken off the style's too.
_STYLE = re.compile(rb' s="[0-9]{0,6}"')
_INLINE_TEXT = (b'" t="inlineStr"><is><t xml:space="preserve">', b'":"')
_INLINE_END = (b"</t></is></c>", b'",')
_TYPED = (  # before '"><v>', which each of them ends with
    (b'" t="inlineStr"><is><t>', b'":"'),
    (b'" t="b"><v>1</v></c>', b'":true,'),
    (b'" t="b"><v>0</v></c>', b'":false,'),
    (b'" t="s"><v>', b'":' + SHARED),
    (b'" t="n"><v>', b'":'),
)
_UNTYPED = (
    (b'<c r="', b'"'),
    (b'"><v>', b'":'),
    (b"</v></c>", b","),
    (b'"/>', b'":null,'),
)
_FROM_XML_TEXT = (
    (b"\t", b"\\t"),
    (b"\n", b"\\n"),
    (b"&lt;", b"<"),
    (b"&gt;", b">"),
    (b"&quot;", b'\\"'),
    (b"&apos;", b"'"),
    (b"&amp;", b"&"),
)


@cache
def json_row(date_styles: frozenset[int]) -> re.Pattern[bytes]:
    """The cells a row may hold to be read as JSON, for a workbook with these date styles. A
    number with a date style is read too, its key marked (json_candidate) so that it becomes a
    date afterwards, unless style 0 is a date style (then so is every number without a style):
    such a number is read per cell. Every cell's reference has the first cell's row digits, so
    that one replace takes them all off."""
    any_style = rb'(?: s="' + _STYLE_NUMBER + rb'")?'
    number = rb"><v>" + _JSON_NUMBER + rb"</v></c>"
    other = (  # after ' t="': one literal at each step, so that a branch fails at once
        rb's"><v>[0-9]{1,9}+</v></c>|b"><v>[01]</v></c>'
        rb'|inlineStr"><is><t(?: xml:space="preserve")?>' + _JSON_TEXT + rb"</t></is></c>"
    )
    if 0 in date_styles:
        not_date = b"".join(rb"(?!%d\")" % style for style in sorted(date_styles))
        number_style = rb'(?: s="' + not_date + _STYLE_NUMBER + rb'")'
        value = (
            rb"(?:" + number_style + rb'(?: t="n")?' + number
            + rb"|" + any_style + rb'(?:/>| t="(?:' + other + rb")))"
        )  # fmt: skip
    else:
        value = any_style + rb"(?:" + number + rb'|/>| t="(?:n"' + number + rb"|" + other + rb"))"
    # A cell cannot end anywhere else, so none is tried again (atomic group, possessive counts).
    first = rb'<c r="[A-Z]{1,3}([1-9][0-9]{0,6}+)"' + value
    return re.compile(first + rb'(?><c r="[A-Z]{1,3}\1"' + value + b")*+")


def unusual(data: bytes) -> tuple[bool, bool]:
    """Whether a block of rows holds anything a row as JSON must be checked for: what XML
    forbids in text (forbidden_in_text), and what must be unescaped or escaped."""
    return forbidden_in_text(data), b"&" in data or b"\t" in data or b"\n" in data


def json_candidate(
    body: bytes,
    pattern: re.Pattern[bytes],
    unusual: tuple[bool, bool],
    dates: frozenset[int] = frozenset(),
) -> tuple[bytes, bytes] | None:
    """The row made ready for as_json (its references' row digits taken off, a number's date
    style moved onto its key: "A@14@"; as_json takes the other styles off) and its last cell's
    column letters; None unless it matches json_row's pattern. `unusual` is what unusual() said
    of the block the row is in; `dates` are the workbook's date styles."""
    if unusual[0] and forbidden_in_text(body):
        return None
    match = pattern.fullmatch(body)
    if match is None:
        return None
    digits = match.group(1)
    last = body.rfind(b'<c r="') + len(b'<c r="')
    letters = body[last : body.index(b'"', last) - len(digits)]
    for style in _date_styles(dates):
        if style in body:
            body = _dated(body, digits + style)
    return body.replace(digits + b'"', b'"'), letters


@cache
def _date_styles(dates: frozenset[int]) -> tuple[bytes, ...]:
    return tuple(b'" s="%d"' % style for style in sorted(dates))


def _dated(body: bytes, style: bytes) -> bytes:
    """A number's date style (after the row's digits: `7" s="14"`) moved onto its key, between
    two marks: `<c r="Q@14@"><v>`, the same key in every row. A text's keeps its style, to be
    taken off."""
    style_number = style[style.index(b'" s="') + len(b'" s="') : -1]
    key = DATED.encode() + style_number + DATED.encode() + b'"'
    return body.replace(style + b">", key + b">").replace(style + b' t="n">', key + b' t="n">')


_DATED_KEY = re.compile(
    rb'"([A-Z]{1,3})' + DATED.encode() + rb"([0-9]{1,6})" + DATED.encode() + b'":'
)


class DatedKeys:
    """The keys of date-styled numbers in rows as JSON (json_candidate), each with its column
    and style: ("Q@14@", "Q", 14). No text holds a quote but escaped, so each is a key, and each
    key ends so: '@":'. A block of rows holds the keys of the blocks before it, most often: a
    count of each tells, before a search of the whole text for new ones."""

    def __init__(self) -> None:
        self._keys: list[tuple[str, str, int]] = []
        self._counted: list[bytes] = []

    def of(self, text: bytes) -> list[tuple[str, str, int]]:
        marks = text.count(DATED.encode() + b'":')
        if marks and sum(text.count(key) for key in self._counted) != marks:
            found = {*self._keys, *map(_dated_key, set(_DATED_KEY.findall(text)))}
            self._keys = sorted(found)
            self._counted = [b'"%s":' % key.encode() for key, _, _ in self._keys]
        return self._keys if marks else []


def _dated_key(found: tuple[bytes, bytes]) -> tuple[str, str, int]:
    column, style = found[0].decode(), found[1].decode()
    return f"{column}{DATED}{style}{DATED}", column, int(style)


_SHARED_INDEX = re.compile(SHARED + b"([0-9]{1,9})")


def with_strings(text: bytes, literals: Callable[[list[bytes]], list[bytearray]]) -> bytes | None:
    """Rows as JSON (as_json) with each shared string's index replaced by the string's JSON
    text (StringTable.literals); None if an index has no string. No text holds the mark: XML
    refuses the character."""
    if SHARED not in text:
        return text
    pieces: list[Any] = _SHARED_INDEX.split(text)
    try:
        pieces[1::2] = literals(pieces[1::2])
    except IndexError:
        return None
    return b"".join(pieces)


def as_json(rows: list[bytes], escapes: bool) -> bytes:
    """Rows from json_candidate as the text of one JSON array of objects, in their order.
    They are joined by "<", which no such row holds but in its markup, which goes first."""
    text = b"<".join(rows) + b"<"
    if b' s="' in text:
        text = text.replace(b' s="0"', b"")  # the default style: one pass in C, not a match
        if b' s="' in text:
            text = _STYLE.sub(b"", text)
    text = text.replace(*_INLINE_TEXT).replace(*_INLINE_END)  # first: they shrink it most
    if b' t="' in text:
        for markup, json in _TYPED:
            text = text.replace(markup, json)
    for markup, json in _UNTYPED:
        text = text.replace(markup, json)
    text = text.replace(b",<", b"},{")  # every cell ends with a comma
    if escapes:
        for escaped, json in _FROM_XML_TEXT:
            text = text.replace(escaped, json)
    return b"[{" + text[:-2] + b"]"
