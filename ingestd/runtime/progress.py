"""What each inbox is doing, kept in memory for STATUS=, the watchdog and the metrics
(`ingestd status` reads the folders instead: ops/status.py).

Ingestions report their steps here; worker threads also report that they are alive ("beats").
A beat carries a deadline: the thread promises to beat again before it, so a thread in an
honest wait (a retry backoff, an idle worker) is not mistaken for a wedged one.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, replace

from ingestd.clock import Clock, SystemClock
from ingestd.core.journal import Begin
from ingestd.core.names import printable_name
from ingestd.core.outcome import Outcome
from ingestd.runtime.metrics import Metrics, NoMetrics

BUSY_GRACE_SECONDS = 60.0


@dataclass(frozen=True)
class FileState:
    token: str
    file: str
    ingestion_id: str | None = None
    chunks_acked: int = 0
    chunk_count: int | None = None  # as staged; more are sent when the receiver asks for smaller
    records_acked: int = 0
    total_records: int = 0
    waiting_since: float | None = None
    wait_reason: str | None = None

    def describe(self) -> str:
        if self.chunk_count is None:
            return f"{self.file} validating"
        percent = 100 * self.records_acked // max(self.total_records, 1)
        chunks = max(self.chunk_count, self.chunks_acked)
        text = f"{self.file} {percent}% (chunk {self.chunks_acked}/{chunks})"
        if self.waiting_since is not None:
            since = time.strftime("%H:%M:%S", time.gmtime(self.waiting_since))
            text += f", waiting for the receiver since {since} UTC ({self.wait_reason})"
        return text


class InboxProgress:
    """Thread-safe record of one inbox: files in flight, queue length, thread liveness."""

    def __init__(
        self,
        name: str = "inbox",
        clock: Clock | None = None,
        metrics: Metrics | None = None,
        grace: float = BUSY_GRACE_SECONDS,
    ) -> None:
        self.name = name
        self._clock = clock or SystemClock()
        self.metrics = metrics or NoMetrics()
        self.grace = grace
        self._lock = threading.Lock()
        self._files: dict[str, FileState] = {}
        self._deadlines: dict[str, float] = {}
        self.queued = 0
        self.last_ack_at: float | None = None

    # -- steps of an ingestion --------------------------------------------------------------

    def claimed(self, token: str, name: str) -> None:
        self._set(token, FileState(token, printable_name(name)))

    def begun(self, token: str, begin: Begin, next_chunk: int, records_acked: int = 0) -> None:
        self._update(
            token,
            ingestion_id=begin.ingestion_id,
            chunks_acked=next_chunk,
            chunk_count=begin.chunk_count,
            records_acked=records_acked,
            total_records=begin.total_records,
        )

    def acked(self, token: str, records: int, seconds: float, completion: bool = False) -> None:
        now = self._clock.now()
        with self._lock:
            self.last_ack_at = now
            state = self._files.get(token)
            if state is not None and not completion:
                self._files[token] = replace(
                    state,
                    chunks_acked=state.chunks_acked + 1,
                    records_acked=state.records_acked + records,
                    waiting_since=None,
                    wait_reason=None,
                )
        self.metrics.acknowledged(self.name, records, seconds, completion)

    def rewound(self, token: str, to_chunk: int, records_acked: int, lost_state: bool) -> None:
        self._update(token, chunks_acked=to_chunk, records_acked=records_acked)
        self.metrics.rewound(self.name, "lost_state" if lost_state else "requested")

    def read_twice(self, file_type: str) -> None:
        self.metrics.read_twice(self.name, file_type)

    def waiting(self, token: str, reason: str, label: str, delay: float) -> None:
        state = self._files.get(token)
        since = state.waiting_since if state and state.waiting_since else self._clock.now()
        self._update(token, waiting_since=since, wait_reason=reason)
        self.metrics.retried(self.name, label)
        self.beat(grace=delay + self.grace)

    def sent(self, records: int) -> None:
        self.metrics.sent(self.name, records)

    def finished(self, token: str, outcome: Outcome) -> None:
        with self._lock:
            self._files.pop(token, None)
        self.metrics.finished(self.name, outcome.value)

    def released(self, token: str) -> None:
        """The file stays in work/ (a stop, or a retry later); it is no longer in flight here."""
        with self._lock:
            self._files.pop(token, None)

    # -- liveness -----------------------------------------------------------------------------

    def beat(self, grace: float | None = None) -> None:
        """The calling thread is alive and will beat again within `grace` seconds."""
        deadline = self._clock.monotonic() + (self.grace if grace is None else grace)
        with self._lock:
            self._deadlines[threading.current_thread().name] = deadline

    def idle(self) -> None:
        """The calling thread is waiting for work; it owes no beat until it gets some."""
        with self._lock:
            self._deadlines[threading.current_thread().name] = math.inf

    def forget_thread(self) -> None:
        with self._lock:
            self._deadlines.pop(threading.current_thread().name, None)

    def stalled(self) -> list[str]:
        """Threads whose promised beat is overdue."""
        now = self._clock.monotonic()
        with self._lock:
            return sorted(name for name, deadline in self._deadlines.items() if deadline < now)

    # -- reading ------------------------------------------------------------------------------

    def files(self) -> list[FileState]:
        with self._lock:
            return sorted(self._files.values(), key=lambda f: f.token)

    def describe(self) -> str:
        files = self.files()
        if not files:
            return f"{self.name}: idle, {self.queued} queued"
        return f"{self.name}: " + "; ".join(f.describe() for f in files) + f"; {self.queued} queued"

    def _set(self, token: str, state: FileState) -> None:
        with self._lock:
            self._files[token] = state

    def _update(self, token: str, **changes: object) -> None:
        with self._lock:
            state = self._files.get(token)
            if state is not None:
                self._files[token] = replace(state, **changes)  # type: ignore[arg-type]
