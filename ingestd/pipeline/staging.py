"""The validation pass: read the whole claimed file once, check every record, and stage it.

The staged file holds one canonical record per line; the index holds one fixed-size entry per
chunk (record range, byte range, checksum). Both are fsynced before the journal's begin entry
is written, and nothing is sent before that, so a malformed file never reaches the receiver.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Self

import orjson

from ingestd.core import numbers
from ingestd.core.chunking import Chunk, ChunkLimits, ChunkPlanner, ChunkSpan, canonical
from ingestd.errors import InvalidInput
from ingestd.fs import durable
from ingestd.gcpause import gc_paused
from ingestd.readers import CanonicalRecord, Declined, ReadDetails, Reader, Reread, SourceStream

_BUFFER = 1 << 20
_CHECKPOINT_EVERY = 1024
_READINGS = 3  # a reading, one more that learned what to rename, and a spare


@dataclass(frozen=True)
class Staged:
    file_size: int
    file_sha256: str
    total_records: int
    chunk_count: int
    staged_size: int
    index_sha256: str
    details: ReadDetails


@gc_paused()
def stage(
    fd: int,
    reader: Reader,
    limits: ChunkLimits,
    staged: Path,
    index: Path,
    checkpoint: Callable[[], None] | None = None,
) -> Staged:
    """Validate and stage the file open on `fd`; raises InvalidInput saying what and where.

    The reader's fast variant goes first. If it declines, or the file turns out bad, the
    reference reader runs from the start: only it decides that a file is bad, and how to say so.
    """
    if reader.fast is None:
        return _stage(fd, reader, limits, staged, index, checkpoint)
    try:
        return _stage(fd, reader.fast, limits, staged, index, checkpoint)
    except (Declined, InvalidInput) as declined:
        reason = declined.message if isinstance(declined, InvalidInput) else str(declined)
    result = _stage(fd, reader, limits, staged, index, checkpoint)
    result.details.notes["read_twice"] = reason  # logged and kept in the receipt: why it was slow
    return result


def _stage(
    fd: int,
    reader: Reader,
    limits: ChunkLimits,
    staged: Path,
    index: Path,
    checkpoint: Callable[[], None] | None,
) -> Staged:
    info = os.fstat(fd)
    if info.st_size == 0:
        raise InvalidInput("the file is empty (0 bytes): an empty export is not an empty catalog")
    details = ReadDetails()
    for _ in range(_READINGS):
        try:
            return _read(fd, reader, limits, staged, index, checkpoint, details)
        except Reread:
            continue  # with what the reading noted in `details`
    raise InvalidInput(f"the file could not be read in {_READINGS} passes")


def _read(
    fd: int,
    reader: Reader,
    limits: ChunkLimits,
    staged: Path,
    index: Path,
    checkpoint: Callable[[], None] | None,
    details: ReadDetails,
) -> Staged:
    stream = SourceStream(fd)
    planner = ChunkPlanner(limits)
    mode = private_mode(os.fstat(fd).st_mode)
    try:
        with _create(staged, mode) as out, _IndexWriter(index, mode) as spans:
            total = 0
            for total, record in enumerate(reader.records(stream, details), start=1):
                if checkpoint is not None and total % _CHECKPOINT_EVERY == 0:
                    checkpoint()
                _write(planner.add(_canonical(record, total - 1)), out, spans)
            stream.drain()
            _write(planner.finish(), out, spans)
            durable.fsync_file(out)
            staged_size = out.tell()
    except _BadRecord as bad:
        raise InvalidInput(bad.message, **bad.where, **reader.where(fd, bad.index)) from None
    return Staged(
        file_size=stream.position,
        file_sha256=stream.sha256(),
        total_records=total,
        chunk_count=spans.count,
        staged_size=staged_size,
        index_sha256=spans.sha256(),
        details=details,
    )


def _write(chunk: Chunk | None, out: BinaryIO, spans: _IndexWriter) -> None:
    if chunk is None:
        return
    if numbers.may_hold_long_integer(chunk.lines):
        _check_integers(chunk)
    out.write(chunk.lines)
    spans.add(chunk.span)


def _check_integers(chunk: Chunk) -> None:
    """Refuse an integer beyond signed 64 bits, which orjson writes up to unsigned 64 bits."""
    for number, line in enumerate(chunk.lines.splitlines()):
        if numbers.may_hold_long_integer(line):
            found = numbers.out_of_range(orjson.loads(line))
            if found is not None:
                raise _out_of_range(found, chunk.span.record_offset + number)


class _BadRecord(Exception):
    """A record that cannot be staged; the reader says where it is in the file."""

    def __init__(self, index: int, message: str, **where: object) -> None:
        super().__init__(message)
        self.index = index
        self.message = message
        self.where = where


def _out_of_range(found: numbers.NumberOutOfRange, index: int) -> _BadRecord:
    field = found.path or None
    return _BadRecord(index, f"record {index}: {found}", field=field, value=found.text)


def stage_file(
    path: Path,
    reader: Reader,
    limits: ChunkLimits,
    staged: Path,
    index: Path,
    checkpoint: Callable[[], None] | None = None,
) -> Staged:
    """Open the claimed file safely (no links, no FIFOs) and stage it; the staged file's and
    the index's names are durable when this returns, before any journal vouches for them."""
    fd, _ = durable.open_regular(path)
    try:
        result = stage(fd, reader, limits, staged, index, checkpoint)
    finally:
        os.close(fd)
    durable.fsync_dir(staged.parent)
    return result


def private_mode(dropped_mode: int) -> int:
    """Copies of a file's data are never readable by more users than the dropped file, and
    never by others at all."""
    return dropped_mode & 0o640


def _create(path: Path, mode: int) -> BinaryIO:
    durable.unlink_quietly(path)  # a leftover of an interrupted pass may have another mode
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, mode)
    return open(fd, "wb", buffering=_BUFFER)


def _canonical(record: object, index: int) -> bytes:
    if type(record) is CanonicalRecord:
        return record
    if not isinstance(record, dict):
        raise _BadRecord(index, f"record {index} is {_kind(record)}, not an object")
    try:
        return canonical(record)
    except orjson.JSONEncodeError as exc:
        found = numbers.out_of_range(record)
        if found is not None:
            raise _out_of_range(found, index) from None
        raise _BadRecord(index, f"record {index} cannot be sent as JSON: {exc}") from None


def _kind(value: object) -> str:
    names = {
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "a boolean",
        list: "an array",
    }
    return "null" if value is None else names.get(type(value), type(value).__name__)


def read_span(index: Path, number: int) -> ChunkSpan:
    fd = os.open(index, os.O_RDONLY | os.O_CLOEXEC)  # one pread: a buffered file took 7 syscalls
    try:
        data = os.pread(fd, ChunkSpan.SIZE, number * ChunkSpan.SIZE)
    finally:
        os.close(fd)
    if len(data) != ChunkSpan.SIZE:
        raise EOFError(f"chunk {number} is missing from the index")
    return ChunkSpan.unpack(data)


class _IndexWriter:
    def __init__(self, path: Path, mode: int) -> None:
        self._file = _create(path, mode)
        self._hash = hashlib.sha256()
        self.count = 0

    def add(self, span: ChunkSpan) -> None:
        packed = span.pack()
        self._file.write(packed)
        self._hash.update(packed)
        self.count += 1

    def sha256(self) -> str:
        return self._hash.hexdigest()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            durable.fsync_file(self._file)
        self._file.close()
