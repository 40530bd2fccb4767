"""The validation pass: read the whole claimed file once, check every record, and stage it.

The staged file holds one canonical record per line; the index holds one fixed-size entry per
chunk (record range, byte range, checksum). Both are fsynced before the journal's begin entry
is written, and nothing is sent before that, so a malformed file never reaches the receiver.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import BinaryIO, Protocol, Self

import orjson

from ingestd.core import numbers, protocol
from ingestd.core.chunking import (
    Chunk,
    ChunkLimits,
    ChunkPlanner,
    ChunkSpan,
    canonical,
    canonical_lines,
)
from ingestd.core.journal import Begin
from ingestd.core.names import printable_name
from ingestd.errors import InvalidInput, SpoolIOError
from ingestd.fs.claim import ClaimFolder, private_mode
from ingestd.fs.durable import Disk
from ingestd.gcpause import gc_paused
from ingestd.readers import CanonicalBatch, Declined, ReadDetails, Reader, Reread, SourceStream

_CHECKPOINT_EVERY = 1024
_SINGLES = 256
_READINGS = 3  # a reading, one more that learned what to rename, and a spare

Checkpoint = Callable[[], None]
"""Called now and then in a long reading: may raise Interrupted, or end a process."""


@dataclass(frozen=True)
class Opening:
    """What the journal's begin entry needs beside the staging's results."""

    inbox: str
    claimed_at: str


@dataclass(frozen=True)
class StageRequest:
    """What to stage: a claim's file, read by a reader, cut into chunks under limits. Two
    requests for the same claim, reader and limits are the same work. With an `opening`, the
    staging also begins the ingestion: it creates the journal and seals the index (a file
    staged ahead, so that its worker, busy sending the one before, does not wait for them)."""

    claim: ClaimFolder
    reader: Reader
    limits: ChunkLimits
    opening: Opening | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Staged:
    file_size: int
    file_sha256: str
    total_records: int
    chunk_count: int
    staged_size: int
    index_sha256: str
    details: ReadDetails
    begin: Begin | None = None  # the journal's, if this staging created it


def begin_of(request: StageRequest, staged: Staged, opening: Opening) -> Begin:
    """The journal's first entry for a staged file."""
    claim, name = request.claim, printable_name(request.claim.name)
    return Begin(
        ingestion_id=protocol.ingestion_id(
            opening.inbox, name, staged.file_size, staged.file_sha256, claim.token
        ),
        inbox=opening.inbox,
        file_name=name,
        file_type=request.reader.file_type,
        file_size=staged.file_size,
        file_sha256=staged.file_sha256,
        claim_token=claim.token,
        claimed_at=opening.claimed_at,
        chunk_records=request.limits.records,
        chunk_bytes=request.limits.bytes,
        protocol=protocol.PROTOCOL_VERSION,
        staged_size=staged.staged_size,
        index_sha256=staged.index_sha256,
        chunk_count=staged.chunk_count,
        total_records=staged.total_records,
        sheet=staged.details.sheet,
        notes=staged.details.notes,
    )


class Stager(Protocol):
    """Runs the validation pass: in a parser process of its own (pipeline/isolation.py), or in
    this one (InProcess)."""

    def stage(self, request: StageRequest, checkpoint: Checkpoint) -> Staged:
        """Stage the claim's file, or raise the FileFailed that says why it cannot be."""

    def stage_ahead(self, request: StageRequest) -> None:
        """Start on `request` now; a later `stage` of the same request takes its result."""

    def holds(self, request: StageRequest) -> bool:
        """Whether `request` was started ahead and its result is not taken yet."""

    def close(self) -> None: ...


class InProcess:
    """Staging in the calling thread: for tests, and wherever isolation is not wanted."""

    def stage(self, request: StageRequest, checkpoint: Checkpoint) -> Staged:
        return stage(request, checkpoint)

    def stage_ahead(self, request: StageRequest) -> None:
        pass  # nothing runs beside the caller

    def holds(self, request: StageRequest) -> bool:
        return False

    def close(self) -> None:
        pass


def stage(request: StageRequest, checkpoint: Checkpoint | None = None) -> Staged:
    """Validate and stage a claim's file: the staged records and the chunk index written and
    fsynced, their names durable, before any journal vouches for them; then, for a request with
    an opening, the journal and the sealed index. Raises the FileFailed that says what and where
    (InvalidInput, UnsafeFile), or SpoolIOError."""
    claim = request.claim
    fd, info = claim.open_data()
    try:
        if info.st_size == 0:
            raise InvalidInput(
                "the file is empty (0 bytes): an empty export is not an empty catalog"
            )
        outputs = _Outputs(claim, private_mode(info.st_mode))
        result = _stage(fd, request.reader, request.limits, outputs, checkpoint)
    except OSError as exc:
        raise SpoolIOError(f"validation could not write to work/: {exc.strerror}") from exc
    finally:
        os.close(fd)
    claim.staged_durably()
    if request.opening is None:
        return result
    if checkpoint is not None:
        checkpoint()  # not begun by a parser whose daemon is gone
    begin = begin_of(request, result, request.opening)
    claim.create_journal(begin).close()
    claim.seal_index()
    return replace(result, begin=begin)


