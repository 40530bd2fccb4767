"""Failpoints: named steps of a file's life at which a test can make the daemon die, or fail.

Inert unless armed. `ingestd run` arms them from INGESTD_FAILPOINT=<step>[:<n>][:<action>]:
the n-th time (default the first; `..n` each of the first n times; `*` every time) a thread
reaches <step>, the process sends itself SIGKILL (action `kill`, the default: no cleanup, no
flush, exactly like a crash) or the thread raises FailpointError (action `raise`: a bug, an
exception nobody expected). Steps, in the order a file meets them:

    claim_renamed         the file was renamed into work/ (directories not yet fsynced)
    staged                staged file and index fsynced, no journal yet (not reached for a
                          file staged ahead: its parser process creates the journal too)
    journal_created       the journal's begin entry is durable, nothing sent
    chunk_acknowledged    the receiver acknowledged a chunk, not yet recorded
    ack_recorded          the acknowledgement is in the journal
    completion_acknowledged  the receiver acknowledged the completion, not yet recorded
    completion_recorded   the completion is in the journal
    leftovers_removed     staged file and index deleted, the folder not yet moved
    finish_moved          the folder (file and receipt) renamed into done/ or failed/
    report_written        a failure report is durable, the folder not yet moved
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Mapping
from dataclasses import dataclass

STEPS = (
    "claim_renamed",
    "staged",
    "journal_created",
    "chunk_acknowledged",
    "ack_recorded",
    "completion_acknowledged",
    "completion_recorded",
    "leftovers_removed",
    "finish_moved",
    "report_written",
)
ACTIONS = ("kill", "raise")
ENVIRONMENT = "INGESTD_FAILPOINT"


class FailpointError(RuntimeError):
    """Raised at a failpoint armed with `raise`: stands for a bug."""


@dataclass(frozen=True)
class Armed:
    step: str
    times: range  # the times it fires; 1 is the first
    action: str

    @classmethod
    def parse(cls, spec: str) -> Armed:
        step, _, rest = spec.partition(":")
        count, _, action = rest.partition(":")
        if step not in STEPS:
            raise ValueError(f"{ENVIRONMENT} names no step: {step!r}")
        if action not in ("", *ACTIONS):
            raise ValueError(f"{ENVIRONMENT} names no action: {action!r}")
        if count == "*":
            times = range(1, 1 << 62)
        elif count.startswith(".."):
            times = range(1, int(count[2:]) + 1)
        else:
            times = range(int(count or 1), int(count or 1) + 1)
        return cls(step, times, action or "kill")


class Failpoints:
    """Where a test may crash the daemon; inert unless given an armed step."""

    def __init__(self, armed: Armed | None = None) -> None:
        self._armed = armed
        self._lock = threading.Lock()
        self._seen = 0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Failpoints:
        spec = environ.get(ENVIRONMENT)
        return cls(Armed.parse(spec) if spec else None)

    def reached(self, step: str) -> None:
        """Mark that `step` was reached; dies or raises here if this step is armed."""
        armed = self._armed
        if armed is None or armed.step != step:
            return
        with self._lock:
            self._seen += 1
            seen = self._seen
        if seen not in armed.times:
            return
        if armed.action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        raise FailpointError(f"failpoint {step} reached ({seen})")
