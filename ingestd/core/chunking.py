"""Records to chunks under count and byte limits, and the checksum the receiver recomputes.

A record's canonical form is `orjson.dumps(record, option=OPT_SORT_KEYS)`. The staged file holds
one canonical record per line. Because canonical JSON never contains a raw newline, a chunk's
`records` array is its lines with the newlines turned into commas, wrapped in brackets: exactly
`orjson.dumps(records, option=OPT_SORT_KEYS)`, the bytes the receiver hashes.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass


@dataclass(frozen=True)
class ChunkLimits:
    records: int
    bytes: int


@dataclass(frozen=True)
class ChunkSpan:
    """One chunk: its records' place in the file and its bytes' place in the staged file."""

    number: int
    record_offset: int
    record_count: int
    byte_start: int
    byte_end: int
    checksum: str

    _FORMAT = struct.Struct("<QQQQQ32s")
    SIZE = _FORMAT.size

    def pack(self) -> bytes:
        return self._FORMAT.pack(
            self.number,
            self.record_offset,
            self.record_count,
            self.byte_start,
            self.byte_end,
            bytes.fromhex(self.checksum),
        )

    @classmethod
    def unpack(cls, data: bytes) -> ChunkSpan:
        number, offset, count, start, end, digest = cls._FORMAT.unpack(data)
        return cls(number, offset, count, start, end, digest.hex())


def records_array(staged_lines: bytes) -> bytes:
    """The JSON array of a chunk, from its staged lines (each ending in a newline)."""
    if not staged_lines:
        return b"[]"
    return b"[" + staged_lines[:-1].replace(b"\n", b",") + b"]"


def checksum(records_json: bytes) -> str:
    return hashlib.sha256(records_json).hexdigest()


class ChunkPlanner:
    """Cuts a stream of canonical records into chunks; feed records in order, then call finish."""

    def __init__(self, limits: ChunkLimits) -> None:
        self._limits = limits
        self._number = 0
        self._records_seen = 0
        self._bytes_seen = 0
        self._start_record = 0
        self._start_byte = 0
        self._count = 0
        self._array_size = 2  # "[" and "]"
        self._hash = hashlib.sha256(b"[")

    def add(self, record: bytes) -> ChunkSpan | None:
        """Add one canonical record; returns the chunk it closed, if adding it closed one."""
        closed = self._close() if self._must_flush_before(len(record)) else None
        self._hash.update(b"," + record if self._count else record)
        self._array_size += len(record) + (1 if self._count else 0)
        self._count += 1
        self._records_seen += 1
        self._bytes_seen += len(record) + 1
        return closed

    def finish(self) -> ChunkSpan | None:
        """Close the last chunk, if it holds any record."""
        return self._close() if self._count else None

    def _must_flush_before(self, size: int) -> bool:
        if self._count == 0:
            return False
        if self._count >= self._limits.records:
            return True
        return self._array_size + 1 + size > self._limits.bytes

    def _close(self) -> ChunkSpan:
        self._hash.update(b"]")
        span = ChunkSpan(
            number=self._number,
            record_offset=self._start_record,
            record_count=self._count,
            byte_start=self._start_byte,
            byte_end=self._bytes_seen,
            checksum=self._hash.hexdigest(),
        )
        self._number += 1
        self._start_record = self._records_seen
        self._start_byte = self._bytes_seen
        self._count = 0
        self._array_size = 2
        self._hash = hashlib.sha256(b"[")
        return span
