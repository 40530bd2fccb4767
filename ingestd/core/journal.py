"""The journal: one per claimed file, an append-only list of JSON lines.

Line 1 is `begin`: the ingestion's identity, written once staging is complete and before the
first send. Each acknowledged chunk appends `ack`, with its record range; a receiver that lost
state and asks for an earlier chunk appends `rewind`; the acknowledged completion appends
`completed`.

Which records chunk n holds is fixed the first time it is sent, and then never changes (a
receiver deduplicates resends by chunk number): it is the rest of the staged chunk (the index's
span) that holds its first record, unless the receiver asked for smaller chunks; such a chunk
is recorded by a `sent` line before it is sent. So the journal alone says what every chunk ever
sent held, and resume and rewinds send exactly those again. A `sent` line may replace one for a
chunk the receiver never acknowledged (it answered 413: the chunk is sent with half the
records).

Every line is flushed with fsync before the daemon acts on it, so a crash can only tear the last
line, which `replay` ignores (`valid_length` tells where to cut before appending again). Any
other damage raises JournalCorrupt: progress is never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import orjson

from ingestd.errors import JournalCorrupt

JOURNAL_VERSION = 1


@dataclass(frozen=True)
class Begin:
    ingestion_id: str
    inbox: str
    file_name: str
    file_type: str
    file_size: int
    file_sha256: str
    claim_token: str
    claimed_at: str
    chunk_records: int
    chunk_bytes: int
    protocol: int
    staged_size: int
    index_sha256: str
    chunk_count: int
    total_records: int
    sheet: str | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    journal_version: int = JOURNAL_VERSION
    type: str = field(default="begin", init=False)


@dataclass(frozen=True)
class Range:
    """The records of one chunk as sent: where they start, how many, their checksum."""

    record_offset: int
    record_count: int
    checksum: str

    @property
    def end(self) -> int:
        return self.record_offset + self.record_count


@dataclass(frozen=True)
class Sent:
    """A chunk about to be sent with other records than the rest of its staged span."""

    chunk_number: int
    record_offset: int
    record_count: int
    checksum: str
    at: str
    type: str = field(default="sent", init=False)

    @classmethod
    def of(cls, chunk_number: int, sent: Range, at: str) -> Sent:
        return cls(chunk_number, sent.record_offset, sent.record_count, sent.checksum, at)

    @property
    def range(self) -> Range:
        return Range(self.record_offset, self.record_count, self.checksum)


@dataclass(frozen=True)
class Ack:
    chunk_number: int
    record_offset: int
    record_count: int
    checksum: str
    at: str
    type: str = field(default="ack", init=False)

    @classmethod
    def of(cls, chunk_number: int, sent: Range, at: str) -> Ack:
        return cls(chunk_number, sent.record_offset, sent.record_count, sent.checksum, at)

    @property
    def range(self) -> Range:
        return Range(self.record_offset, self.record_count, self.checksum)


@dataclass(frozen=True)
class Rewind:
    to_chunk: int
    reason: str
    at: str
    type: str = field(default="rewind", init=False)


@dataclass(frozen=True)
class Completed:
    chunk_count: int
    total_records: int
    at: str
    type: str = field(default="completed", init=False)


Entry = Begin | Sent | Ack | Rewind | Completed
_TYPES: dict[str, type[Any]] = {
    "begin": Begin,
    "sent": Sent,
    "ack": Ack,
    "rewind": Rewind,
    "completed": Completed,
}


_FIELDS = {kind: tuple(f.name for f in fields(kind)) for kind in _TYPES.values()}


def encode(entry: Entry) -> bytes:
    """One line, its keys in field order. Not dataclasses.asdict: it deep-copies every value,
    which took a twentieth of the daemon's time per small file."""
    return orjson.dumps({name: getattr(entry, name) for name in _FIELDS[type(entry)]}) + b"\n"


MAX_REWINDS_WITHOUT_PROGRESS = 3
"""Rewinds allowed in a row while the receiver acknowledges nothing beyond the furthest chunk
it ever had: a receiver that keeps losing its state would otherwise be fed the file forever."""


