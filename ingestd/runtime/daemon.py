"""Wiring and lifecycle: the inbox services, the watcher, metrics, systemd notifications
(READY, STATUS, WATCHDOG, RELOADING, STOPPING) and signals (TERM/INT stop, HUP reloads)."""

from __future__ import annotations

import math
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import httpx
import structlog
from watchdog.observers.api import ObservedWatch

from ingestd import log as logging_setup
from ingestd.clock import Clock, SystemClock
from ingestd.core.settle import wanted
from ingestd.errors import ConfigError
from ingestd.runtime.inbox import HTTP_GRACE_SECONDS, InboxService
from ingestd.runtime.metrics import Metrics, PrometheusMetrics
from ingestd.runtime.notify import Notifier, watchdog_interval
from ingestd.runtime.watcher import Watcher
from ingestd.settings import InboxSettings, Settings, load

log = structlog.get_logger("ingestd.runtime.daemon")

STATUS_SECONDS = 1.0


class Daemon:
    def __init__(
        self,
        settings: Settings,
        clock: Clock | None = None,
        notifier: Notifier | None = None,
        transport: httpx.BaseTransport | None = None,
        config_path: Path | None = None,
        liveness_grace: float = HTTP_GRACE_SECONDS,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.notifier = notifier or Notifier()
        self.stop_event = threading.Event()
        self.config_path = config_path
        self._reload_requested = threading.Event()
        self._transport = transport
        self._liveness_grace = liveness_grace
        self._watcher = Watcher()
        self.services: dict[str, InboxService] = {}
        self._watches: dict[str, ObservedWatch] = {}
        self._retiring: list[tuple[InboxService, ObservedWatch]] = []
        self._waiting: dict[str, InboxSettings] = {}
        self._metrics: Metrics | None = None
        self._metrics_server: PrometheusMetrics | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        if self.settings.metrics_listen:
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
        log.info("started", inboxes=sorted(self.services))

    def shutdown(self) -> None:
        self.stop_event.set()
        self.notifier.stopping()
        log.info("stopping")
        services = list(self.services.values()) + [s for s, _ in self._retiring]
        for service in services:
            service.wake()
        for service in services:
            service.join()
        self._watcher.stop()
        if self._metrics_server is not None:
            self._metrics_server.close()
        log.info("stopped")

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
        for name in list(self.services):
            if wanted_inboxes.get(name) != self.services[name].settings:
                self._retire(name, handing_over=name in wanted_inboxes)
        for name, inbox in wanted_inboxes.items():
            if name not in self.services:
                self._waiting[name] = inbox
        self.settings = new
        self._reap_retired()
        self.notifier.ready()
        log.info("reloaded", inboxes=sorted(wanted_inboxes))
        return True

    def _add(self, inbox: InboxSettings) -> None:
        service = InboxService(
            inbox, self.clock, self.stop_event, self._transport, self._metrics, self._liveness_grace
        )
        self._watches[inbox.name] = self._watcher.watch(service.layout.inbox, service.events)
        self.services[inbox.name] = service
        service.start()

    def _retire(self, name: str, handing_over: bool) -> None:
        service = self.services.pop(name)
        service.retire(handing_over)
        self._retiring.append((service, self._watches.pop(name)))
        log.info("inbox retiring after its file in flight", inbox=name)

    def _reap_retired(self) -> None:
        still = []
        for service, watch in self._retiring:
            if service.ended():
                service.join()
                self._watcher.unwatch(watch)
                log.info("inbox stopped", inbox=service.settings.name)
            else:
                still.append((service, watch))
        self._retiring = still
        busy = {service.settings.name for service, _ in self._retiring}
        for name in [n for n in self._waiting if n not in busy]:
            try:
                self._add(self._waiting.pop(name))
            except ConfigError as exc:
                log.error("cannot start inbox", inbox=name, error=str(exc))

    # -- health and status ------------------------------------------------------------------------

    def retiring(self) -> list[str]:
        """Inboxes removed or changed by a reload that still finish their files in flight."""
        return [service.settings.name for service, _ in self._retiring]

    def healthy(self) -> bool:
        return self._watcher.alive() and all(s.healthy() for s in self.services.values())

    def stalled(self) -> list[str]:
        return [thread for s in self.services.values() for thread in s.progress.stalled()]

    def status_line(self) -> str:
        return " | ".join(s.progress.describe() for s in self.services.values()) or "no inboxes"

    def _gauges(self) -> Iterator[tuple[str, str, dict[str, str], float]]:
        now = self.clock.now()
        yield "ingestd_up", "1 while every inbox is healthy", {}, float(self.healthy())
        for name, service in list(self.services.items()):
            labels = {"inbox": name}
            layout, patterns = service.layout, service.settings.patterns
            waiting = sum(1 for n in _listdir(layout.inbox) if wanted(n, patterns))
            yield "ingestd_inbox_files", "Files waiting in inbox/", labels, float(waiting)
            yield (
                "ingestd_work_files",
                "Claimed files in work/",
                labels,
                float(len(_listdir(layout.work))),
            )
            last = service.progress.last_ack_at
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


def _listdir(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []
