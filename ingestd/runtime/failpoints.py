"""Failpoints: named steps of a file's life at which a test can make the daemon die, or fail.

Off unless INGESTD_FAILPOINT=<step>[:<n>][:<action>] is set in the environment: the n-th time
(default the first; `..n` each of the first n times; `*` every time) a thread reaches <step>,
the process sends itself SIGKILL
(action `kill`, the default: no cleanup, no flush, exactly like a crash) or the thread raises
FailpointError (action `raise`: a bug, an exception nobody expected). Steps, in the order a file
meets them:

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


ACTIONS = ("kill", "raise")


class FailpointError(RuntimeError):
    """Raised at a failpoint armed with `raise`: stands for a bug."""


Armed = tuple[str, range, str]  # the step, the times it fires (1 is the first), the action


def _parse(spec: str | None) -> Armed | None:
    if not spec:
        return None
    step, _, rest = spec.partition(":")
    count, _, action = rest.partition(":")
    if step not in STEPS:
        raise ValueError(f"INGESTD_FAILPOINT names no step: {step!r}")
    if action not in ("", *ACTIONS):
        raise ValueError(f"INGESTD_FAILPOINT names no action: {action!r}")
    if count == "*":
        times = range(1, 1 << 62)
    elif count.startswith(".."):
        times = range(1, int(count[2:]) + 1)
    else:
        times = range(int(count or 1), int(count or 1) + 1)
    return step, times, action or "kill"


class _Failpoint:
    def __init__(self, armed: Armed | None) -> None:
        self._armed = armed
        self._lock = threading.Lock()
        self._seen = 0

    def reached(self, step: str) -> None:
        if self._armed is None or self._armed[0] != step:
            return
        _, times, action = self._armed
        with self._lock:
            self._seen += 1
            if self._seen not in times:
                return
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        raise FailpointError(f"failpoint {step} reached ({self._seen})")


_failpoint = _Failpoint(_parse(os.environ.get("INGESTD_FAILPOINT")))


def reached(step: str) -> None:
    """Mark that `step` was reached; dies here if the environment armed this step."""
    _failpoint.reached(step)
