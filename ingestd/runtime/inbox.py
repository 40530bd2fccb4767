"""One inbox at work: a scout thread that settles and claims files in name order, and
`workers` threads that ingest them. The watcher only feeds the scout events."""

from __future__ import annotations

import dataclasses
import queue
import random
import threading
import traceback

import httpx
import structlog

from ingestd.clock import Clock
from ingestd.core.chunking import ChunkLimits
from ingestd.core.names import printable_name
from ingestd.core.retry import backoff_delay
from ingestd.core.settle import Settler
from ingestd.errors import Interrupted, ParserUnavailable, Transient
from ingestd.fs.spool import Claim, Layout, Spool
from ingestd.pipeline.inbox_runtime import InboxRuntime, RetryPolicy
from ingestd.pipeline.ingest import Ingestion
from ingestd.pipeline.isolation import IsolatedStager, Request
from ingestd.pipeline.sender import Sender
from ingestd.pipeline.staging import Staged
from ingestd.readers import chooser
from ingestd.readers.excel.reference import ExcelReader
from ingestd.readers.json.reference import JsonReader
from ingestd.runtime.metrics import Metrics
from ingestd.runtime.progress import InboxProgress
from ingestd.runtime.watcher import CLOSED, OPENED, Event
from ingestd.settings import InboxSettings

log = structlog.get_logger("ingestd.service")

TICK_SECONDS = 0.05
STOP_GRACE_SECONDS = 1.0
HTTP_GRACE_SECONDS = 30.0


def claim_limit(workers: int) -> int:
    """Files claimed at most at once: each worker's current file, the next one its parser child
    stages while the current one is sent, and one more, so that the child can start on the
    following file as soon as it is done (with one ahead in all, two files in three waited for
    their staging)."""
    return 2 * workers + 1


STAGE_AHEAD_MAX_CHUNKS = 4
"""With several workers, a worker takes its next file early only behind a file this small: the
file it takes waits for the current one to be sent, which another worker might start sooner."""


def first_to_start(workers: int, idle: int, current: Staged) -> bool:
    """Would a worker that has just staged `current` start the next file before any other
    worker: always when it is the only one; otherwise not while another waits idle, nor behind
    a file that takes long to send."""
    if workers == 1:
        return True
    return idle == 0 and current.chunk_count <= STAGE_AHEAD_MAX_CHUNKS


