"""The one seam for time: tests pass a fake, the daemon passes SystemClock."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Wall-clock seconds since the epoch (for records people read)."""

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps (for deadlines)."""

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        """Sleep up to `seconds`, waking early when `stop` is set; True if stopped."""


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        return stop.wait(max(0.0, seconds))


def iso(seconds: float) -> str:
    """Seconds since the epoch as people read them in records: UTC, to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
