"""Failpoints: named steps of a file's life at which a test can make the daemon die.

Off unless INGESTD_FAILPOINT=<step>[:<n>] is set in the environment: the n-th time (default the
first) a thread reaches <step>, the process sends itself SIGKILL: no cleanup, no flush, exactly
like a crash. Steps, in the order a file meets them:

    claim_renamed         the file was renamed into work/ (directories not yet fsynced)
    staged                staged file and index fsynced, no journal yet
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


def _parse(spec: str | None) -> tuple[str, int] | None:
    if not spec:
        return None
    step, _, count = spec.partition(":")
    if step not in STEPS:
        raise ValueError(f"INGESTD_FAILPOINT names no step: {step!r}")
    return step, int(count or 1)


class _Failpoint:
    def __init__(self, armed: tuple[str, int] | None) -> None:
        self._armed = armed
        self._lock = threading.Lock()
        self._seen = 0

    def reached(self, step: str) -> None:
        if self._armed is None or self._armed[0] != step:
            return
        with self._lock:
            self._seen += 1
            if self._seen == self._armed[1]:
                os.kill(os.getpid(), signal.SIGKILL)


_failpoint = _Failpoint(_parse(os.environ.get("INGESTD_FAILPOINT")))


def reached(step: str) -> None:
    """Mark that `step` was reached; dies here if the environment armed this step."""
    _failpoint.reached(step)
