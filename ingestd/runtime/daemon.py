"""Wiring and lifecycle: builds each inbox from its settings, the watcher, metrics, systemd
notifications (READY, STATUS, WATCHDOG, RELOADING, STOPPING) and signals (TERM/INT stop, HUP
reloads). Nothing here touches a file's life; runtime/inbox.py and pipeline/ do."""

from __future__ import annotations

import math
import random
import signal
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import structlog

from ingestd import log as logging_setup
from ingestd.clock import Clock, SystemClock
from ingestd.core.chunking import ChunkLimits
from ingestd.core.retry import RetryPolicy
from ingestd.core.settle import wanted
from ingestd.errors import ConfigError
from ingestd.failpoints import Failpoints
from ingestd.fs.durable import Disk
from ingestd.fs.spool import Layout, Spool, entries
from ingestd.once import Once
from ingestd.readers.inbox import readers_for
from ingestd.runtime.inbox import Inbox, Parts, Timing
from ingestd.runtime.metrics import Metrics, NoMetrics
from ingestd.runtime.notify import Notifier, watchdog_interval
from ingestd.runtime.progress import InboxProgress
from ingestd.runtime.watcher import Watch, Watcher
from ingestd.settings import InboxSettings, Settings, load

if TYPE_CHECKING:
    import httpx

    from ingestd.pipeline.delivery import Delivery
    from ingestd.pipeline.sender import Sender
    from ingestd.pipeline.staging import Stager
    from ingestd.runtime.prometheus import PrometheusMetrics

log = structlog.get_logger("ingestd.runtime.daemon")

STATUS_SECONDS = 1.0
HTTP_GRACE_SECONDS = 30.0

StagerFactory = Callable[[InboxSettings], "Stager"]
"""A worker's parser: by default a process of its own, with the inbox's limits."""


def parser_process(settings: InboxSettings) -> Stager:
    from ingestd.pipeline import isolation

    return isolation.ParserProcess(
        settings.parse_memory_limit_mb, settings.parse_time_limit_seconds
    )


@dataclass(frozen=True)
class _Credentials:
    """What an inbox's sender needs from files and credentials, read when the inbox starts."""

    headers: dict[str, str]
    verify: bool | ssl.SSLContext
    signing_keys: tuple[bytes, ...]


@dataclass
class _Running:
    """An inbox and what the daemon must close once it ends."""

    settings: InboxSettings
    inbox: Inbox
    sender: Once[Sender]
    watch: Watch

    def close_sender(self) -> None:
        sender = self.sender.made()
        if sender is not None:
            sender.close()