class InboxService:
    """Everything one inbox runs: claims in name order, at most `workers` files at a time."""

    def __init__(
        self,
        settings: InboxSettings,
        clock: Clock,
        stop: threading.Event,
        transport: httpx.BaseTransport | None = None,
        metrics: Metrics | None = None,
        liveness_grace: float = HTTP_GRACE_SECONDS,
    ) -> None:
        layout = Layout(settings.root)
        layout.create()
        self.settings = settings
        self.events: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        self.progress = InboxProgress(
            settings.name,
            clock,
            metrics,
            grace=settings.request_timeout_seconds + liveness_grace,
        )
        self._stager = IsolatedStager(
            settings.parse_memory_limit_mb, settings.parse_time_limit_seconds
        )
        self.runtime = InboxRuntime(
            name=settings.name,
            spool=Spool(layout, settings.patterns, settings.name),
            sender=Sender(
                settings.callback_url,
                settings.request_timeout_seconds,
                transport,
                headers=settings.auth_headers(),
                verify=settings.httpx_verify(),
            ),
            reader_for=chooser(
                JsonReader(settings.json_items_path),
                ExcelReader(
                    settings.excel_sheet,
                    settings.excel_header_row,
                    header_conflicts=settings.excel_header_conflicts,
                ),
            ),
            limits=ChunkLimits(settings.chunk_records, settings.chunk_bytes),
            retry=RetryPolicy(
                settings.retry_initial_delay_seconds, settings.retry_max_delay_seconds
            ),
            clock=clock,
            stop=stop,
            progress=self.progress,
            stager=self._stager,
            secrets=settings.secrets(),
            max_internal_errors=settings.max_internal_errors,
        )
        self._retiring = threading.Event()
        self._leftovers_queued = threading.Event()  # the scout queued what it can of work/
        self._handing_over = False
        self._claims: queue.SimpleQueue[Claim | None] = queue.SimpleQueue()
        self._permits = threading.Semaphore(claim_limit(settings.workers))
        self._idle = 0  # workers waiting for a claim
        self._idle_lock = threading.Lock()
        self._threads = [threading.Thread(target=self._scout, name=f"scout-{settings.name}")] + [
            threading.Thread(target=self._work, name=f"worker-{settings.name}-{n}")
            for n in range(settings.workers)
        ]
        self.log = log.bind(inbox=settings.name)

    @property
    def layout(self) -> Layout:
        return self.runtime.spool.layout

    def start(self) -> None:
        self._stager.warm_up()
        for thread in self._threads:
            thread.start()

    def wake(self) -> None:
        self.events.put(None)
        if not self._delivering_the_rest() or not self._threads[0].is_alive():
            self._stop_workers()

    def retire(self, handing_over: bool) -> None:
        """Stop claiming; workers finish the file in flight, then end. Files claimed but not
        begun are ingested too, unless `handing_over`: another service with new settings takes
        over this inbox, and they wait in work/ for it."""
        self._handing_over = handing_over
        self._retiring.set()
        self.wake()

    def join(self, timeout: float | None = None) -> None:
        for thread in self._threads:
            thread.join(timeout)
        self.runtime.sender.close()

    def alive(self) -> bool:
        return all(thread.is_alive() for thread in self._threads)

    def ended(self) -> bool:
        return not any(thread.is_alive() for thread in self._threads)

    def healthy(self) -> bool:
        """Every thread alive (unless retiring), none overdue with its promised beat."""
        if not self._retiring.is_set() and not self.alive():
            return False
        return not self.progress.stalled()

    def _delivering_the_rest(self) -> bool:
        """Retiring without a successor: every file claimed is delivered. The workers are then
        told to stop by the scout once it has ended, after any claim it made meanwhile."""
        return self._retiring.is_set() and not self._handing_over and not self.runtime.stop.is_set()

    def _stop_workers(self) -> None:
        for _ in range(self.settings.workers):
            self._claims.put(None)

    def _handed_over(self) -> bool:
        return self._retiring.is_set() and self._handing_over

    def _stopping(self) -> bool:
        return self.runtime.stop.is_set() or self._retiring.is_set()

    # -- the scout: resume, settle, claim -------------------------------------------------------

    def _scout(self) -> None:
        try:
            self._look_out()
        finally:
            self._leftovers_queued.set()
            if self._delivering_the_rest():
                self._stop_workers()

    def _look_out(self) -> None:
        spool, clock, stop = self.runtime.spool, self.runtime.clock, self.runtime.stop
        for claim in spool.claims():
            if not self._hand_over(claim):
                return
        self._leftovers_queued.set()
        settler = Settler(self.settings.settle_seconds)
        next_rescan = 0.0
        while not self._stopping():
            self.progress.beat()
            try:
                next_rescan = self._scout_once(settler, next_rescan)
            except OSError as exc:
                self.log.error("cannot watch the inbox; will try again", error=str(exc))
                clock.wait(1.0, stop)
        self.progress.forget_thread()

    def _scout_once(self, settler: Settler, next_rescan: float) -> float:
        """One look at the inbox: rescan if due, take in events, claim what has settled."""
        spool, clock = self.runtime.spool, self.runtime.clock
        now = clock.monotonic()
        if now >= next_rescan:
            for name in spool.scan():
                settler.observe(name, spool.look(name), now)
            next_rescan = now + self.settings.rescan_seconds
        while not self.events.empty():
            self._take(settler, self.events.get_nowait())
        self._claim_ready(settler, clock.monotonic())
        self.progress.queued = len(settler)
        self._sleep(settler, next_rescan)
        return next_rescan

    def _take(self, settler: Settler, event: Event | None) -> None:
        """Fold one watcher event into the settler: opens and closes, then a fresh look."""
        if event is None:
            return
        kind, name = event
        if kind == OPENED:
            settler.opened(name)
        elif kind == CLOSED:
            settler.closed(name)
        settler.observe(name, self.runtime.spool.look(name), self.runtime.clock.monotonic())

    def _claim_ready(self, settler: Settler, now: float) -> None:
        spool = self.runtime.spool
        for name in settler.ready(now, claim_limit(self.settings.workers)):
            if not self._permits.acquire(blocking=False):
                return
            settler.observe(name, spool.look(name), now)  # a last look: changed since?
            if not settler.settled(name, now):
                self._permits.release()
                continue
            settler.forget(name)
            try:
                claim = spool.claim(name, self.runtime.clock.now())
            except OSError as exc:
                self._permits.release()
                self.log.error("cannot claim a file; will try again", error=str(exc))
                continue
            if claim is None:
                self._permits.release()
                continue
            self.log.info("claimed", file=printable_name(name), claim=claim.token)
            self._claims.put(claim)

    def _hand_over(self, claim: Claim) -> bool:
        """Queue a claim left by an earlier run once a worker can take it; False if it is to
        stay in work/ (shutdown, or a successor service takes the inbox over)."""
        if not self._permits.acquire(blocking=False):
            self._leftovers_queued.set()  # as many are queued as can be: workers start on them
            while not self._permits.acquire(timeout=0.5):
                self.progress.beat()
                if self.runtime.stop.is_set() or self._handed_over():
                    return False
        self._claims.put(claim)
        return True

    def _sleep(self, settler: Settler, next_rescan: float) -> None:
        now = self.runtime.clock.monotonic()
        deadline = settler.next_deadline()
        timeout = next_rescan - now
        if len(settler):
            timeout = min(
                timeout, TICK_SECONDS if deadline is None else max(deadline - now, TICK_SECONDS)
            )
        self.progress.beat(grace=max(0.0, timeout) + self.progress.grace)
        try:
            self._take(settler, self.events.get(timeout=max(0.0, timeout)))
        except queue.Empty:
            return

    # -- the workers: one claimed file at a time each ------------------------------------------

    def _work(self) -> None:
        held: list[Claim] = []  # the next file, taken early to be staged while this one is sent
        self._stager.stage_ahead(lambda current: self._stage_ahead(held, current))
        while True:
            self.progress.idle()
            self._leftovers_queued.wait()  # a file an earlier run left resumes without a parser
            try:
                claim = held.pop() if held else self._claims.get_nowait()
            except queue.Empty:
                self._prepare_parser()
                claim = self._wait_for_claim()
            if claim is None or self.runtime.stop.is_set() or self._handed_over():
                self.progress.forget_thread()
                self._stager.close()
                return
            self.progress.beat()
            try:
                self._ingest(claim)
            finally:
                self._permits.release()
                self.events.put(None)  # wake the scout: a worker is free for the next file

    def _wait_for_claim(self) -> Claim | None:
        with self._idle_lock:
            self._idle += 1
        try:
            return self._claims.get()
        finally:
            with self._idle_lock:
                self._idle -= 1

    def _stage_ahead(self, held: list[Claim], current: Staged) -> Request | None:
        """Called by the stager when this worker's file is staged: the next claimed file, if
        one waits and no other worker would start it sooner, is taken now and its staging
        request returned. Its claim is made durable first, as it would be before its own
        staging."""
        if (
            held
            or self._stopping()
            or not first_to_start(self.settings.workers, self._idle, current)
        ):
            return None
        try:
            claim = self._claims.get_nowait()
        except queue.Empty:
            return None
        if claim is None:
            self._claims.put(None)  # a wake-up for the loop, not a file
            return None
        if not claim.synced:
            try:
                self.runtime.spool.sync_claim(claim)
            except OSError:
                held.append(claim)  # its own ingestion syncs it again, and reports the failure
                return None
            claim = dataclasses.replace(claim, synced=True)
        held.append(claim)
        if claim.journal.exists() or claim.report.exists():
            return None  # resumed, or failed already: nothing to stage
        reader = self.runtime.reader_for(claim.name)
        return (claim.data, reader, self.runtime.limits, claim.staged, claim.index)

    def _give_up(self, ingestion: Ingestion, error: Exception, count: int) -> bool:
        """Log an unexpected error; fail the file once it has met `max_internal_errors` of them
        in a row with no chunk acknowledged in between, so that one bug cannot block the inbox."""
        limit = self.runtime.max_internal_errors
        self.log.error(
            "unexpected error; the file stays in work/ and is retried"
            if count < limit
            else "unexpected error, too often on this file: moving it to failed/",
            error=self.runtime.redact(f"{type(error).__name__}: {error}"),
            internal_errors=count,
            max_internal_errors=limit,
            traceback=(
                self.runtime.redact("".join(traceback.format_exception(error)))
                if count == 1
                else None
            ),
        )
        if count < limit:
            return False
        try:
            ingestion.give_up(error, count)
        except Exception as exc:  # reporting failed too: keep the file, try again later
            self.log.error("cannot move the file to failed/", error=str(exc))
            return False
        return True

    def _prepare_parser(self) -> None:
        """Start this worker's parser process while there is nothing else to do."""
        try:
            self._stager.prepare()
        except ParserUnavailable as exc:  # the next file starts one, or waits for it
            if not self._stop_under_way():
                self.log.error("cannot start the parser process yet", error=exc.reason)

    def _stop_under_way(self) -> bool:
        """Whether a stop signal is about to be seen: a signal sent to the whole process group
        can end a helper process a moment before the main thread sets the stop event."""
        return self.runtime.stop.wait(STOP_GRACE_SECONDS)

    def _ingest(self, claim: Claim) -> None:
        runtime = self.runtime
        attempt = unexpected = 0
        while not runtime.stop.is_set():
            ingestion = Ingestion(claim, runtime)
            try:
                ingestion.run()
                return
            except Interrupted:
                self.progress.released(claim.token)
                return
            except ParserUnavailable as exc:
                if self._stop_under_way():
                    self.progress.released(claim.token)
                    return
                self.log.warning("cannot go on with a file now; will retry", error=exc.reason)
            except (Transient, OSError) as exc:
                self.log.warning("cannot go on with a file now; will retry", error=str(exc))
            except Exception as exc:
                unexpected = 1 if ingestion.acknowledged else unexpected + 1
                if self._give_up(ingestion, exc, unexpected):
                    return
            self.progress.released(claim.token)
            delay = backoff_delay(
                attempt,
                base=runtime.retry.initial_delay,
                cap=runtime.retry.max_delay,
                rand=random.random,
            )
            attempt += 1
            self.progress.beat(grace=delay + self.progress.grace)
            if runtime.clock.wait(delay, runtime.stop):
                return