@dataclass
class JournalState:
    """What a journal says: who the ingestion is, and where to go on."""

    begin: Begin
    next_chunk: int = 0
    last_ack_at: str | None = None
    completed: bool = False
    valid_length: int = 0
    torn_tail: bool = False
    high_water: int = 0  # the most chunks ever acknowledged at once
    rewinds: int = 0
    rewinds_without_progress: int = 0  # since high_water last rose
    ranges: list[Range] = field(default_factory=list)  # of each chunk number sent so far

    @property
    def next_record(self) -> int:
        """The first record not in any chunk whose range is fixed."""
        return self.ranges[-1].end if self.ranges else 0

    @property
    def all_sent(self) -> bool:
        """Every record is in a chunk before next_chunk: the completion is next."""
        return self.next_chunk == len(self.ranges) and self.next_record == self.begin.total_records

    @property
    def records_acknowledged(self) -> int:
        return self.ranges[self.next_chunk - 1].end if self.next_chunk else 0

    @property
    def chunks_sent(self) -> int:
        return len(self.ranges)

    def rewind_refused(self) -> str | None:
        """Why one more rewind must not happen, if it must not."""
        if self.rewinds_without_progress < MAX_REWINDS_WITHOUT_PROGRESS:
            return None
        return (
            f"the receiver lost its state {self.rewinds_without_progress + 1} times in a row "
            f"without ever acknowledging more than chunks 0 to {self.high_water - 1}"
        )


def replay(data: bytes) -> JournalState:
    """Rebuild the state from a journal's bytes, tolerating only a torn last line."""
    lines = data.split(b"\n")
    tail = lines.pop()  # after the last newline: b"" unless the last append was torn
    entries = [_decode(line, number) for number, line in enumerate(lines, start=1)]
    if not entries:
        raise JournalCorrupt("the journal has no complete begin entry", journal_line=1)
    state = _start(entries[0])
    for number, entry in enumerate(entries[1:], start=2):
        advance(state, entry, number)
    state.valid_length = len(data) - len(tail)
    state.torn_tail = bool(tail)
    return state


def _decode(line: bytes, number: int) -> Entry:
    try:
        raw = orjson.loads(line)
        kind = _TYPES[raw.pop("type")]
        return kind(**raw)  # type: ignore[no-any-return]
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise JournalCorrupt(
            f"journal line {number} is damaged: {exc}", journal_line=number
        ) from exc


def _start(entry: Entry) -> JournalState:
    if not isinstance(entry, Begin):
        raise JournalCorrupt("the journal does not start with a begin entry", journal_line=1)
    if entry.journal_version != JOURNAL_VERSION:
        raise JournalCorrupt(
            f"journal version {entry.journal_version} is not {JOURNAL_VERSION}", journal_line=1
        )
    return JournalState(begin=entry)


def advance(state: JournalState, entry: Entry, number: int = 0) -> None:
    """Apply one entry after begin to the state; raises JournalCorrupt on an impossible step."""
    if state.completed:
        raise JournalCorrupt("the journal goes on after its completion", journal_line=number)
    if isinstance(entry, Sent):
        _fix_range(state, entry.chunk_number, entry.range, number, replace=True)
    elif isinstance(entry, Ack):
        _fix_range(state, entry.chunk_number, entry.range, number, replace=False)
        state.next_chunk += 1
        state.last_ack_at = entry.at
        if state.next_chunk > state.high_water:
            state.high_water = state.next_chunk
            state.rewinds_without_progress = 0
    elif isinstance(entry, Rewind):
        if entry.to_chunk > state.next_chunk:
            raise JournalCorrupt(f"rewind forward to chunk {entry.to_chunk}", journal_line=number)
        state.next_chunk = entry.to_chunk
        state.rewinds += 1
        state.rewinds_without_progress += 1
    elif isinstance(entry, Completed):
        if not state.all_sent or entry.chunk_count != len(state.ranges):
            raise JournalCorrupt("completion recorded before every chunk", journal_line=number)
        state.completed = True
    else:
        raise JournalCorrupt("a second begin entry", journal_line=number)


def _fix_range(state: JournalState, chunk: int, sent: Range, line: int, replace: bool) -> None:
    """Chunk `chunk` (the next to send) holds `sent`: the first time, it must start where the
    chunk before it ended; after that, only a `sent` line may change it, and only while the
    receiver has never acknowledged it."""
    if chunk != state.next_chunk:
        raise JournalCorrupt(
            f"chunk {chunk} recorded where chunk {state.next_chunk} was next", journal_line=line
        )
    start = state.ranges[chunk - 1].end if chunk else 0
    if sent.record_offset != start or sent.record_count < 1:
        raise JournalCorrupt(f"chunk {chunk} does not start at record {start}", journal_line=line)
    if sent.end > state.begin.total_records:
        raise JournalCorrupt(f"chunk {chunk} goes past the last record", journal_line=line)
    if chunk == len(state.ranges):
        state.ranges.append(sent)
    elif replace and chunk >= state.high_water:
        del state.ranges[chunk:]
        state.ranges.append(sent)
    elif state.ranges[chunk] != sent:
        raise JournalCorrupt(f"chunk {chunk} changed after it was acknowledged", journal_line=line)