class Daemon:
    def __init__(
        self,
        settings: Settings,
        clock: Clock | None = None,
        notifier: Notifier | None = None,
        transport: httpx.BaseTransport | None = None,
        config_path: Path | None = None,
        liveness_grace: float = HTTP_GRACE_SECONDS,
        disk: Disk | None = None,
        failpoints: Failpoints | None = None,
        new_stager: StagerFactory = parser_process,
        watcher: Watcher | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.notifier = notifier or Notifier()
        self.stop_event = threading.Event()
        self.config_path = config_path
        self._reload_requested = threading.Event()
        self._transport = transport
        self._liveness_grace = liveness_grace
        self._disk = disk or Disk()
        self._failpoints = failpoints or Failpoints()
        self._new_stager = new_stager
        self._watcher = watcher or Watcher()
        self._running: dict[str, _Running] = {}
        self._retiring: list[_Running] = []
        self._waiting: dict[str, InboxSettings] = {}
        self._metrics: Metrics = NoMetrics()
        self._metrics_server: PrometheusMetrics | None = None

    @property
    def inboxes(self) -> dict[str, Inbox]:
        return {name: running.inbox for name, running in self._running.items()}

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        if self.settings.metrics_listen:
            from ingestd.runtime.prometheus import PrometheusMetrics

            metrics = PrometheusMetrics(self._gauges)
            try:
                metrics.serve(self.settings.metrics_listen)
            except OSError as exc:
                raise ConfigError(f"metrics_listen {self.settings.metrics_listen}: {exc}") from exc
            self._metrics = self._metrics_server = metrics
        for inbox in self.settings.inbox:
            self._add(inbox)
        self._watcher.start()
        self.notifier.ready()
        log.info("started", inboxes=sorted(self._running))

    def shutdown(self) -> None:
        self.stop_event.set()
        self.notifier.stopping()
        log.info("stopping")
        every = list(self._running.values()) + self._retiring
        for running in every:
            running.inbox.stop()
        for running in every:
            running.inbox.join()
            running.close_sender()
        self._watcher.stop()
        if self._metrics_server is not None:
            self._metrics_server.close()
        log.info("stopped")
        self.notifier.close()

    def run(self) -> int:
        """Until SIGTERM/SIGINT: the request in flight finishes, journals stay consistent."""
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)
        self.start()
        interval = min(STATUS_SECONDS, watchdog_interval() or math.inf)
        while not self.stop_event.wait(interval):
            if self._reload_requested.is_set():
                self._reload_requested.clear()
                self.reload()
            self.tick()
        self.shutdown()
        return 0

    def tick(self) -> None:
        """Housekeeping once a second: finish retirements, STATUS=, and the watchdog ping."""
        self._reap_retired()
        self.notifier.status(self.status_line())
        if self.healthy():
            self.notifier.watchdog()
        else:
            log.error("unhealthy: withholding the watchdog ping", stalled=self.stalled())

    # -- building an inbox ----------------------------------------------------------------------

    def _add(self, settings: InboxSettings) -> None:
        layout = Layout(settings.root)
        layout.create(self._disk)
        progress = InboxProgress(
            settings.name,
            self.clock,
            self._metrics,
            grace=settings.request_timeout_seconds + self._liveness_grace,
        )
        credentials = _Credentials(
            settings.auth_headers(), settings.httpx_verify(), settings.signing_keys()
        )  # read now: one that cannot be read stops the start, not the first file
        sender = Once(lambda: self._sender(settings, credentials))
        retry = RetryPolicy(settings.retry_initial_delay_seconds, settings.retry_max_delay_seconds)
        secrets = settings.secrets()
        parts = Parts(
            spool=Spool(layout, settings.patterns, settings.name, self._disk, self._failpoints),
            delivery=Once(lambda: self._delivery(sender(), retry, progress)),
            reader_for=readers_for(settings),
            limits=ChunkLimits(settings.chunk_records, settings.chunk_bytes),
            new_stager=lambda: self._new_stager(settings),
            failpoints=self._failpoints,
            redact=lambda text: _redact(text, secrets),
        )
        timing = Timing(
            settings.settle_seconds, settings.rescan_seconds, retry, settings.max_internal_errors
        )
        inbox = Inbox(
            settings.name, settings.workers, parts, timing, progress, self.clock, self.stop_event
        )
        watch = self._watcher.watch(layout.inbox, inbox.events)
        self._running[settings.name] = _Running(settings, inbox, sender, watch)
        inbox.start()

    def _sender(self, settings: InboxSettings, credentials: _Credentials) -> Sender:
        from ingestd.pipeline.sender import Sender

        return Sender(
            settings.callback_url,
            settings.request_timeout_seconds,
            self._transport,
            headers=credentials.headers,
            verify=credentials.verify,
            signing_keys=credentials.signing_keys,
            now=self.clock.now,
        )

    def _delivery(self, sender: Sender, retry: RetryPolicy, progress: InboxProgress) -> Delivery:
        from ingestd.pipeline.delivery import Delivery

        return Delivery(sender, retry, self.clock, self.stop_event, progress, random.random)

    # -- reload -----------------------------------------------------------------------------------

    def reload(self) -> bool:
        """Re-read the config: new inboxes start, removed ones stop after their file in flight,
        changed ones start anew with the next file. An invalid config changes nothing."""
        if self.config_path is None:
            log.warning("reload ignored: the daemon runs without a config file")
            return False
        self.notifier.reloading()
        try:
            new = load(self.config_path)
        except ConfigError as exc:
            log.error(
                "reload refused",
                detail="the new config is invalid; the old one keeps running",
                error=str(exc),
            )
            self.notifier.ready()
            return False
        logging_setup.setup(new.log_level, new.log_format)
        wanted_inboxes = {inbox.name: inbox for inbox in new.inbox}
        for name in list(self._running):
            if wanted_inboxes.get(name) != self._running[name].settings:
                self._retire(name, handing_over=name in wanted_inboxes)
        for name, inbox in wanted_inboxes.items():
            if name not in self._running:
                self._waiting[name] = inbox
        self.settings = new
        self._reap_retired()
        self.notifier.ready()
        log.info("reloaded", inboxes=sorted(wanted_inboxes))
        return True

    def _retire(self, name: str, handing_over: bool) -> None:
        running = self._running.pop(name)
        running.inbox.retire(handing_over)
        self._retiring.append(running)
        log.info("inbox retiring after its file in flight", inbox=name)

    def _reap_retired(self) -> None:
        still = []
        for running in self._retiring:
            if running.inbox.ended():
                running.inbox.join()
                running.close_sender()
                self._watcher.unwatch(running.watch)
                log.info("inbox stopped", inbox=running.settings.name)
            else:
                still.append(running)
        self._retiring = still
        busy = {running.settings.name for running in self._retiring}
        for name in [n for n in self._waiting if n not in busy]:
            try:
                self._add(self._waiting.pop(name))
            except ConfigError as exc:
                log.error("cannot start inbox", inbox=name, error=str(exc))

    # -- health and status ------------------------------------------------------------------------

    def retiring(self) -> list[str]:
        """Inboxes removed or changed by a reload that still finish their files in flight."""
        return [running.settings.name for running in self._retiring]

    def healthy(self) -> bool:
        return self._watcher.alive() and all(r.inbox.healthy() for r in self._running.values())

    def stalled(self) -> list[str]:
        return [t for r in self._running.values() for t in r.inbox.progress.stalled()]

    def status_line(self) -> str:
        lines = [r.inbox.progress.describe() for r in self._running.values()]
        return " | ".join(lines) or "no inboxes"

    def _gauges(self) -> Iterator[tuple[str, str, dict[str, str], float]]:
        now = self.clock.now()
        yield "ingestd_up", "1 while every inbox is healthy", {}, float(self.healthy())
        for name, running in list(self._running.items()):
            labels = {"inbox": name}
            layout, patterns = running.inbox.spool.layout, running.settings.patterns
            waiting = sum(1 for n in entries(layout.inbox) if wanted(n, patterns))
            yield "ingestd_inbox_files", "Files waiting in inbox/", labels, float(waiting)
            work = float(len(entries(layout.work)))
            yield "ingestd_work_files", "Claimed files in work/", labels, work
            last = running.inbox.progress.last_ack_at
            since = now - last if last is not None else math.nan
            yield (
                "ingestd_seconds_since_last_ack",
                "Seconds since the last acknowledged chunk",
                labels,
                since,
            )

    # -- signals ----------------------------------------------------------------------------------

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop_event.set()

    def _on_reload(self, signum: int, frame: FrameType | None) -> None:
        self._reload_requested.set()


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, "[secret]")
    return text
