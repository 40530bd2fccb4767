"""JSON files: a top-level array of objects, or an array at `json_items_path`, streamed by ijson."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ijson

from ingestd.errors import InvalidInput
from ingestd.readers import ReadDetails, Record, SourceStream

_WHITESPACE = b" \t\r\n"
_BOM = b"\xef\xbb\xbf"


class JsonReader:
    file_type = "json"

    def __init__(self, items_path: str = "item") -> None:
        if not items_path == "item" and not items_path.endswith(".item"):
            raise ValueError("json_items_path must name an array's items and end in 'item'")
        self._path = items_path
        self._parent = items_path[: -len(".item")] if items_path != "item" else ""

    def records(self, stream: SourceStream, details: ReadDetails) -> Iterator[Record]:
        found = _ArrayWatch(self._parent)
        count = 0
        try:
            for item in ijson.items(found.watch(stream), self._path, use_float=True):
                yield item
                count += 1
        except ijson.JSONError as exc:
            raise InvalidInput(
                f"malformed JSON: {_first_line(exc)}",
                record_index=count,
                byte_offset=stream.position,
                records_before_error=count,
            ) from exc
        if not found.seen:
            where = "the top level" if not self._parent else f"'{self._parent}'"
            raise InvalidInput(f"no array at {where} (json_items_path is '{self._path}')")


class _ArrayWatch:
    """Notes whether the array the records live in exists at all; an absent array is not empty."""

    def __init__(self, parent: str) -> None:
        self._parent = parent
        self.seen = False

    def watch(self, stream: SourceStream) -> Any:
        _skip_bom(stream)
        if self._parent:
            return self._events(stream)
        _require_top_level_array(stream)
        self.seen = True
        return stream

    def _events(self, stream: SourceStream) -> Iterator[tuple[str, str, Any]]:
        for event in ijson.parse(stream, use_float=True):
            if not self.seen and event[1] == "start_array" and event[0] == self._parent:
                self.seen = True
            yield event


def _skip_bom(stream: SourceStream) -> None:
    """RFC 8259 lets a parser ignore a UTF-8 byte order mark; Windows tools like to write one."""
    head = stream.read(len(_BOM))
    if head != _BOM:
        stream.unread(head)


def _require_top_level_array(stream: SourceStream) -> None:
    """Peek at the first significant byte, then hand what was read back to the parser."""
    head = b""
    while not head.lstrip(_WHITESPACE):
        block = stream.read(65536)
        if not block:
            break
        head += block
    stream.unread(head)
    first = head.lstrip(_WHITESPACE)[:1]
    if not head:
        raise InvalidInput("the file is empty (0 bytes): an empty export is not an empty catalog")
    if first != b"[":
        shown = repr(first)[1:] if first else "only whitespace"
        raise InvalidInput(
            f"the top level is not an array: the first significant byte is {shown}",
            byte_offset=len(head) - len(head.lstrip(_WHITESPACE)),
        )


def _first_line(exc: Exception) -> str:
    text = exc.args[0] if exc.args else str(exc)
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="backslashreplace")
    return str(text).strip().splitlines()[0] if str(text).strip() else type(exc).__name__
