"""One claimed file from its claim to done/ or failed/: the only place that decides a file's fate.

Steps, and what recovery does after a crash at each (the full table: docs/recovery.md):
  claimed      work/<token>/<name> exists, no journal  -> stage again from the claimed file
  staged       staged file and index fsynced           -> (no journal yet) stage again
  begun        journal with begin; index sealed         -> send from chunk 0
  chunk k sent, not acknowledged                        -> send chunk k again
  chunk k acknowledged and recorded                     -> send chunk k+1
  completion acknowledged and recorded                  -> move to done/
  report written (failure)                              -> move to failed/
"""

from __future__ import annotations

import os
import stat
import traceback
from typing import Any

import orjson
import structlog

from ingestd.core import protocol
from ingestd.core.chunking import ChunkSpan, checksum, records_array
from ingestd.core.journal import Ack, Begin, Completed, JournalState, Rewind
from ingestd.core.names import printable_name
from ingestd.errors import (
    FileFailed,
    InternalError,
    Interrupted,
    JournalCorrupt,
    ReceiverLostState,
    UnsafeFile,
    WorkDamaged,
)
from ingestd.fs import durable
from ingestd.fs.journal import JournalFile
from ingestd.fs.spool import Claim
from ingestd.pipeline.delivery import Delivery
from ingestd.pipeline.inbox_runtime import InboxRuntime, iso
from ingestd.pipeline.staging import private_mode, read_span
from ingestd.runtime import failpoints

log = structlog.get_logger("ingestd.pipeline.ingest")

REWIND_REQUESTED = "receiver answered Out-of-order chunk"
REWIND_LOST_STATE = "receiver lost its state: Out-of-order chunk without a usable expected_chunk"


