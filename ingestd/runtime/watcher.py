"""Filesystem events for the inboxes: the callback only enqueues (what happened, name) and
returns.

watchdog's inotify instance (InotifyFD) delivers the kernel's events to callbacks; ingestd
registers one per inbox folder. It does not use watchdog's observer, which holds every
IN_MOVED_FROM for half a second to pair it with its IN_MOVED_TO: a rename inside the inbox (an
SFTP client's "x.filepart" becoming "x") would wait that long, and ingestd never needs the
pairs, since it looks at both names afresh. An overflowing kernel queue is passed on as LOST,
and the scout lists its inbox at once.
"""

from __future__ import annotations

import itertools
import os
import queue
from dataclasses import dataclass
from pathlib import Path

from watchdog.observers.inotify_c import (
    CallbackId,
    InotifyConstants,
    InotifyEvent,
    InotifyFD,
    Mask,
    WatchDescriptor,
)

OPENED, CLOSED, CHANGED, LOST = "opened", "closed", "changed", "lost"
Event = tuple[str, str]  # (what happened, file name)
MASK = Mask(
    InotifyConstants.IN_CREATE
    | InotifyConstants.IN_MOVED_FROM
    | InotifyConstants.IN_MOVED_TO
    | InotifyConstants.IN_DELETE
    | InotifyConstants.IN_OPEN
    | InotifyConstants.IN_CLOSE_WRITE
    | InotifyConstants.IN_CLOSE_NOWRITE
)
"""Names appearing and vanishing, and writers opening and closing. Not writes (IN_MODIFY, one per
write call: tens of thousands for a large upload) nor attribute changes: the scout looks at a
file once more just before claiming it, and a change it finds there restarts the settling."""


@dataclass(frozen=True)
class Watch:
    wd: WatchDescriptor
    id: CallbackId


class _Enqueue:
    """watchdog's WatchCallback for one inbox folder."""

    def __init__(self, events: queue.SimpleQueue[Event | None]) -> None:
        self._events = events

    def on_event(self, event: InotifyEvent) -> None:
        if not event.name:
            return
        if event.is_open:
            kind = OPENED
        elif event.is_close_write or event.is_close_nowrite:
            kind = CLOSED
        else:
            kind = CHANGED
        self._events.put((kind, os.fsdecode(event.name)))

    def on_watch_deleted(self, wd: WatchDescriptor) -> None:
        self._events.put((LOST, ""))

    def on_queue_overflow(self) -> None:
        self._events.put((LOST, ""))

    def on_events_lost(self) -> None:
        pass


class Watcher:
    """One inotify instance for every inbox folder."""

    def __init__(self) -> None:
        self._inotify = InotifyFD()
        self._ids = itertools.count(1)

    def watch(self, folder: Path, events: queue.SimpleQueue[Event | None]) -> Watch:
        identity = CallbackId(next(self._ids))
        wd = self._inotify.add_callback(os.fsencode(folder), MASK, _Enqueue(events), identity)
        return Watch(wd, identity)

    def unwatch(self, watch: Watch) -> None:
        self._inotify.remove_callbacks([(watch.wd, watch.id)])

    def alive(self) -> bool:
        return self._inotify.is_alive()

    def start(self) -> None:
        self._inotify.start()

    def stop(self) -> None:
        self._inotify.stop()
        if self._inotify.ident is not None:  # started
            self._inotify.join(timeout=5)
