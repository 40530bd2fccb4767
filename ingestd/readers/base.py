"""The reader interface: every format behind it, one folder per format.

A reader turns a claimed file into records (JSON objects as Python dicts) and raises
InvalidInput, saying where, for anything it cannot read. Values must be JSON-safe: str, int,
float, Decimal, bool, None, lists and dicts of them; records a reader already serialized
canonically (core/chunking.canonical) come several at once as a `CanonicalBatch`. What a
reader learns on the
way (the sheet it read, counts worth telling the operator) goes into the `ReadDetails` it is
handed. Everything after the reader (checking each record, staging, chunking, checksums,
sending) is the same for every format.

A reader may have a `fast` variant that yields the same records or raises Declined; staging
then reads the file again with the reference reader, which alone says why a file is bad.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Protocol

from ingestd.errors import Declined, Reread
from ingestd.once import Once

__all__ = [
    "EXCEL_SUFFIXES",
    "KINDS",
    "CanonicalBatch",
    "Declined",
    "ReadDetails",
    "Reader",
    "Record",
    "Reread",
    "SourceStream",
    "chooser",
]

Record = dict[str, Any]


class CanonicalBatch(list[bytes]):
    """Records already in their canonical form (`orjson.dumps` with sorted keys), several at
    once, as the fast JSON reader hands them over: staging takes them as they are and cuts them
    into chunks by a few passes in C (ChunkPlanner.add_many), not by work per record. Their
    integers fit in 64 bits signed: the reader that makes a batch has seen to it (the fast JSON
    reader declines a piece with any run of 19 digits), so staging does not look again."""


EXCEL_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xltx", ".xltm", ".xls", ".xlsb", ".ods"})
KINDS = {
    **dict.fromkeys(EXCEL_SUFFIXES, "excel"),
    ".csv": "csv",
    ".tsv": "tsv",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".xml": "xml",
}
"""Which reader a name's suffix (in any case) asks for; any other name is read as JSON."""


@dataclass
class ReadDetails:
    """Per-file facts a reader reports: `sheet` goes on the wire, `notes` into logs and receipts."""

    sheet: str | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    hints: dict[str, Any] = field(default_factory=dict)  # what a reading tells the next one


class SourceStream:
    """Reads a claimed file through its descriptor, hashing and counting every byte once.

    Sequential readers call `read`; readers that need to seek (a zip archive) take a `seekable()`
    view of the same descriptor. Either way `drain` completes the digest over the whole file.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._hash = hashlib.sha256()
        self._pending = b""
        self.position = 0

    def read(self, size: int = 65536) -> bytes:
        if size == 0:
            return b""
        if size < 0:
            size = 1 << 20
        if self._pending:
            data, self._pending = self._pending[:size], self._pending[size:]
            return data
        data = os.pread(self._fd, size, self.position)
        self._hash.update(data)
        self.position += len(data)
        return data

    @property
    def consumed(self) -> int:
        """The offset in the file of the next byte `read` returns."""
        return self.position - len(self._pending)

    def unread(self, data: bytes) -> None:
        """Give bytes back to be returned by the next read (they stay hashed and counted once)."""
        self._pending = data + self._pending

    def drain(self) -> None:
        """Read whatever the parser left, so the digest covers the whole file."""
        self._pending = b""
        while self.read(1 << 20):
            pass

    def sha256(self) -> str:
        return self._hash.hexdigest()

    def size(self) -> int:
        return os.fstat(self._fd).st_size

    @property
    def fd(self) -> int:
        """The descriptor, for reading the file again by position (os.pread)."""
        return self._fd

    def seekable(self) -> io.BufferedReader:
        """A random-access view of the same descriptor with its own position."""
        return io.BufferedReader(_PositionalReader(self._fd), buffer_size=1 << 16)


class _PositionalReader(io.RawIOBase):
    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = os.pread(self._fd, len(buffer), self._position)
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {
            io.SEEK_SET: 0,
            io.SEEK_CUR: self._position,
            io.SEEK_END: os.fstat(self._fd).st_size,
        }
        self._position = base[whence] + offset
        return self._position

    def tell(self) -> int:
        return self._position


class Reader(Protocol):
    file_type: str
    fast: Reader | None
    """A faster reader that yields the same records or raises Declined; None if there is none."""

    def records(
        self, stream: SourceStream, details: ReadDetails
    ) -> Iterator[Record | CanonicalBatch]:
        """Yield the file's records in order (or batches of them); raise InvalidInput on
        anything unreadable."""

    def where(self, fd: int, index: int) -> dict[str, Any]:
        """Where record `index` is in the file open on `fd` (record_index, byte_offset, line,
        sheet, row...), for a report about a record found bad after the reader gave it."""


def chooser(makers: Mapping[str, Callable[[], Reader]]) -> Callable[[str], Reader]:
    """Pick a file's reader by its name: made by `makers` by kind ("json", "excel", "csv",
    "tsv", "ndjson", "xml"), chosen by KINDS. Each kind's reader is made with the first file of
    its kind, then kept: a staging ahead and its worker must name the same reader."""
    readers = {kind: Once(make) for kind, make in makers.items()}

    def choose(name: str) -> Reader:
        return readers[KINDS.get(PurePath(name).suffix.lower(), "json")]()

    return choose
