"""One claimed file from its claim to done/ or failed/: the only place that decides a file's fate.

A worker runs it in two phases, `prepare` (stage the file, or find where an earlier run got to)
and `deliver` (send what is left, then finish), so that it can start staging its next file in
between; `run` does both. Steps, and what recovery does after a crash at each (the full table:
docs/recovery.md):
  claimed      work/<token>/<name> exists, no journal  -> stage again from the claimed file
  staged       staged file and index fsynced           -> (no journal yet) stage again
  begun        journal with begin; index sealed         -> send from chunk 0
               (for a file staged ahead, the parser process stages and begins it)
  chunk k sent, not acknowledged                        -> send chunk k again
  chunk k acknowledged and recorded                     -> send chunk k+1
  completion acknowledged and recorded                  -> move to done/
  report written (failure)                              -> move to failed/
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any, Self

import structlog

from ingestd.clock import Clock, iso
from ingestd.core import protocol
from ingestd.core.backpressure import Hints, halved
from ingestd.core.chunking import ChunkLimits, ChunkSpan, checksum, record_lines, records_array
from ingestd.core.journal import Ack, Begin, Completed, JournalState, Range, Rewind, Sent
from ingestd.core.names import printable_name
from ingestd.core.outcome import Outcome
from ingestd.errors import (
    FileFailed,
    InternalError,
    Interrupted,
    JournalCorrupt,
    ReceiverLostState,
    ReceiverRejected,
    RecordTooLarge,
    WorkDamaged,
)
from ingestd.failpoints import Failpoints
from ingestd.fs.claim import ClaimFolder, StagedChunks
from ingestd.fs.journal import JournalFile
from ingestd.fs.spool import Spool
from ingestd.pipeline.delivery import Delivery, Payload
from ingestd.pipeline.progress import Progress
from ingestd.pipeline.staging import Opening, Stager, StageRequest, begin_of
from ingestd.readers import Reader

log = structlog.get_logger("ingestd.pipeline.ingest")

REWIND_REQUESTED = "receiver answered Out-of-order chunk"
REWIND_LOST_STATE = "receiver lost its state: Out-of-order chunk without a usable expected_chunk"


class Ingestion:
    def __init__(
        self,
        claim: ClaimFolder,
        inbox: str,
        reader: Reader,
        limits: ChunkLimits,
        stager: Stager,
        delivery: Delivery,
        spool: Spool,
        progress: Progress,
        clock: Clock,
        stop: threading.Event,
        failpoints: Failpoints,
        redact: Callable[[str], str] = str,
    ) -> None:
        self.claim = claim
        self._inbox = inbox
        self._request = StageRequest(claim, reader, limits)
        self._stager = stager
        self._delivery = delivery
        self._spool = spool
        self._progress = progress
        self._clock = clock
        self._stop = stop
        self._failpoints = failpoints
        self._redact = redact
        self.journal: JournalFile | None = None
        self.acknowledged = 0  # chunks acknowledged by this run
        self.log = log.bind(inbox=inbox, file=printable_name(claim.name), claim=claim.token)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self._close_journal()

    def run(self) -> Outcome:
        """Take the file as far as it goes: DONE, FAILED, or raise Interrupted/Transient."""
        return self.prepare() or self.deliver()

    def prepare(self) -> Outcome | None:
        """Stage the file, or open the journal an earlier run left; an outcome if the file's
        fate is decided already (it failed, or its folder went)."""
        self._progress.claimed(self.claim.token, self.claim.name)
        if not self.claim.exists():
            return self._moved_before()
        if not self.claim.durable:
            self.claim.make_durable()
        return self._deciding(self._prepare)

    def deliver(self) -> Outcome:
        """Send what the receiver does not have yet, the completion, then move to done/."""
        return self._deciding(self._deliver) or Outcome.DONE

    @property
    def chunk_count(self) -> int:
        return self.journal.state.begin.chunk_count if self.journal else 0

    def _deciding(self, step: Callable[[], Outcome | None]) -> Outcome | None:
        """Run a step; a FileFailed it raises is the file's fate: reported, moved to failed/."""
        try:
            return step()
        except FileFailed as failure:
            self._report(failure)
            return self._move(Outcome.FAILED)

    # -- preparing ---------------------------------------------------------------------------

    def _prepare(self) -> Outcome | None:
        if self._stager.holds(self._request):  # staged ahead: the folder may be changing
            self.journal = self._stage()
        elif self.claim.has_report():
            return self._move(Outcome.FAILED)
        elif self.claim.has_journal():
            self._resume()
        elif self.claim.was_sent():
            raise JournalCorrupt(
                "the journal is missing although this file was already being sent; starting "
                "again from chunk 0 could store its records twice"
            )
        else:
            self.journal = self._stage()
        assert self.journal is not None
        state = self.journal.state
        self._progress.begun(
            self.claim.token, state.begin, state.next_chunk, state.records_acknowledged
        )
        return None

    def _resume(self) -> None:
        self.journal = self.claim.open_journal()
        state = self.journal.state
        self.log = self.log.bind(ingestion_id=state.begin.ingestion_id)
        if not state.completed:
            self.claim.seal_index()
            self.claim.check_against(state.begin)
        self.log.info("resuming", next_chunk=state.next_chunk)

    def _stage(self) -> JournalFile:
        started = self._clock.monotonic()
        staged = self._stager.stage(self._request, self._checkpoint)
        if staged.begin is None:
            self._failpoints.reached("staged")
            begin = begin_of(self._request, staged, Opening(self._inbox, self._now()))
            journal = self.claim.create_journal(begin)
        else:  # staged ahead: the parser process created the journal too
            begin, journal = staged.begin, self.claim.open_journal()
        self._failpoints.reached("journal_created")
        self.claim.seal_index()
        self.log = self.log.bind(ingestion_id=begin.ingestion_id)
        self.log.info(
            "validated and staged",
            records=staged.total_records,
            chunks=staged.chunk_count,
            bytes=staged.file_size,
            seconds=round(self._clock.monotonic() - started, 3),
            sheet=staged.details.sheet,
            begun_ahead=staged.begin is not None or None,
            **staged.details.notes,
        )
        if "read_twice" in staged.details.notes:
            self._progress.read_twice(self._request.reader.file_type)
            self.log.warning(
                "the fast reader declined this file: read again by the reference reader (slower)",
                reason=staged.details.notes["read_twice"],
            )
        return journal

    def _checkpoint(self) -> None:
        """Called now and then in long steps: show we are alive, and stop if asked to."""
        self._progress.beat()
        if self._stop.is_set():
            raise Interrupted()

    # -- sending -----------------------------------------------------------------------------

    def _deliver(self) -> Outcome | None:
        assert self.journal is not None
        state = self.journal.state
        if not state.completed:
            with self.claim.chunks() as chunks:
                while not state.completed:
                    if state.all_sent:
                        self._send_completion(state)
                    else:
                        self._send_chunk(chunks, state)
        return self._move(Outcome.DONE)

    def _send_chunk(self, chunks: StagedChunks, state: JournalState) -> None:
        assert self.journal is not None
        begin, number = state.begin, state.next_chunk
        sent, records = self._next_chunk(chunks, state)
        is_last = sent.end == begin.total_records
        body = protocol.chunk_body(
            begin.ingestion_id, number, sent, records, is_last, _source(begin)
        )
        sent_at = self._clock.monotonic()
        payload = Payload(body, begin.ingestion_id, number, records=sent.record_count)
        decision = self._delivery.send(payload, self.claim, self.log)
        if isinstance(decision, protocol.RewindTo):
            self._rewind(decision, number)
            return
        if isinstance(decision, protocol.TooLarge):
            self._smaller(chunks, state, sent, records, decision)
            return
        self._failpoints.reached("chunk_acknowledged")
        self.journal.append(Ack.of(number, sent, self._now()))
        self._failpoints.reached("ack_recorded")
        self.acknowledged += 1
        rtt = self._clock.monotonic() - sent_at
        self._progress.acked(self.claim.token, sent.record_count, rtt)
        self.log.info(
            "chunk acknowledged",
            chunk_number=number,
            records=sent.record_count,
            record_offset=sent.record_offset,
            of_records=begin.total_records,
            duplicate=decision.duplicate or None,
        )

    def _next_chunk(self, chunks: StagedChunks, state: JournalState) -> tuple[Range, bytes]:
        """The records chunk `next_chunk` holds: the range it was first sent with, or, the
        first time, the rest of the staged chunk, as few as the receiver's hints ask; a range
        that is not the rest of its staged chunk is journaled before it is sent."""
        assert self.journal is not None
        number = state.next_chunk
        if number < state.chunks_sent:
            sent = state.ranges[number]
            taken, records, _ = self._take(chunks, state, sent.record_offset, sent.record_count)
            if taken != sent:
                raise WorkDamaged(f"the staged records do not match chunk {number} as sent")
            return sent, records
        sent, records, rest = self._take(chunks, state, state.next_record, None)
        if not rest:
            self.journal.append(Sent.of(number, sent, self._now()))
        return sent, records

    def _take(
        self, chunks: StagedChunks, state: JournalState, start: int, count: int | None
    ) -> tuple[Range, bytes, bool]:
        """`count` records from record `start` on, within the staged chunk that holds it (None:
        as many as the receiver's hints allow), their records array, and whether they are the
        rest of that staged chunk."""
        span = chunks.span_holding(start, state.begin.chunk_count)
        lines, array = self._verified(chunks, span)
        rest = span.record_offset + span.record_count - start
        if count is None and self._delivery.hints == Hints():
            count = rest
        if start == span.record_offset and count == span.record_count:
            return Range(start, count, span.checksum), array, True
        ahead = record_lines(lines)[start - span.record_offset :]
        if count is None:
            count = self._delivery.hints.records_for([len(line) for line in ahead])
        records = b"[" + b",".join(ahead[:count]) + b"]"
        return Range(start, min(count, len(ahead)), checksum(records)), records, count == rest

    def _verified(self, chunks: StagedChunks, span: ChunkSpan) -> tuple[bytes, bytes]:
        """The staged chunk's lines and its records array, checked against its checksum."""
        lines = chunks.lines(span)
        array = records_array(lines)
        if checksum(array) != span.checksum:
            raise WorkDamaged(f"the staged data of chunk {span.number} does not match its checksum")
        return lines, array

    def _smaller(
        self,
        chunks: StagedChunks,
        state: JournalState,
        sent: Range,
        records: bytes,
        decision: protocol.TooLarge,
    ) -> None:
        """413: the same chunk number again, with half the records; one record refused fails
        the file, naming it."""
        assert self.journal is not None
        number = state.next_chunk
        where = {"http_status": decision.status, "receiver_answer": decision.answer}
        if sent.record_count == 1:
            raise RecordTooLarge(
                f"the receiver refuses record {sent.record_offset} alone as too large (HTTP "
                f"413): it is {len(records) - 2} bytes as JSON",
                record_index=sent.record_offset,
                record_bytes=len(records) - 2,
                chunk_number=number,
                **where,
            )
        if number < state.high_water:
            raise ReceiverRejected(
                f"the receiver refused chunk {number} as too large (HTTP 413) after it had "
                "acknowledged it: a chunk it has must keep its records",
                chunk_number=number,
                **where,
            )
        count = halved(sent.record_count)
        smaller, _, _ = self._take(chunks, state, sent.record_offset, count)
        self._delivery.shrink(count)
        self.log.warning(
            "the receiver refused a chunk as too large (HTTP 413): sending half its records",
            chunk_number=number,
            records=sent.record_count,
            now=count,
        )
        self.journal.append(Sent.of(number, smaller, self._now()))

    def _send_completion(self, state: JournalState) -> None:
        begin = state.begin
        chunk_count = state.chunks_sent
        body = protocol.completion_body(
            begin.ingestion_id,
            chunk_count,
            begin.total_records,
            begin.file_sha256,
            _source(begin),
        )
        payload = Payload(body, begin.ingestion_id, chunk_count - 1, completion=True)
        decision = self._delivery.send(payload, self.claim, self.log)
        assert self.journal is not None
        if isinstance(decision, protocol.RewindTo):
            self._rewind(decision, chunk_count)
            return
        if isinstance(decision, protocol.TooLarge):  # never for a completion: classify says so
            raise ReceiverRejected("the receiver refused the completion as too large")
        self._failpoints.reached("completion_acknowledged")
        self.journal.append(Completed(chunk_count, begin.total_records, self._now()))
        self._failpoints.reached("completion_recorded")
        self._progress.acked(self.claim.token, 0, 0.0, completion=True)
        self.log.info("completion acknowledged", records=begin.total_records, chunks=chunk_count)

    def _rewind(self, decision: protocol.RewindTo, refused: int) -> None:
        """Send again from an earlier chunk, as the receiver's refusal asks; the same ingestion,
        the same boundaries and checksums, so what it still has it acknowledges as duplicates."""
        assert self.journal is not None
        state = self.journal.state
        refusal = state.rewind_refused()
        if refusal is not None:
            raise ReceiverLostState(refusal, chunk_number=refused, rewinds=state.rewinds)
        to_chunk = decision.chunk_number
        if decision.lost_state:
            reason = REWIND_LOST_STATE
            event = "the receiver lost its state: sending this ingestion again from chunk 0"
        else:
            reason = REWIND_REQUESTED
            event = "receiver asked to resend from an earlier chunk"
        self.log.warning(
            event,
            refused_chunk=refused,
            expected_chunk=to_chunk,
            acknowledged_before=state.next_chunk,
            rewind=state.rewinds + 1,
        )
        self.journal.append(Rewind(to_chunk, reason, self._now()))
        self._progress.rewound(
            self.claim.token, to_chunk, state.records_acknowledged, decision.lost_state
        )

    # -- finishing ---------------------------------------------------------------------------

    def give_up(self, error: BaseException, attempts: int) -> Outcome:
        """Fail the file after `attempts` unexpected errors in a row (a bug, not the file's
        fault), with the last one and its traceback in the report, so the inbox goes on."""
        failure = InternalError(
            self._redact(
                f"{attempts} unexpected errors in a row on this file, the last: "
                f"{type(error).__name__}: {error}"
            ),
            exception=type(error).__name__,
            traceback=self._redact("".join(traceback.format_exception(error))),
        )
        self._close_journal()
        if self.claim.has_journal():
            try:
                self.journal = self.claim.open_journal()
            except FileFailed:
                self.journal = None
        self._report(failure)
        return self._move(Outcome.FAILED)

    def _report(self, failure: FileFailed) -> None:
        state = self.journal.state if self.journal else None
        report: dict[str, Any] = {
            "file": printable_name(self.claim.name),
            "inbox": self._inbox,
            "ingestion_id": state.begin.ingestion_id if state else None,
            "failed_at": self._now(),
            "reason": failure.kind,
            "error": failure.message,
            "where": failure.where,
            "chunks_acknowledged": state.next_chunk if state else 0,
            "records_acknowledged": self._records_acknowledged(state),
            "rewinds": state.rewinds if state else 0,
            "notes": state.begin.notes if state else {},
            "what_to_do": failure.advice,
        }
        self.log.error("file failed", reason=failure.kind, error=failure.message, **failure.where)
        self.claim.write_report(report)
        self._failpoints.reached("report_written")

    def _move(self, outcome: Outcome) -> Outcome:
        self._close_journal()
        target = self._spool.finish(self.claim, outcome, self._clock.now())
        self._progress.finished(self.claim.token, outcome)
        self.log.info("file finished", outcome=outcome, moved_to=printable_name(str(target)))
        return outcome

    def _moved_before(self) -> Outcome:
        """A retry after a finish whose rename happened but whose fsyncs failed."""
        found = self._spool.finished_already(self.claim)
        outcome = found[0] if found else Outcome.VANISHED
        if found is None:
            self.log.error("the claim folder disappeared from work/ and is not in done/ or failed/")
        self._progress.finished(self.claim.token, outcome)
        return outcome

    def _close_journal(self) -> None:
        if self.journal is not None:
            self.journal.close()
            self.journal = None

    def _records_acknowledged(self, state: JournalState | None) -> int:
        return state.records_acknowledged if state is not None else 0

    def _now(self) -> str:
        return iso(self._clock.now())


def _source(begin: Begin) -> protocol.Source:
    return protocol.Source(begin.inbox, begin.file_name, begin.file_type, begin.sheet)
