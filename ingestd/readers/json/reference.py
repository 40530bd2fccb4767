"""JSON files: a top-level array of objects, or an array at `json_items_path`, streamed by ijson.

This is the reference reader: it decides whether a file is valid and says where it is not. A
top-level array is first read by the faster `BatchedJsonReader`, which yields the same records
or declines."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import ijson

from ingestd.errors import InvalidInput
from ingestd.readers import ReadDetails, Reader, Record, SourceStream
from ingestd.readers.json import locate as json_locate
from ingestd.readers.json.batched import BatchedJsonReader
from ingestd.readers.json.text import BOM, WHITESPACE


class JsonReader:
    file_type = "json"

    def __init__(self, items_path: str = "item") -> None:
        """`items_path` is ijson's: "item", or a path ending in ".item" (settings checks it)."""
        self._path = items_path
        self._parent = items_path[: -len(".item")] if items_path != "item" else ""
        self.fast: Reader | None = BatchedJsonReader() if items_path == "item" else None

    def records(self, stream: SourceStream, details: ReadDetails) -> Iterator[Record]:
        """The records, numbers as read: integers exact, decimals as `Decimal` (staging makes
        them doubles), so that no integer in the signed 64-bit range is refused or changed."""
        found = _ArrayWatch(self._parent)
        count = 0
        try:
            for item in ijson.items(found.watch(stream), self._path, use_float=False):
                yield item
                count += 1
        except _LoneSurrogate as exc:
            index = json_locate.record_at(stream.fd, self._path, exc.offset)
            raise InvalidInput(
                f"record {index} holds a lone UTF-16 surrogate escape ({exc.escape}), which is "
                "not a character",
                **self.where(stream.fd, index),
            ) from None
        except (ijson.JSONError, UnicodeDecodeError, ValueError) as exc:
            raise InvalidInput(
                f"malformed JSON: {_first_line(exc)}", **self.where(stream.fd, count)
            ) from exc
        if not found.seen:
            where = "the top level" if not self._parent else f"'{self._parent}'"
            raise InvalidInput(f"no array at {where} (json_items_path is '{self._path}')")

    def where(self, fd: int, index: int) -> dict[str, Any]:
        """Where record `index` starts (or, past the last record, where the text after the
        array does), for a failure report."""
        found = json_locate.record_start(fd, self._path, index)
        if found is None:
            return {"record_index": index, "records_before_error": index}
        place = {"byte_offset": found.place.byte_offset, "line": found.place.line}
        if found.after_array:
            return {"after_the_array": True, "records_before_error": index, **place}
        return {"record_index": index, "records_before_error": index, **place}


class _ArrayWatch:
    """Notes whether the array the records live in exists at all; an absent array is not empty."""

    def __init__(self, parent: str) -> None:
        self._parent = parent
        self.seen = False

    def watch(self, stream: SourceStream) -> Any:
        bom = _skip_bom(stream)
        if self._parent:
            return self._events(_SurrogateGuard(stream))
        _require_top_level_array(stream, bom)
        self.seen = True
        return _SurrogateGuard(stream)

    def _events(self, stream: _SurrogateGuard) -> Iterator[tuple[str, str, Any]]:
        for event in ijson.parse(stream, use_float=True):
            if not self.seen and event[1] == "start_array" and event[0] == self._parent:
                self.seen = True
            yield event


class _LoneSurrogate(Exception):
    def __init__(self, offset: int, escape: str) -> None:
        super().__init__(escape)
        self.offset = offset
        self.escape = escape


class _SurrogateGuard:
    """Refuses lone UTF-16 surrogate escapes ("\\ud800"), which ijson's C backend would quietly
    turn into "?" or undecodable bytes: a record arrives as written or not at all. Pairs (emoji
    written as "\\ud83d\\ude00", as PHP's json_encode does) pass. The last few bytes of each
    block are held back until the next one arrives, so every escape is checked whole before the
    parser sees it; blocks without a surrogate escape cost one regular-expression search."""

    _TRIGGER = re.compile(rb"\\u[dD][89a-fA-F]")
    _ESCAPE = re.compile(rb"(\\+)u[dD]([89a-fA-F])[0-9a-fA-F]{2}")
    _LOW = re.compile(rb"\\u[dD][c-fC-F][0-9a-fA-F]{2}")
    _HOLD = 12

    def __init__(self, stream: SourceStream) -> None:
        self._stream = stream
        self._held = b""
        self._before = b""
        self._offset = stream.consumed  # in the file, of the next byte handed on

    def read(self, size: int = 65536) -> bytes:
        while True:
            data = self._stream.read(size)
            window = self._held + data
            if not data or len(window) > self._HOLD:
                out = window if not data else window[: -self._HOLD]
                self._held = window[len(out) :]
                self._check(self._before, out, self._held)
                self._before = (self._before + out)[-self._HOLD :]
                self._offset += len(out)
                return out
            self._held = window

    def _check(self, before: bytes, out: bytes, after: bytes) -> None:
        window = before + out + after
        if not self._TRIGGER.search(window):
            return
        for escape in self._ESCAPE.finditer(window):
            at = escape.end() - 6  # the backslash of the \uXXXX escape itself
            if not len(before) <= at < len(before) + len(out) or len(escape.group(1)) % 2 == 0:
                continue  # checked in another block, or an escaped backslash before "u"
            if escape.group(2) in b"89abAB":
                paired = self._LOW.match(window, escape.end()) is not None
            else:
                paired = at >= 6 and self._ESCAPE.match(window, at - 6) is not None
                paired = paired and window[at - 3 : at - 2] in (b"8", b"9", b"a", b"b", b"A", b"B")
            if not paired:
                text = window[at : at + 6].decode("ascii", "replace")
                raise _LoneSurrogate(self._offset - len(before) + at, text)


def _skip_bom(stream: SourceStream) -> bool:
    """RFC 8259 lets a parser ignore a UTF-8 byte order mark; Windows tools like to write one."""
    head = stream.read(len(BOM))
    if head != BOM:
        stream.unread(head)
        return False
    return True


def _require_top_level_array(stream: SourceStream, bom: bool) -> None:
    """Peek at the first significant byte, then hand what was read back to the parser."""
    head = b""
    while not head.lstrip(WHITESPACE):
        block = stream.read(65536)
        if not block:
            break
        head += block
    stream.unread(head)
    first = head.lstrip(WHITESPACE)[:1]
    if not head and bom:
        raise InvalidInput(
            "the file holds only a UTF-8 byte order mark (3 bytes) and no data: an empty export "
            "is not an empty catalog"
        )
    if first != b"[":
        shown = repr(first)[1:] if first else "only whitespace"
        raise InvalidInput(
            f"the top level is not an array: the first significant byte is {shown}",
            byte_offset=len(head) - len(head.lstrip(WHITESPACE)) + (len(BOM) if bom else 0),
        )


def _first_line(exc: Exception) -> str:
    text = exc.args[0] if exc.args else str(exc)
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="backslashreplace")
    return str(text).strip().splitlines()[0] if str(text).strip() else type(exc).__name__
