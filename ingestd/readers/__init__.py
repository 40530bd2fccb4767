"""One module per input format, behind one small interface.

A reader turns a byte stream into records (JSON objects as Python dicts) and raises
InvalidInput, saying where, for anything it cannot read. Values must be JSON-safe: str, int,
finite float, bool, None, lists and dicts of them. Everything after the reader (validation
of each record, staging, chunking, checksums, sending) is the same for every format.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import Any, Protocol

Record = dict[str, Any]


class SourceStream:
    """Reads a claimed file through its descriptor, hashing and counting every byte."""

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
        data = os.read(self._fd, size)
        self._hash.update(data)
        self.position += len(data)
        return data

    def unread(self, data: bytes) -> None:
        """Give bytes back to be returned by the next read (they stay hashed and counted once)."""
        self._pending = data + self._pending

    def drain(self) -> None:
        """Read whatever the parser left, so the digest covers the whole file."""
        while self.read(1 << 20):
            pass

    def sha256(self) -> str:
        return self._hash.hexdigest()


class Reader(Protocol):
    file_type: str

    def records(self, stream: SourceStream) -> Iterator[Record]:
        """Yield the file's records in order; raise InvalidInput on anything unreadable."""
