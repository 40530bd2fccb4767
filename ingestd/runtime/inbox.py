"""One inbox at work: a scout thread that settles and claims files in name order, and `workers`
threads that ingest them, each with a parser process of its own. The watcher only feeds the
scout events; the daemon builds every part an inbox uses (runtime/daemon.py)."""

from __future__ import annotations

import dataclasses
import queue
import random
import threading
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from ingestd.clock import Clock, iso
from ingestd.core import scheduling
from ingestd.core.chunking import ChunkLimits
from ingestd.core.names import printable_name
from ingestd.core.retry import RetryPolicy, backoff_delay
from ingestd.core.scheduling import Mode
from ingestd.core.settle import Settler
from ingestd.errors import Interrupted, ParserUnavailable, SpoolIOError, Transient
from ingestd.failpoints import Failpoints
from ingestd.fs.claim import ClaimFolder
from ingestd.fs.spool import Spool
from ingestd.once import Once
from ingestd.readers import Reader
from ingestd.runtime.progress import InboxProgress
from ingestd.runtime.watcher import CLOSED, LOST, OPENED, Event

if TYPE_CHECKING:
    from ingestd.pipeline.delivery import Delivery
    from ingestd.pipeline.ingest import Ingestion
    from ingestd.pipeline.staging import Stager

log = structlog.get_logger("ingestd.runtime.inbox")

TICK_SECONDS = 0.05
STOP_GRACE_SECONDS = 1.0


@dataclass(frozen=True)
class Timing:
    settle_seconds: float
    rescan_seconds: float
    retry: RetryPolicy
    max_internal_errors: int


@dataclass(frozen=True)
class Parts:
    """What an inbox's workers ingest with, built by the daemon from the inbox's settings.
    The pipeline's own modules are imported with the first file (ingestd/once.py)."""

    spool: Spool
    delivery: Callable[[], Delivery]  # the inbox's one Delivery, made with its first file
    reader_for: Callable[[str], Reader]
    limits: ChunkLimits
    new_stager: Callable[[], Stager]  # one per worker: its parser process
    failpoints: Failpoints
    redact: Callable[[str], str]


class Claims:
    """Claimed files waiting for a worker, and room for more: the scout may hold at most
    `capacity` claims (queued, staged ahead or in flight) at once."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._queued: deque[ClaimFolder] = deque()
        self._held = 0  # taken by workers, not finished
        self._closed = self._abandoned = False
        self._changed = threading.Condition()
        self.idle = 0  # workers waiting for a claim

    def room(self) -> bool:
        with self._changed:
            return len(self._queued) + self._held < self._capacity

    def wait_for_room(self, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(
                lambda: len(self._queued) + self._held < self._capacity or self._abandoned,
                timeout,
            )

    def put(self, claim: ClaimFolder) -> None:
        with self._changed:
            self._queued.append(claim)
            self._changed.notify_all()

    def take(self) -> ClaimFolder | None:
        """The next claim; None once the scout closed the queue and it is empty, or at once
        when the queue was abandoned."""
        with self._changed:
            self.idle += 1
            try:
                self._changed.wait_for(lambda: self._queued or self._closed or self._abandoned)
            finally:
                self.idle -= 1
            return self._next()

    def take_nowait(self) -> ClaimFolder | None:
        with self._changed:
            return self._next()

    def _next(self) -> ClaimFolder | None:
        if self._abandoned or not self._queued:
            return None
        self._held += 1
        return self._queued.popleft()

    def finished(self) -> None:
        """A taken claim left the worker (done, failed, or left in work/): room for another."""
        with self._changed:
            self._held -= 1
            self._changed.notify_all()

    def close(self) -> None:
        """No more claims will come; workers take what is queued, then end."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def abandon(self) -> None:
        """Workers end after their file in flight; what is queued stays in work/."""
        with self._changed:
            self._abandoned = True
            self._changed.notify_all()


