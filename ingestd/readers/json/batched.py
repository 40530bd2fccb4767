"""The fast path for a top-level JSON array: record boundaries found in the raw bytes, and many
records at a time parsed and validated by orjson.

The array's text is cut after a `}` followed by a comma; each piece between cuts is parsed as
an array of its own. If every piece is a valid, non-empty array, the whole is a valid array of
their elements in order, because JSON's grammar joins arrays exactly so. A cut that lands inside
a string or a nested value leaves a piece that does not parse, and an earlier cut is tried.

This reader never reports a bad file itself. Anything it is not sure of raises `Declined`, and
the reference reader (ijson) runs from the start and says what is wrong and where. Pieces that
could hold an integer orjson reads differently from ijson (beyond 64 bits orjson turns it into a
float; yajl refuses it) are declined as well. tests/test_json_batched.py holds the two readers
equal on a fuzzed corpus, malformed input included.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import orjson

from ingestd.core.chunking import canonical_lines
from ingestd.readers import CanonicalBatch, Declined, ReadDetails, Reader, Record, SourceStream
from ingestd.readers.json.text import BOM, WHITESPACE

_BLOCK = 1 << 20
_MAX_PENDING = 64 << 20  # a record larger than this goes to the reference reader
_ATTEMPTS = 4
_CANDIDATES = 256
_SPACES = tuple(bytes([c]) for c in WHITESPACE)  # single bytes: b"" is in every bytes object
_LONG_INTEGER = re.compile(rb"[:\[,][ \t\r\n]*-?[0-9]{19}")
_DIGITS_AS_ZERO = bytes(ord("0") if chr(i).isdigit() and i < 128 else i for i in range(256))
_NINETEEN_DIGITS = b"0" * 19


class BatchedJsonReader:
    file_type = "json"
    fast: Reader | None = None

    def __init__(self, block_size: int = _BLOCK) -> None:
        self._block = block_size

    def where(self, fd: int, index: int) -> dict[str, object]:
        return {}  # it never reports a file: the reference reader reads it again and says

    def records(self, stream: SourceStream, details: ReadDetails) -> Iterator[CanonicalBatch]:
        pieces = _Pieces(_after_opening_bracket(stream, self._block), self._block)
        yield from pieces.read(stream.read)
        last = pieces.last()
        if last:
            yield last


class _Pieces:
    """The records of an array's text a piece at a time, and the bytes after the last piece."""

    def __init__(self, pending: bytes, block: int) -> None:
        self.pending = pending
        self._block = block
        self._cuts = 0

    def read(self, read: Callable[[int], bytes]) -> Iterator[CanonicalBatch]:
        while block := read(self._block):
            self.pending += block
            cut = _cut(self.pending)
            if cut is None:
                if len(self.pending) > _MAX_PENDING:
                    raise Declined("no record boundary within the pending bytes")
                continue
            records, resume = cut
            yield _canonical(records)
            self._cuts += 1
            self.pending = self.pending[resume:]

    def last(self) -> CanonicalBatch:
        """The records up to the array's own closing bracket."""
        last = _parse(b"[" + self.pending)
        if not last and not self._cuts:
            raise Declined("an empty array")
        return _canonical(last)


def _after_opening_bracket(stream: SourceStream, size: int) -> bytes:
    head = b""
    while len(head) < len(BOM) + 1 or not head.removeprefix(BOM).lstrip(WHITESPACE):
        block = stream.read(size)
        if not block or len(head) > _MAX_PENDING:
            break
        head += block
    body = head.removeprefix(BOM).lstrip(WHITESPACE)
    if not body.startswith(b"["):
        raise Declined("not an array at the top level")
    return body[1:]


def _cut(pending: bytes) -> tuple[list[Record], int] | None:
    """The records before the latest boundary (`}`, a comma, `{`) whose piece parses, and where
    the rest starts; None when a few candidates do not (strings full of "},{", objects in
    lists). The `{` makes sure that no piece after the first is empty."""
    search_end = len(pending)
    attempts = 0
    for _ in range(_CANDIDATES):
        close = pending.rfind(b"}", 0, search_end)
        if close < 0 or attempts == _ATTEMPTS:
            return None
        search_end = close
        comma = _skip_spaces(pending, close + 1)
        opening = _skip_spaces(pending, comma + 1)
        if pending[comma : comma + 1] != b"," or pending[opening : opening + 1] != b"{":
            continue
        attempts += 1
        try:
            return _parse(b"[" + pending[: close + 1] + b"]"), comma + 1
        except Declined:
            continue
    return None


def _canonical(records: list[Record]) -> CanonicalBatch:
    """A piece's records in canonical form, serialized by one call (`canonical_lines`), so that
    staging takes them as they are. Anything but objects is left to the reference reader,
    which reports the record and where it is."""
    if not all(type(r) is dict for r in records):
        raise Declined("a record that is not an object")
    try:
        return CanonicalBatch(canonical_lines(records))
    except orjson.JSONEncodeError as exc:
        raise Declined(f"orjson: {exc}") from exc


def _skip_spaces(data: bytes, at: int) -> int:
    while data[at : at + 1] in _SPACES:
        at += 1
    return at


def _parse(piece: bytes) -> list[Record]:
    _check_integers(piece)
    try:
        return orjson.loads(piece)  # type: ignore[no-any-return]
    except orjson.JSONDecodeError as exc:
        raise Declined(f"orjson: {exc}") from exc


def _check_integers(piece: bytes) -> None:
    """One translate and one substring search look for any run of 19 digits; the exact pattern
    runs only if they find one (a GTIN-like string, say)."""
    if _NINETEEN_DIGITS in piece.translate(_DIGITS_AS_ZERO) and _LONG_INTEGER.search(piece):
        raise Declined("an integer of 19 or more digits")
