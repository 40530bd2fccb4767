"""Where a record of a JSON file starts, to the byte: for failure reports only.

ijson (yajl) says which record it failed on, not where: it parses a buffer at a time, so the
stream's position is the end of a buffer. The same parser is run again over the file: with
large reads up to the region of interest, then one byte at a time through it, so that the
stream's position when a record is complete is the byte after its end. The record after it
starts at the first byte that is neither whitespace nor the comma between them. This costs one
more reading of the file up to the failure, and only when a file has failed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import ijson

from ingestd.readers.json.text import BOM, WHITESPACE

_READ = 1 << 16


@dataclass(frozen=True)
class Place:
    """A byte offset in the file and its line (1-based)."""

    byte_offset: int
    line: int


class _Window:
    """The file from `start`, read in large blocks except one byte at a time in [low, high)."""

    def __init__(self, fd: int, start: int, low: int = 0, high: int = 0) -> None:
        self._fd = fd
        self.position = start
        self.last_read_at = start
        self._low, self._high = low, high

    def read(self, size: int = _READ) -> bytes:
        if size == 0:
            return b""  # ijson's look at what kind of stream this is
        if self._low <= self.position < self._high:
            size = 1
        elif self.position < self._low:
            size = min(size, self._low - self.position)
        data = os.pread(self._fd, size, self.position)
        self.last_read_at = self.position
        self.position += len(data)
        return data


def _item_ends(items_path: str, window: _Window) -> Iterator[int]:
    """The stream's position each time a record is complete (within the last read)."""
    try:
        for _ in ijson.items(window, items_path, use_float=False, buf_size=_READ):
            yield window.position
    except (ijson.JSONError, UnicodeDecodeError, ValueError):
        return


def _end_of_record(items_path: str, index: int) -> Finder:
    def find(window: _Window) -> int | None:
        for number, end in enumerate(_item_ends(items_path, window)):
            if number == index:
                return end
        return None

    return find


def _array_opened(parent: str) -> Finder:
    def find(window: _Window) -> int | None:
        try:
            for prefix, event, _ in ijson.parse(window, use_float=False, buf_size=_READ):
                if event == "start_array" and prefix == parent:
                    return window.position
        except (ijson.JSONError, UnicodeDecodeError, ValueError):
            return None
        return None

    return find


Finder = Callable[[_Window], "int | None"]


def _start(fd: int) -> int:
    return len(BOM) if os.pread(fd, len(BOM), 0) == BOM else 0


def _exactly(fd: int, find: Finder) -> int | None:
    """Where `find` succeeds, to the byte: a coarse reading, then one byte at a time through
    the last read of the coarse one."""
    coarse = _Window(fd, _start(fd))
    if find(coarse) is None:
        return None
    return find(_Window(fd, _start(fd), coarse.last_read_at, coarse.position))


@dataclass(frozen=True)
class RecordPlace:
    """Where record `index` starts, or, when the records ended before it, where the text after
    the array does (`after_array`)."""

    place: Place
    after_array: bool = False


def record_start(fd: int, items_path: str, index: int) -> RecordPlace | None:
    """The first byte of record `index` (0-based) of the array at `items_path`: the byte after
    the previous record, its whitespace and its comma; None if the file ends before."""
    if index == 0:
        parent = "" if items_path == "item" else items_path[: -len(".item")]
        before = _exactly(fd, _array_opened(parent))
    else:
        before = _exactly(fd, _end_of_record(items_path, index - 1))
    if before is None:
        return None
    return _next_value(fd, before, first=index == 0)


def _next_value(fd: int, at: int, first: bool) -> RecordPlace:
    """Skip whitespace and one separating comma; a `]` there ends the array."""
    at = _skip_whitespace(fd, at)
    byte = os.pread(fd, 1, at)
    if byte == b"," and not first:
        at = _skip_whitespace(fd, at + 1)
    elif byte == b"]":
        return RecordPlace(place_of(fd, _skip_whitespace(fd, at + 1)), after_array=True)
    return RecordPlace(place_of(fd, at))


def record_at(fd: int, items_path: str, offset: int) -> int:
    """The index of the record that holds the byte at `offset`: how many records end before it."""
    window = _Window(fd, _start(fd), max(0, offset - _READ), offset + 1)
    count = 0
    for end in _item_ends(items_path, window):
        if end > offset:
            break
        count += 1
    return count


def _skip_whitespace(fd: int, at: int) -> int:
    while True:
        block = os.pread(fd, 4096, at)
        stripped = block.lstrip(WHITESPACE)
        if not block or stripped:
            return at + len(block) - len(stripped)
        at += len(block)


def place_of(fd: int, offset: int) -> Place:
    """`offset` with its line number, counted through the file up to it."""
    lines, at = 1, 0
    while at < offset:
        block = os.pread(fd, min(1 << 20, offset - at), at)
        if not block:
            break
        lines += block.count(b"\n")
        at += len(block)
    return Place(offset, lines)
