"""When is a dropped file ready? When no writer is known to hold it open and its size and mtime
have not changed for `settle_seconds`.

Opens and closes come from inotify. An open count that never drops back (a close event lost to
an inotify overflow) is trusted only until the file has been unchanged for STALE_OPEN_SECONDS,
so a lost event can delay a file but never strand it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass

TEMPORARY_SUFFIXES = (".part", ".filepart", ".tmp", ".partial", "~")
STALE_OPEN_SECONDS = 300.0


def wanted(name: str, patterns: Iterable[str]) -> bool:
    """Is `name` to be ingested: not hidden, not an upload or lock file, and matching a pattern."""
    if name.startswith((".", "~$")) or name.endswith(TEMPORARY_SUFFIXES):
        return False
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


@dataclass(frozen=True)
class Observation:
    size: int
    mtime_ns: int
    inode: int


class Settler:
    """Tracks candidates and tells which have been still long enough to claim."""

    def __init__(self, settle_seconds: float) -> None:
        self._settle = settle_seconds
        self._seen: dict[str, tuple[Observation, float]] = {}
        self._open: dict[str, int] = {}

    def opened(self, name: str) -> None:
        self._open[name] = self._open.get(name, 0) + 1

    def closed(self, name: str) -> None:
        count = self._open.get(name, 0) - 1
        if count > 0:
            self._open[name] = count
        else:
            self._open.pop(name, None)

    def observe(self, name: str, observation: Observation | None, now: float) -> None:
        """Record what a stat showed now; None means the file is gone (or not a regular file)."""
        if observation is None:
            self.forget(name)
            return
        previous = self._seen.get(name)
        if previous is None or previous[0] != observation:
            self._seen[name] = (observation, now)

    def forget(self, name: str) -> None:
        self._seen.pop(name, None)
        self._open.pop(name, None)

    def ready(self, now: float) -> list[str]:
        """Names closed and unchanged for settle_seconds, in name order."""
        return sorted(n for n, (_, since) in self._seen.items() if self._settled(n, now - since))

    def _settled(self, name: str, still_for: float) -> bool:
        if still_for < self._settle:
            return False
        return name not in self._open or still_for >= max(STALE_OPEN_SECONDS, self._settle)

    def next_deadline(self) -> float | None:
        """When the earliest candidate becomes ready, if any is waiting."""
        if not self._seen:
            return None
        return min(since for _, since in self._seen.values()) + self._settle

    def __len__(self) -> int:
        return len(self._seen)

    def __contains__(self, name: object) -> bool:
        return name in self._seen
