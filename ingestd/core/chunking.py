"""Records to chunks under count and byte limits, and the checksum the receiver recomputes.

A record's canonical form is `orjson.dumps(record, option=OPT_SORT_KEYS)`. The staged file holds
one canonical record per line. Because canonical JSON never contains a raw newline, a chunk's
`records` array is its lines with the newlines turned into commas, wrapped in brackets: exactly
`orjson.dumps(records, option=OPT_SORT_KEYS)`, the bytes the receiver hashes.
"""

from __future__ import annotations

import hashlib
import operator
import struct
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate, repeat
from typing import Any

import orjson

from ingestd.core.numbers import as_double


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


def canonical(record: Any) -> bytes:
    """A record's canonical form: keys sorted, decimals as the nearest double."""
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS, default=as_double)


def records_array(staged_lines: bytes) -> bytes:
    """The JSON array of a chunk, from its staged lines (each ending in a newline)."""
    if not staged_lines:
        return b"[]"
    return b"[" + staged_lines[:-1].replace(b"\n", b",") + b"]"


def record_lines(staged_lines: bytes) -> list[bytes]:
    """The canonical records of a staged chunk, one per line."""
    return staged_lines[:-1].split(b"\n") if staged_lines else []


def checksum(records_json: bytes) -> str:
    return hashlib.sha256(records_json).hexdigest()


def array_checksum(lines: list[bytes]) -> str:
    """The checksum of the array whose records have these canonical forms: `[`, the forms joined
    by commas, `]`."""
    digest = hashlib.sha256(b"[")
    digest.update(b",".join(lines))
    digest.update(b"]")
    return digest.hexdigest()


_BETWEEN = orjson.Fragment(b"\x00")


def canonical_lines(values: list[Any]) -> list[bytes]:
    """Each value's canonical form (canonical()), from one serialization of the whole list:
    the lines are exactly as long as their bytes, where one call per value left each holding
    more memory until freed. orjson writes every control character inside a string as an
    escape, so a raw NUL in its output can only be the marker placed between the values."""
    if not values:
        return []
    spaced: list[Any] = [_BETWEEN] * (2 * len(values) - 1)
    spaced[::2] = values
    try:
        marked = orjson.dumps(spaced, option=orjson.OPT_SORT_KEYS, default=as_double)
    except orjson.JSONEncodeError:  # a value nested as deep as orjson goes is one too deep here
        return [canonical(v) for v in values]
    return marked[1:-1].split(b",\x00,")


@dataclass(frozen=True)
class Chunk:
    """A closed chunk: where it lies, and its staged bytes (its records, one per line)."""

    span: ChunkSpan
    lines: bytes


class ChunkPlanner:
    """Cuts a stream of canonical records into chunks; feed records in order, then call finish.

    A chunk's records are kept until it closes (at most chunk_bytes, or one oversized record),
    so its checksum and staged bytes are made with two joins instead of work per record."""

    def __init__(self, limits: ChunkLimits) -> None:
        self._limits = limits
        self._number = 0
        self._records_seen = 0
        self._bytes_seen = 0
        self._lines: list[bytes] = []
        self._array_size = 2  # "[" and "]"

    def add(self, record: bytes) -> Chunk | None:
        """Add one canonical record; returns the chunk it closed, if adding it closed one."""
        closed = self._close() if self._must_flush_before(len(record)) else None
        self._array_size += len(record) + (1 if self._lines else 0)
        self._lines.append(record)
        return closed

    def add_many(self, records: list[bytes]) -> list[Chunk]:
        """add() for each record in turn, the chunks it closed; the cuts found by a running sum
        and a bisection (C loops), not by a call per record."""
        closed: list[Chunk] = []
        start, count = 0, len(records)
        while start < count:
            if len(self._lines) >= self._limits.records:
                closed.append(self._close())
            window = records[start : start + self._limits.records - len(self._lines)]
            # what the array grows by with the first k records, one comma each: ends[k - 1]
            ends = list(accumulate(map(operator.add, map(len, window), repeat(1))))
            opening = 0 if self._lines else 1  # the first record of a chunk has no comma
            fits = bisect_right(ends, self._limits.bytes - self._array_size + opening)
            if fits == 0:
                if self._lines:
                    closed.append(self._close())
                    continue
                fits = 1  # an empty chunk takes one record, whatever its size
            self._lines.extend(window[:fits])
            self._array_size += ends[fits - 1] - opening
            start += fits
        return closed

    def finish(self) -> Chunk | None:
        """Close the last chunk, if it holds any record."""
        return self._close() if self._lines else None

    def _must_flush_before(self, size: int) -> bool:
        if not self._lines:
            return False
        if len(self._lines) >= self._limits.records:
            return True
        return self._array_size + 1 + size > self._limits.bytes

    def _close(self) -> Chunk:
        lines = b"\n".join(self._lines) + b"\n"
        span = ChunkSpan(
            number=self._number,
            record_offset=self._records_seen,
            record_count=len(self._lines),
            byte_start=self._bytes_seen,
            byte_end=self._bytes_seen + len(lines),
            checksum=array_checksum(self._lines),
        )
        self._number += 1
        self._records_seen += len(self._lines)
        self._bytes_seen += len(lines)
        self._lines = []
        self._array_size = 2
        return Chunk(span, lines)
