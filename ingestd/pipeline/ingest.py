"""One claimed file from its claim to done/ or failed/: the only place that decides a file's fate.

A worker runs it in two phases, `prepare` (stage the file, or find where an earlier run got to)
and `deliver` (send what is left, then finish), so that it can start staging its next file in
between; `run` does both. Steps, and what recovery does after a crash at each (the full table:
docs/recovery.md):
  claimed      work/<token>/<name> exists, no journal  -> stage again from the claimed file
  staged       staged file and index fsynced           -> (no journal yet) stage again
  begun        journal with begin; index sealed         -> send from chunk 0
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
from ingestd.core.chunking import ChunkLimits, checksum, records_array
from ingestd.core.journal import Ack, Begin, Completed, JournalState, Rewind
from ingestd.core.names import printable_name
from ingestd.core.outcome import Outcome
from ingestd.errors import (
    FileFailed,
    InternalError,
    Interrupted,
    JournalCorrupt,
    ReceiverLostState,
    WorkDamaged,
)
from ingestd.failpoints import Failpoints
from ingestd.fs.claim import ClaimFolder, StagedChunks
from ingestd.fs.journal import JournalFile
from ingestd.fs.spool import Spool
from ingestd.pipeline.delivery import Delivery, Payload
from ingestd.pipeline.progress import Progress
from ingestd.pipeline.staging import Staged, Stager, StageRequest
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
        if self.claim.has_report():
            return self._move(Outcome.FAILED)
        if self.claim.has_journal():
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
        self._progress.begun(self.claim.token, state.begin, state.next_chunk)
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
        self._failpoints.reached("staged")
        begin = self._begin(staged)
        journal = self.claim.create_journal(begin)
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
            **staged.details.notes,
        )
        return journal

    def _begin(self, staged: Staged) -> Begin:
        name = printable_name(self.claim.name)
        return Begin(
            ingestion_id=protocol.ingestion_id(
                self._inbox, name, staged.file_size, staged.file_sha256, self.claim.token
            ),
            inbox=self._inbox,
            file_name=name,
            file_type=self._request.reader.file_type,
            file_size=staged.file_size,
            file_sha256=staged.file_sha256,
            claim_token=self.claim.token,
            claimed_at=iso(self._clock.now()),
            chunk_records=self._request.limits.records,
            chunk_bytes=self._request.limits.bytes,
            protocol=protocol.PROTOCOL_VERSION,
            staged_size=staged.staged_size,
            index_sha256=staged.index_sha256,
            chunk_count=staged.chunk_count,
            total_records=staged.total_records,
            sheet=staged.details.sheet,
            notes=staged.details.notes,
        )

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
                    if state.next_chunk < state.begin.chunk_count:
                        self._send_chunk(chunks, state)
                    else:
                        self._send_completion(state)
        return self._move(Outcome.DONE)

    def _send_chunk(self, chunks: StagedChunks, state: JournalState) -> None:
        begin = state.begin
        span = chunks.span(state.next_chunk)
        records = records_array(chunks.lines(span))
        if checksum(records) != span.checksum:
            raise WorkDamaged(f"the staged data of chunk {span.number} does not match its checksum")
        is_last = span.number == begin.chunk_count - 1
        body = protocol.chunk_body(begin.ingestion_id, span, records, is_last, _source(begin))
        sent_at = self._clock.monotonic()
        payload = Payload(body, begin.ingestion_id, span.number, records=span.record_count)
        decision = self._delivery.send(payload, self.claim, self.log)
        assert self.journal is not None
        if isinstance(decision, protocol.RewindTo):
            self._rewind(decision, span.number)
            return
        self._failpoints.reached("chunk_acknowledged")
        self.journal.append(
            Ack(span.number, span.record_offset, span.record_count, span.checksum, self._now())
        )
        self._failpoints.reached("ack_recorded")
        self.acknowledged += 1
        rtt = self._clock.monotonic() - sent_at
        self._progress.acked(self.claim.token, span.record_count, rtt)
        self.log.info(
            "chunk acknowledged",
            chunk_number=span.number,
            of=begin.chunk_count,
            records=span.record_count,
            duplicate=decision.duplicate or None,
        )

    def _send_completion(self, state: JournalState) -> None:
        begin = state.begin
        body = protocol.completion_body(
            begin.ingestion_id,
            begin.chunk_count,
            begin.total_records,
            begin.file_sha256,
            _source(begin),
        )
        payload = Payload(body, begin.ingestion_id, begin.chunk_count - 1, completion=True)
        decision = self._delivery.send(payload, self.claim, self.log)
        assert self.journal is not None
        if isinstance(decision, protocol.RewindTo):
            self._rewind(decision, begin.chunk_count)
            return
        self._failpoints.reached("completion_acknowledged")
        self.journal.append(Completed(begin.chunk_count, begin.total_records, self._now()))
        self._failpoints.reached("completion_recorded")
        self._progress.acked(self.claim.token, 0, 0.0, completion=True)
        self.log.info("completion acknowledged", records=begin.total_records)

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
        self._progress.rewound(self.claim.token, to_chunk, decision.lost_state)

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

    def _records_acknowledged(self, state: JournalState | None) -> int | None:
        if state is None or state.next_chunk == 0:
            return 0
        if state.next_chunk >= state.begin.chunk_count:
            return state.begin.total_records
        try:
            return self.claim.span(state.next_chunk).record_offset
        except WorkDamaged:
            return None

    def _now(self) -> str:
        return iso(self._clock.now())


def _source(begin: Begin) -> protocol.Source:
    return protocol.Source(begin.inbox, begin.file_name, begin.file_type, begin.sheet)