class Inbox:
    """Everything one inbox runs: claims in name order, at most `workers` files at a time."""

    def __init__(
        self,
        name: str,
        workers: int,
        parts: Parts,
        timing: Timing,
        progress: InboxProgress,
        clock: Clock,
        stop: threading.Event,
    ) -> None:
        self.name = name
        self.progress = progress
        self.events: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        self._workers = workers
        self._parts = parts
        self._timing = timing
        self._clock = clock
        self._stop = stop
        self._mode = Mode.RUNNING
        self._rescan_now = False  # the watcher lost events
        self._claims = Claims(scheduling.claim_limit(workers))
        self._threads = [threading.Thread(target=self._scout, name=f"scout-{name}")] + [
            threading.Thread(target=self._work, name=f"worker-{name}-{n}") for n in range(workers)
        ]
        self.log = log.bind(inbox=name)

    @property
    def spool(self) -> Spool:
        return self._parts.spool

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def wake(self) -> None:
        self.events.put(None)

    def stop(self) -> None:
        """The daemon stops: each worker ends after the request in flight."""
        self._end(Mode.STOPPING)

    def retire(self, handing_over: bool) -> None:
        """Stop claiming; workers finish the file in flight, then end. Files claimed but not
        begun are ingested too, unless `handing_over`: another inbox with new settings takes
        over, and they wait in work/ for it."""
        self._end(Mode.HANDING_OVER if handing_over else Mode.DRAINING)

    def _end(self, mode: Mode) -> None:
        self._mode = mode
        if not scheduling.takes_queued(mode):
            self._claims.abandon()
        self.wake()

    def join(self, timeout: float | None = None) -> None:
        for thread in self._threads:
            thread.join(timeout)

    def alive(self) -> bool:
        return all(thread.is_alive() for thread in self._threads)

    def ended(self) -> bool:
        return not any(thread.is_alive() for thread in self._threads)

    def healthy(self) -> bool:
        """Every thread alive (while running), none overdue with its promised beat."""
        if self._mode is Mode.RUNNING and not self.alive():
            return False
        return not self.progress.stalled()

    # -- the scout: resume, settle, claim -------------------------------------------------------

    def _scout(self) -> None:
        try:
            if self._queue_leftovers():
                self._look_out()
        finally:
            self._claims.close()
            self.progress.forget_thread()

    def _queue_leftovers(self) -> bool:
        """Queue the claims an earlier run left in work/, oldest first, as room allows; False if
        the inbox ends meanwhile (they stay in work/)."""
        try:
            leftovers = self.spool.claims()
        except OSError as exc:
            self.log.error("cannot list work/; the claims left there wait", error=str(exc))
            leftovers = []
        for claim in leftovers:
            while not self._claims.wait_for_room(0.5):
                self.progress.beat()
                if not scheduling.takes_queued(self._mode):
                    return False
            self._claims.put(claim)
        return True

    def _look_out(self) -> None:
        settler = Settler(self._timing.settle_seconds)
        next_rescan = 0.0
        while scheduling.claims_more(self._mode):
            self.progress.beat()
            try:
                next_rescan = self._scout_once(settler, next_rescan)
            except OSError as exc:
                self.log.error("cannot watch the inbox; will try again", error=str(exc))
                self._clock.wait(1.0, self._stop)

    def _scout_once(self, settler: Settler, next_rescan: float) -> float:
        """One look at the inbox: rescan if due, take in events, claim what has settled."""
        now = self._clock.monotonic()
        if now >= next_rescan or self._rescan_now:
            self._rescan_now = False
            for name in self.spool.scan():
                settler.observe(name, self.spool.look(name), now)
            next_rescan = now + self._timing.rescan_seconds
        while not self.events.empty():
            self._take(settler, self.events.get_nowait())
        self._claim_ready(settler, self._clock.monotonic())
        self.progress.queued = len(settler)
        self._sleep(settler, next_rescan)
        return next_rescan

    def _take(self, settler: Settler, event: Event | None) -> None:
        """Fold one watcher event into the settler: opens and closes, then a fresh look."""
        if event is None:
            return
        kind, name = event
        if kind == LOST:
            self._rescan_now = True
            return
        if kind == OPENED:
            settler.opened(name)
        elif kind == CLOSED:
            settler.closed(name)
        settler.observe(name, self.spool.look(name), self._clock.monotonic())

    def _claim_ready(self, settler: Settler, now: float) -> None:
        for name in settler.ready(now, scheduling.claim_limit(self._workers)):
            if not self._claims.room() or not scheduling.claims_more(self._mode):
                return
            settler.observe(name, self.spool.look(name), now)  # a last look: changed since?
            if not settler.settled(name, now):
                continue
            settler.forget(name)
            try:
                claim = self.spool.claim(name, self._clock.now())
            except SpoolIOError as exc:
                self.log.error("cannot claim a file; will try again", error=exc.reason)
                continue
            if claim is not None:
                self.log.info("claimed", file=printable_name(name), claim=claim.token)
                self._claims.put(claim)

    def _sleep(self, settler: Settler, next_rescan: float) -> None:
        now = self._clock.monotonic()
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
        stager = Once(self._parts.new_stager)  # with the first file, and its modules
        ahead: ClaimFolder | None = None  # the next file, staged while this one is sent
        try:
            while not self._stop.is_set():
                self.progress.idle()
                claim = ahead or self._claims.take()
                if claim is None:
                    return
                try:
                    ahead = self._ingest(claim, stager())
                finally:
                    self._claims.finished()
                    self.wake()  # the scout: room for another claim
                if not scheduling.takes_queued(self._mode) and ahead is not None:
                    self._claims.finished()  # taken early, left in work/ for a successor
                    ahead = None
        finally:
            if (made := stager.made()) is not None:
                made.close()
            self.progress.forget_thread()

    def _ingest(self, claim: ClaimFolder, stager: Stager) -> ClaimFolder | None:
        """Take one file as far as it goes, trying again after trouble; returns the next claim
        if it was taken early to be staged meanwhile."""
        ahead = None
        attempt = unexpected = 0
        while not self._stop.is_set():
            with self._ingestion(claim, stager) as ingestion:
                try:
                    if ingestion.prepare() is None:
                        ahead = ahead or self._stage_next_ahead(stager, ingestion.chunk_count)
                        ingestion.deliver()
                    return ahead
                except Interrupted:
                    self.progress.released(claim.token)
                    return ahead
                except Transient as exc:
                    if isinstance(exc, ParserUnavailable) and self._stop_under_way():
                        self.progress.released(claim.token)
                        return ahead
                    self.log.warning("cannot go on with a file now; will retry", error=exc.reason)
                except Exception as exc:  # a bug: counted, so that it cannot block the inbox
                    unexpected = 1 if ingestion.acknowledged else unexpected + 1
                    if self._give_up(ingestion, exc, unexpected):
                        return ahead
            self.progress.released(claim.token)
            if self._wait_to_retry(attempt):
                return ahead
            attempt += 1
        return ahead

    def _ingestion(self, claim: ClaimFolder, stager: Stager) -> Ingestion:
        from ingestd.pipeline.ingest import Ingestion

        parts = self._parts
        return Ingestion(
            claim,
            self.name,
            parts.reader_for(claim.name),
            parts.limits,
            stager,
            parts.delivery(),
            parts.spool,
            self.progress,
            self._clock,
            self._stop,
            parts.failpoints,
            parts.redact,
        )

    def _stage_next_ahead(self, stager: Stager, chunk_count: int) -> ClaimFolder | None:
        """Take the next claimed file now, if no other worker would start it sooner, and have
        this worker's parser stage it, and begin its journal, while the current file is sent."""
        if not scheduling.stage_ahead(self._workers, self._claims.idle, chunk_count):
            return None
        claim = self._claims.take_nowait()
        if claim is None or claim.has_journal() or claim.has_report():
            return claim  # nothing to stage: it resumes, or it failed already
        if not claim.durable:
            try:
                claim.make_durable()
            except SpoolIOError:
                return claim  # its own ingestion makes it durable, or says why not
            claim = dataclasses.replace(claim, durable=True)
        from ingestd.pipeline.staging import Opening, StageRequest

        parts = self._parts
        opening = Opening(self.name, iso(self._clock.now()))
        stager.stage_ahead(StageRequest(claim, parts.reader_for(claim.name), parts.limits, opening))
        return claim

    def _wait_to_retry(self, attempt: int) -> bool:
        """Back off before trying a file again; True if the daemon stops meanwhile."""
        retry = self._timing.retry
        delay = backoff_delay(
            attempt, base=retry.initial_delay, cap=retry.max_delay, rand=random.random
        )
        self.progress.beat(grace=delay + self.progress.grace)
        return self._clock.wait(delay, self._stop)

    def _give_up(self, ingestion: Ingestion, error: Exception, count: int) -> bool:
        """Log an unexpected error; fail the file once it has met `max_internal_errors` of them
        in a row with no chunk acknowledged in between, so that one bug cannot block the inbox."""
        limit, redact = self._timing.max_internal_errors, self._parts.redact
        self.log.error(
            "unexpected error; the file stays in work/ and is retried"
            if count < limit
            else "unexpected error, too often on this file: moving it to failed/",
            error=redact(f"{type(error).__name__}: {error}"),
            internal_errors=count,
            max_internal_errors=limit,
            traceback=redact("".join(traceback.format_exception(error))) if count == 1 else None,
        )
        if count < limit:
            return False
        try:
            ingestion.give_up(error, count)
        except Exception as exc:  # reporting failed too: keep the file, try again later
            self.log.error("cannot move the file to failed/", error=redact(str(exc)))
            return False
        return True

    def _stop_under_way(self) -> bool:
        """Whether a stop signal is about to be seen: a signal sent to the whole process group
        can end the parsers' forkserver a moment before the main thread sets the stop event."""
        return self._stop.wait(STOP_GRACE_SECONDS)
