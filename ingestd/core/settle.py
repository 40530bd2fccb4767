"""When is a dropped file ready? When no writer is known to hold it open and its size and mtime
have not changed for `settle_seconds`.

Opens and closes come from inotify. An open count that never drops back (a close event lost to
an inotify overflow) is trusted only until the file has been unchanged for STALE_OPEN_SECONDS,
so a lost event can delay a file but never strand it.
"""

from __future__ import annotations

import bisect
import fnmatch
import heapq
import re
from collections.abc import Iterable
from dataclasses import dataclass

TEMPORARY_SUFFIXES = (".part", ".filepart", ".tmp", ".partial", "~")
STALE_OPEN_SECONDS = 300.0


def wanted(name: str, patterns: Iterable[str]) -> bool:
    """Is `name` to be ingested: not hidden, not an upload or lock file, and matching a pattern."""
    if name.startswith((".", "~$")) or name.endswith(TEMPORARY_SUFFIXES):
        return False
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def may_match_suffix(pattern: str, suffix: str) -> bool:
    """Whether `pattern` admits some name ending in `suffix`, in any case: tried on a few names
    made from the pattern itself (each `*` as nothing, as the suffix, as a name with it; `?`
    and `[...]` as a character they admit)."""
    plain = re.sub(r"\[[^]]+\]", _a_member, pattern)
    plain = plain.replace("?", "x")
    names = {plain.replace("*", fill) for fill in ("", suffix, "x" + suffix)}
    names |= {name + suffix for name in set(names)}
    return any(n.lower().endswith(suffix) and fnmatch.fnmatchcase(n, pattern) for n in names)


def _a_member(character_class: re.Match[str]) -> str:
    members = (c for c in "xaA0_-." if fnmatch.fnmatchcase(c, character_class.group(0)))
    return next(members, "x")


@dataclass(frozen=True)
class Observation:
    size: int
    mtime_ns: int
    inode: int


class Settler:
    """Tracks candidates and tells which have been still long enough to claim.

    Thousands of files can wait at once, and the scout asks after every event, so the names are
    kept sorted and the earliest change in a heap: asking for the next few costs little more
    than finding them, not a sort of everything waiting."""

    def __init__(self, settle_seconds: float) -> None:
        self._settle = settle_seconds
        self._seen: dict[str, tuple[Observation, float]] = {}
        self._open: dict[str, int] = {}
        self._names: list[str] = []
        self._changes: list[tuple[float, str]] = []  # (since, name); stale entries skipped

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
        if previous is None:
            bisect.insort(self._names, name)
        if previous is None or previous[0] != observation:
            self._seen[name] = (observation, now)
            heapq.heappush(self._changes, (now, name))
            if len(self._changes) > 2 * len(self._seen) + 64:  # a file written to for long
                self._changes = [(since, n) for n, (_, since) in self._seen.items()]
                heapq.heapify(self._changes)

    def forget(self, name: str) -> None:
        if self._seen.pop(name, None) is not None:
            del self._names[bisect.bisect_left(self._names, name)]
        self._open.pop(name, None)

    def ready(self, now: float, limit: int | None = None) -> list[str]:
        """Names closed and unchanged for settle_seconds, in name order; the first `limit`."""
        found: list[str] = []
        for name in self._names:
            if limit is not None and len(found) >= limit:
                break
            if self.settled(name, now):
                found.append(name)
        return found

    def settled(self, name: str, now: float) -> bool:
        entry = self._seen.get(name)
        return entry is not None and self._settled(name, now - entry[1])

    def _settled(self, name: str, still_for: float) -> bool:
        if still_for < self._settle:
            return False
        return name not in self._open or still_for >= max(STALE_OPEN_SECONDS, self._settle)

    def next_deadline(self) -> float | None:
        """When the earliest candidate becomes ready, if any is waiting."""
        changes = self._changes
        while changes:
            since, name = changes[0]
            entry = self._seen.get(name)
            if entry is not None and entry[1] == since:
                return since + self._settle
            heapq.heappop(changes)  # forgotten, or changed again since
        return None

    def __len__(self) -> int:
        return len(self._seen)

    def __contains__(self, name: object) -> bool:
        return name in self._seen
