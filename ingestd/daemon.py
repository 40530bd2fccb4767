"""Wiring and lifecycle: one service per inbox (a scout that settles and claims, workers that
ingest), the watcher that wakes the scouts, systemd notifications, and signals."""

from __future__ import annotations

import queue
import random
import signal
import threading
from types import FrameType

import httpx
import structlog

from ingestd.clock import Clock, SystemClock
from ingestd.core.chunking import ChunkLimits
from ingestd.core.names import printable_name
from ingestd.core.retry import backoff_delay
from ingestd.core.settle import Settler
from ingestd.errors import Interrupted, Transient
from ingestd.ingest import InboxRuntime, Ingestion, RetryPolicy
from ingestd.notify import Notifier
from ingestd.readers import chooser
from ingestd.readers.excel import ExcelReader
from ingestd.readers.json import JsonReader
from ingestd.sender import Sender
from ingestd.settings import InboxSettings, Settings
from ingestd.spool import Claim, Layout, Spool
from ingestd.watcher import CLOSED, OPENED, Event, Watcher

log = structlog.get_logger("ingestd.daemon")

TICK_SECONDS = 0.05


class InboxService:
    """Everything one inbox runs: claims in name order, at most `workers` files at a time."""

    def __init__(
        self,
        settings: InboxSettings,
        clock: Clock,
        stop: threading.Event,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        layout = Layout(settings.root)
        layout.create()
        self.settings = settings
        self.events: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        self.runtime = InboxRuntime(
            name=settings.name,
            spool=Spool(layout, settings.patterns),
            sender=Sender(settings.callback_url, settings.request_timeout_seconds, transport),
            reader_for=chooser(
                JsonReader(settings.json_items_path),
                ExcelReader(settings.excel_sheet, settings.excel_header_row),
            ),
            limits=ChunkLimits(settings.chunk_records, settings.chunk_bytes),
            retry=RetryPolicy(
                settings.retry_initial_delay_seconds, settings.retry_max_delay_seconds
            ),
            clock=clock,
            stop=stop,
        )
        self._claims: queue.SimpleQueue[Claim | None] = queue.SimpleQueue()
        self._permits = threading.Semaphore(settings.workers)
        self._threads = [threading.Thread(target=self._scout, name=f"scout-{settings.name}")] + [
            threading.Thread(target=self._work, name=f"worker-{settings.name}-{n}")
            for n in range(settings.workers)
        ]
        self.log = log.bind(inbox=settings.name)

    @property
    def layout(self) -> Layout:
        return self.runtime.spool.layout

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def wake(self) -> None:
        self.events.put(None)
        for _ in range(self.settings.workers):
            self._claims.put(None)

    def join(self, timeout: float | None = None) -> None:
        for thread in self._threads:
            thread.join(timeout)
        self.runtime.sender.close()

    def alive(self) -> bool:
        return all(thread.is_alive() for thread in self._threads)

    # -- the scout: resume, settle, claim -------------------------------------------------------

    def _scout(self) -> None:
        spool, clock, stop = self.runtime.spool, self.runtime.clock, self.runtime.stop
        for claim in spool.claims():
            if not self._hand_over(claim):
                return
        settler = Settler(self.settings.settle_seconds)
        next_rescan = 0.0
        while not stop.is_set():
            try:
                next_rescan = self._scout_once(settler, next_rescan)
            except OSError as exc:
                self.log.error("cannot watch the inbox; will try again", error=str(exc))
                clock.wait(1.0, stop)

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
        for name in settler.ready(now):
            settler.observe(name, spool.look(name), now)
        self._claim_ready(settler, clock.monotonic())
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
        for name in settler.ready(now):
            if not self._permits.acquire(blocking=False):
                return
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
        while not self._permits.acquire(timeout=0.5):
            if self.runtime.stop.is_set():
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
        try:
            self._take(settler, self.events.get(timeout=max(0.0, timeout)))
        except queue.Empty:
            return

    # -- the workers: one claimed file at a time each ------------------------------------------

    def _work(self) -> None:
        while True:
            claim = self._claims.get()
            if claim is None or self.runtime.stop.is_set():
                return
            try:
                self._ingest(claim)
            finally:
                self._permits.release()

    def _ingest(self, claim: Claim) -> None:
        runtime = self.runtime
        attempt = 0
        while not runtime.stop.is_set():
            try:
                Ingestion(claim, runtime).run()
                return
            except Interrupted:
                return
            except (Transient, OSError) as exc:
                self.log.warning("cannot go on with a file now; will retry", error=str(exc))
            except Exception:
                self.log.exception("unexpected error; the file stays in work/ and is retried")
            delay = backoff_delay(
                attempt,
                base=runtime.retry.initial_delay,
                cap=runtime.retry.max_delay,
                rand=random.random,
            )
            attempt += 1
            if runtime.clock.wait(delay, runtime.stop):
                return


class Daemon:
    def __init__(
        self,
        settings: Settings,
        clock: Clock | None = None,
        notifier: Notifier | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.notifier = notifier or Notifier()
        self.stop_event = threading.Event()
        self._transport = transport
        self._watcher = Watcher()
        self.services: list[InboxService] = []

    def start(self) -> None:
        for inbox in self.settings.inbox:
            service = InboxService(inbox, self.clock, self.stop_event, self._transport)
            self._watcher.watch(service.layout.inbox, service.events)
            self.services.append(service)
        self._watcher.start()
        for service in self.services:
            service.start()
        self.notifier.ready()
        log.info("started", inboxes=[s.settings.name for s in self.services])

    def shutdown(self) -> None:
        self.stop_event.set()
        self.notifier.stopping()
        log.info("stopping")
        for service in self.services:
            service.wake()
        for service in self.services:
            service.join()
        self._watcher.stop()
        log.info("stopped")

    def run(self) -> int:
        """Run until SIGTERM or SIGINT; the chunk in flight finishes, journals stay consistent."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        self.start()
        while not self.stop_event.wait(1.0):
            pass
        self.shutdown()
        return 0

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop_event.set()