class Ingestion:
    def __init__(self, claim: Claim, inbox: InboxRuntime) -> None:
        self.claim = claim
        self.inbox = inbox
        self.journal: JournalFile | None = None
        self._delivery: Delivery | None = None
        self.acknowledged = 0  # chunks acknowledged by this run
        self.log = log.bind(inbox=inbox.name, file=printable_name(claim.name), claim=claim.token)

    def run(self) -> str:
        """Take the file as far as it goes: 'done', 'failed', or raise Interrupted/Transient."""
        self.inbox.progress.claimed(self.claim.token, self.claim.name)
        if not self.claim.folder.exists():
            return self._moved_before()
        if not self.claim.synced:
            self.inbox.spool.sync_claim(self.claim)
        try:
            if self.claim.report.exists():
                return self._move("failed")
            self._open_or_stage()
            self._deliver_all()
            return self._move("done")
        except FileFailed as failure:
            self._report(failure)
            return self._move("failed")
        finally:
            if self.journal is not None:
                self.journal.close()

    # -- preparing ---------------------------------------------------------------------------

    def _open_or_stage(self) -> None:
        if not self.claim.journal.exists():
            if self.claim.chunks.exists():
                raise JournalCorrupt(
                    "the journal is missing although this file was already being sent; "
                    "starting again from chunk 0 could store its records twice"
                )
            self.journal = self._stage()
        else:
            self.journal = JournalFile.open(self.claim.journal)
            state = self.journal.state
            self.log = self.log.bind(ingestion_id=state.begin.ingestion_id)
            if not state.completed:
                self._seal_index()
                self._check_work_files(state.begin)
            self.log.info("resuming", next_chunk=state.next_chunk)
        state = self.journal.state
        self.inbox.progress.begun(self.claim.token, state.begin, state.next_chunk)

    def _stage(self) -> JournalFile:
        claim, inbox = self.claim, self.inbox
        reader = inbox.reader_for(claim.name)
        try:
            fd, _ = durable.open_regular(claim.data)
        except durable.NotRegular as exc:
            raise UnsafeFile(_unsafe_reason(exc.info)) from exc
        except OSError as exc:
            raise UnsafeFile(f"cannot open the claimed file safely: {exc.strerror}") from exc
        os.close(fd)
        started = inbox.clock.monotonic()
        staged = inbox.stager(
            claim.data, reader, inbox.limits, claim.staged, claim.index, self._checkpoint
        )
        failpoints.reached("staged")
        ingestion = protocol.ingestion_id(
            inbox.name,
            printable_name(claim.name),
            staged.file_size,
            staged.file_sha256,
            claim.token,
        )
        begin = Begin(
            ingestion_id=ingestion,
            inbox=inbox.name,
            file_name=printable_name(claim.name),
            file_type=reader.file_type,
            file_size=staged.file_size,
            file_sha256=staged.file_sha256,
            claim_token=claim.token,
            claimed_at=iso(inbox.clock.now()),
            chunk_records=inbox.limits.records,
            chunk_bytes=inbox.limits.bytes,
            protocol=protocol.PROTOCOL_VERSION,
            staged_size=staged.staged_size,
            index_sha256=staged.index_sha256,
            chunk_count=staged.chunk_count,
            total_records=staged.total_records,
            sheet=staged.details.sheet,
            notes=staged.details.notes,
        )
        journal = JournalFile.create(claim.journal, begin, self._private_mode())
        failpoints.reached("journal_created")
        self._seal_index()
        self.log = self.log.bind(ingestion_id=ingestion)
        self.log.info(
            "validated and staged",
            records=staged.total_records,
            chunks=staged.chunk_count,
            bytes=staged.file_size,
            seconds=round(inbox.clock.monotonic() - started, 3),
            sheet=staged.details.sheet,
            **staged.details.notes,
        )
        return journal

    def _seal_index(self) -> None:
        """Rename the index to .chunks once the journal exists (again, after a crash between)."""
        if self.claim.index.exists() and not self.claim.chunks.exists():
            durable.rename_noreplace(self.claim.index, self.claim.chunks)
            durable.fsync_dir(self.claim.folder)

    def _sender(self) -> Delivery:
        if self._delivery is None:
            assert self.journal is not None
            ingestion = self.journal.state.begin.ingestion_id
            self._delivery = Delivery(self.inbox, self.claim, ingestion, self.log, self._checkpoint)
        return self._delivery

    def _checkpoint(self) -> None:
        """Called now and then in long steps: show we are alive, and stop if asked to."""
        self.inbox.progress.beat()
        if self.inbox.stop.is_set():
            raise Interrupted()

    def _check_work_files(self, begin: Begin) -> None:
        """Refuse to go on if the files the journal vouches for were changed behind our back."""
        expected = {
            self.claim.data: begin.file_size,
            self.claim.staged: begin.staged_size,
            self.claim.chunks: begin.chunk_count * ChunkSpan.SIZE,
        }
        for path, size in expected.items():
            try:
                actual = os.lstat(path).st_size
            except FileNotFoundError:
                raise WorkDamaged(f"{path.name} is missing from work/") from None
            if actual != size:
                raise WorkDamaged(f"{path.name} is {actual} bytes, the journal says {size}")

    # -- sending -----------------------------------------------------------------------------

    def _deliver_all(self) -> None:
        assert self.journal is not None
        state = self.journal.state
        if state.completed:
            return
        fd = os.open(self.claim.staged, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        try:
            while not state.completed:
                if state.next_chunk < state.begin.chunk_count:
                    self._send_chunk(fd, state)
                else:
                    self._send_completion(state)
        finally:
            os.close(fd)

    def _send_chunk(self, fd: int, state: JournalState) -> None:
        begin = state.begin
        span = self._span(state.next_chunk)
        records = records_array(os.pread(fd, span.byte_end - span.byte_start, span.byte_start))
        if checksum(records) != span.checksum:
            raise WorkDamaged(f"the staged data of chunk {span.number} does not match its checksum")
        is_last = span.number == begin.chunk_count - 1
        body = protocol.chunk_body(begin.ingestion_id, span, records, is_last, self._source(begin))
        sent_at = self.inbox.clock.monotonic()
        decision = self._sender().send(body, span.number, records=span.record_count)
        assert self.journal is not None
        if isinstance(decision, protocol.RewindTo):
            self._rewind(decision, span.number)
            return
        failpoints.reached("chunk_acknowledged")
        self.journal.append(
            Ack(span.number, span.record_offset, span.record_count, span.checksum, self._now())
        )
        failpoints.reached("ack_recorded")
        self.acknowledged += 1
        rtt = self.inbox.clock.monotonic() - sent_at
        self.inbox.progress.acked(self.claim.token, span.record_count, rtt)
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
            self._source(begin),
        )
        decision = self._sender().send(body, begin.chunk_count - 1, completion=True)
        assert self.journal is not None
        if isinstance(decision, protocol.RewindTo):
            self._rewind(decision, begin.chunk_count)
            return
        failpoints.reached("completion_acknowledged")
        self.journal.append(Completed(begin.chunk_count, begin.total_records, self._now()))
        failpoints.reached("completion_recorded")
        self.inbox.progress.acked(self.claim.token, 0, 0.0, completion=True)
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
        self.inbox.progress.rewound(self.claim.token, to_chunk, decision.lost_state)

    # -- finishing ---------------------------------------------------------------------------

    def give_up(self, error: BaseException, attempts: int) -> str:
        """Fail the file after `attempts` unexpected errors in a row (a bug, not the file's
        fault), with the last one and its traceback in the report, so the inbox goes on."""
        failure = InternalError(
            self.inbox.redact(
                f"{attempts} unexpected errors in a row on this file, the last: "
                f"{type(error).__name__}: {error}"
            ),
            exception=type(error).__name__,
            traceback=self.inbox.redact("".join(traceback.format_exception(error))),
        )
        if self.claim.journal.exists():
            try:
                self.journal = JournalFile.open(self.claim.journal)
            except FileFailed:
                self.journal = None
        self._report(failure)
        return self._move("failed")

    def _report(self, failure: FileFailed) -> None:
        state = self.journal.state if self.journal else None
        report: dict[str, Any] = {
            "file": printable_name(self.claim.name),
            "inbox": self.inbox.name,
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
        body = orjson.dumps(report, option=orjson.OPT_INDENT_2)
        durable.write_file(self.claim.report, body, self._private_mode())
        failpoints.reached("report_written")

    def _move(self, outcome: str) -> str:
        if self.journal is not None:
            self.journal.close()
            self.journal = None
        durable.unlink_quietly(self.claim.retry_state)
        target = self.inbox.spool.finish(self.claim, outcome, self.inbox.clock.now())
        self.inbox.progress.finished(self.claim.token, outcome)
        self.log.info("file finished", outcome=outcome, moved_to=printable_name(str(target)))
        return outcome

    def _moved_before(self) -> str:
        """A retry after a finish whose rename happened but whose fsyncs failed."""
        found = self.inbox.spool.finished_already(self.claim)
        outcome = found[0] if found else "vanished"
        if found is None:
            self.log.error("the claim folder disappeared from work/ and is not in done/ or failed/")
        self.inbox.progress.finished(self.claim.token, outcome)
        return outcome

    def _private_mode(self) -> int:
        """Receipts and reports are no more readable than the file they describe."""
        try:
            return private_mode(os.lstat(self.claim.data).st_mode)
        except OSError:
            return 0o600

    def _span(self, number: int) -> ChunkSpan:
        try:
            return read_span(self.claim.chunks, number)
        except (OSError, EOFError) as exc:
            raise WorkDamaged(f"the chunk index cannot be read: {exc}") from exc

    def _records_acknowledged(self, state: JournalState | None) -> int | None:
        if state is None or state.next_chunk == 0:
            return 0
        if state.next_chunk >= state.begin.chunk_count:
            return state.begin.total_records
        try:
            return self._span(state.next_chunk).record_offset
        except WorkDamaged:
            return None

    def _source(self, begin: Begin) -> protocol.Source:
        return protocol.Source(begin.inbox, begin.file_name, begin.file_type, begin.sheet)

    def _now(self) -> str:
        return iso(self.inbox.clock.now())


def _unsafe_reason(info: os.stat_result) -> str:
    if not stat.S_ISREG(info.st_mode):
        return f"the claimed entry is not a regular file ({stat.filemode(info.st_mode)})"
    return (
        f"the claimed file has {info.st_nlink} hard links; a file linked from elsewhere is "
        "refused so that nothing outside the spool is read"
    )
