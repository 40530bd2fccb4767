"""A long sheet read by two processes at once: this one reads the rows before its middle, a
forked one those after it, and the records come out in the sheet's order.

The sheet's XML is cut at the first `<row r="N">` at or after the middle of its bytes. The
second process parses the sheet's head (everything up to `<sheetData>`) followed by the bytes
from the cut on, a document of its own, and writes its records to an anonymous file. Whether its
records are the ones a single reading would have made is settled when this process reaches the
cut: only if the rows before it ended exactly there (the grammar read them, nothing left over),
the head the other process used is the real one, and row N would not have been skipped as a
repeat are its records taken. Otherwise the other process is stopped and this one reads on.

Every row the second process reads is read by the same code with the same state (the header,
the row numbering, the namespace prefixes of the root), so what it declines or refuses a single
reading would have declined or refused too: the reader then declines, and the reference reader
decides, as for any sheet the streaming reader does not finish.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO

import orjson

from ingestd.readers import Declined, Record
from ingestd.readers.excel_rows import Source
from ingestd.readers.forked import ForkedHalf, TailWriter

SPLIT_MIN_BYTES = 32 << 20  # below this the fork and the second pass over the head cost more
BLOCK = 1 << 16  # bytes of the sheet read at a time, by either process
_SHEET_DATA = b"<sheetData>"
_MARKER = b'<row r="'
_ROW_NUMBER = re.compile(rb'<row r="([1-9][0-9]{0,6})"')
_HOLD = 32  # bytes kept back so that a marker or a row number is never judged half seen
_MAX_HEAD = 16 << 20


def cut_target(size: int) -> int:
    """Where in a sheet of `size` bytes to look for the cut: its middle."""
    return size // 2


class SplitFinder:
    """Finds, in a sheet's bytes as they stream by in blocks of any size, the first `<row r="N">`
    at or after `target` and after the first `<sheetData>`; the same bytes give the same cut."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.head_end: int | None = None
        self.split: int | None = None
        self.first_row = 0
        self._held = b""
        self._start = 0  # where _held starts in the sheet

    def feed(self, block: bytes) -> tuple[bytes, bytes | None]:
        """The bytes that are surely before the cut, and the bytes from the cut on once found."""
        data = self._held + block
        if self.head_end is None and (at := data.find(_SHEET_DATA)) >= 0:
            self.head_end = self._start + at + len(_SHEET_DATA)
        judged = len(data) - _HOLD  # a marker starting up to here is followed by enough bytes
        if self.head_end is not None:
            at = data.find(_MARKER, max(self.target, self.head_end) - self._start)
            while 0 <= at <= judged:
                if found := _ROW_NUMBER.match(data, at):
                    self.split, self.first_row = self._start + at, int(found[1])
                    self._held = b""
                    return data[:at], data[at:]
                at = data.find(_MARKER, at + 1)
        cut = max(judged, 0)
        ready, self._held = data[:cut], data[cut:]
        self._start += cut
        return ready, None

    def rest(self) -> bytes:
        """The bytes kept back, once the sheet has ended without a cut."""
        held, self._held = self._held, b""
        return held


ReadFrom = Callable[[Source, int, list[str]], Generator[Record, None, int]]
"""Reads the records of a sheet's stream whose first row is numbered as given, under the given
header; returns the number of formulas without a cached value."""


class SecondHalf(ForkedHalf):
    """The forked process reading the rows after the cut, seen from the one that forked it."""

    def __init__(
        self, open_sheet: Callable[[], IO[bytes]], read_from: ReadFrom, target: int, scratch: Path
    ) -> None:
        super().__init__(
            lambda conn, out: _read_second_half(conn, out, open_sheet, read_from, target),
            scratch,
            "second half of the sheet",
        )
        self.header_sent = False

    @property
    def formulas(self) -> int:
        return int(self.done.get("formulas", 0))

    def send_header(self, header: list[str]) -> None:
        self.header_sent = True
        self.send(header)

    def takes_over(self, finder: SplitFinder, sheet_data_at: int, next_row: int) -> bool:
        """Whether its records are those a single reading would make from the cut on."""
        message = self.message()
        if message is None or "split" not in message:
            return False
        # the head check is implied today (the rows are read by the grammar only after the
        # first <sheetData>, and between_rows says so); it keeps the two finders honest
        return bool(
            message["split"] == finder.split
            and message["head_end"] == sheet_data_at + len(_SHEET_DATA)
            and message["first_row"] >= next_row
        )


def _read_second_half(
    conn: Connection,
    out: TailWriter,
    open_sheet: Callable[[], IO[bytes]],
    read_from: ReadFrom,
    target: int,
) -> None:
    with open_sheet() as sheet:
        finder, head, rest = SplitFinder(target), b"", None
        while rest is None:
            block = sheet.read(BLOCK)
            if not block:
                raise Declined("no row to cut at")
            ready, rest = finder.feed(block)
            if finder.head_end is None or len(head) < finder.head_end:
                head += ready
            if len(head) > _MAX_HEAD:
                raise Declined("the sheet's head is too long")
        assert finder.head_end is not None and finder.split is not None
        conn.send_bytes(
            orjson.dumps(
                {"split": finder.split, "head_end": finder.head_end, "first_row": finder.first_row}
            )
        )
        header = orjson.loads(conn.recv_bytes())
        joined = _Joined(head[: finder.head_end] + rest, sheet)
        records = read_from(joined, finder.first_row, header)
        while True:
            try:
                out.add(orjson.dumps(next(records), option=orjson.OPT_SORT_KEYS))
            except StopIteration as end:
                out.finish(formulas=end.value)
                return


class _Joined:
    """The sheet's head and the bytes from the cut on, read as one stream."""

    def __init__(self, first: bytes, rest: IO[bytes]) -> None:
        self._first = first
        self._rest = rest

    def read(self, size: int) -> bytes:
        if self._first:
            data, self._first = self._first[:size], self._first[size:]
            return data
        return self._rest.read(size)