@gc_paused()
def _stage(
    fd: int, reader: Reader, limits: ChunkLimits, outputs: _Outputs, checkpoint: Checkpoint | None
) -> Staged:
    """The reader's fast variant goes first. If it declines, or the file turns out bad, the
    reference reader runs from the start: only it decides that a file is bad, and how to say so.
    """
    if reader.fast is None:
        return _passes(fd, reader, limits, outputs, checkpoint)
    try:
        return _passes(fd, reader.fast, limits, outputs, checkpoint)
    except (Declined, InvalidInput) as declined:
        reason = declined.message if isinstance(declined, InvalidInput) else str(declined)
    result = _passes(fd, reader, limits, outputs, checkpoint)
    result.details.notes["read_twice"] = reason  # logged and kept in the receipt: why it was slow
    return result


def _passes(
    fd: int, reader: Reader, limits: ChunkLimits, outputs: _Outputs, checkpoint: Checkpoint | None
) -> Staged:
    """One reading, or a few when the reader learns what it must read again for (Reread)."""
    details = ReadDetails()
    for _ in range(_READINGS):
        try:
            return _read(fd, reader, limits, outputs, checkpoint, details)
        except Reread:
            continue  # with what the reading noted in `details`
    raise InvalidInput(f"the file could not be read in {_READINGS} passes")


def _read(
    fd: int,
    reader: Reader,
    limits: ChunkLimits,
    outputs: _Outputs,
    checkpoint: Checkpoint | None,
    details: ReadDetails,
) -> Staged:
    stream = SourceStream(fd)
    planner = ChunkPlanner(limits)
    try:
        with outputs.staged() as out, outputs.index() as spans:
            singles = _Singles(planner, out, spans)
            total = 0
            try:
                for record in reader.records(stream, details):
                    if type(record) is CanonicalBatch:
                        singles.flush()
                        for chunk in planner.add_many(record):
                            _write(chunk, out, spans, integers_checked=not singles.seen)
                        total += len(record)
                        if checkpoint is not None:
                            checkpoint()
                        continue
                    singles.add(record, total)
                    total += 1
                    if checkpoint is not None and total % _CHECKPOINT_EVERY == 0:
                        checkpoint()
            except (InvalidInput, Declined, Reread):
                singles.flush()  # a bad record before where the reader stopped is told first
                raise
            singles.flush()
            stream.drain()
            _write(planner.finish(), out, spans)
            outputs.disk.fsync_file(out)
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


class _Outputs:
    """Where a reading writes: the claim's staged file and index, with the data's mode."""

    def __init__(self, claim: ClaimFolder, mode: int) -> None:
        self._claim = claim
        self._mode = mode
        self.disk: Disk = claim.disk

    def staged(self) -> BinaryIO:
        return self._claim.create_staged(self._mode)

    def index(self) -> _IndexWriter:
        return _IndexWriter(self._claim.create_index(self._mode), self.disk)


class _Singles:
    """Records handed over one by one, serialized _SINGLES at a time by one orjson call
    (canonical_lines; about a third less CPU than a call each), or one by one to find the
    record that cannot be. `seen` once any came: their chunks are searched for integers beyond
    64 bits (_write), which orjson writes up to unsigned 64 bits."""

    def __init__(self, planner: ChunkPlanner, out: BinaryIO, spans: _IndexWriter) -> None:
        self._planner = planner
        self._out = out
        self._spans = spans
        self._records: list[object] = []
        self._first = 0
        self.seen = False

    def add(self, record: object, index: int) -> None:
        if not self._records:
            self._first, self.seen = index, True
        self._records.append(record)
        if len(self._records) == _SINGLES:
            self.flush()

    def flush(self) -> None:
        records, self._records = self._records, []
        if records:
            for chunk in self._planner.add_many(self._lines(records)):
                _write(chunk, self._out, self._spans)

    def _lines(self, records: list[object]) -> list[bytes]:
        if all(type(record) is dict for record in records):
            try:
                return canonical_lines(records)
            except orjson.JSONEncodeError:
                pass  # one of them cannot be written: find which
        return [_canonical(record, self._first + n) for n, record in enumerate(records)]


def _write(
    chunk: Chunk | None, out: BinaryIO, spans: _IndexWriter, integers_checked: bool = False
) -> None:
    if chunk is None:
        return
    if not integers_checked and numbers.may_hold_long_integer(chunk.lines):
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


def _canonical(record: object, index: int) -> bytes:
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


class _IndexWriter:
    def __init__(self, out: BinaryIO, disk: Disk) -> None:
        self._file = out
        self._disk = disk
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
        try:
            if exc[0] is None:
                self._disk.fsync_file(self._file)
        finally:
            self._file.close()
