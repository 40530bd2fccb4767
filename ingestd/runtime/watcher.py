"""Filesystem events for the inboxes: the handler only enqueues a name and returns."""

from __future__ import annotations

import contextlib
import importlib
import os
import queue
from pathlib import Path

from watchdog.events import (
    FileClosedEvent,
    FileClosedNoWriteEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    FileOpenedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import ObservedWatch

OPENED, CLOSED, CHANGED = "opened", "closed", "changed"
Event = tuple[str, str]  # (what happened, file name)
_KINDS = {"opened": OPENED, "closed": CLOSED, "closed_no_write": CLOSED}
_WANTED = [
    FileCreatedEvent,
    FileMovedEvent,
    FileDeletedEvent,
    FileOpenedEvent,
    FileClosedEvent,
    FileClosedNoWriteEvent,
]
"""Names appearing and vanishing, and writers opening and closing. Not writes (IN_MODIFY, one per
write call: tens of thousands for a large upload) nor attribute changes: the scout looks at a
file once more just before claiming it, and a change it finds there restarts the settling."""


class _Enqueue(FileSystemEventHandler):
    def __init__(self, folder: Path, events: queue.SimpleQueue[Event | None]) -> None:
        self._folder = os.fsdecode(folder)
        self._events = events

    def on_any_event(self, event: FileSystemEvent) -> None:
        kind = _KINDS.get(event.event_type, CHANGED)
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            path = os.fsdecode(raw)
            if path and os.path.dirname(path) == self._folder:
                self._events.put((kind, os.path.basename(path)))


_MOVE_PAIRING_SECONDS = 0.02
_MOVE_GROUPERS = (
    ("watchdog.observers.inotify_move_event_grouper", "InotifyMoveEventGrouper"),  # watchdog 5+
    ("watchdog.observers.inotify_buffer", "InotifyBuffer"),  # watchdog 4
)


def _pair_moves_quickly() -> None:
    """watchdog holds every IN_MOVED_FROM for half a second to pair it with its IN_MOVED_TO, and
    its reader sleeps out that half second even when the pair came in the same read. A rename
    inside the inbox (an SFTP client's "x.filepart" becoming "x", rsync's temporary names) would
    wait that long. ingestd never needs the pairs, since it looks at both names afresh, so the
    wait is cut to what pairing events of one read needs."""
    for module, name in _MOVE_GROUPERS:
        with contextlib.suppress(ImportError, AttributeError):
            grouper = getattr(importlib.import_module(module), name)
            grouper.delay = _MOVE_PAIRING_SECONDS


class Watcher:
    """One inotify observer for every inbox folder."""

    def __init__(self) -> None:
        _pair_moves_quickly()
        self._observer = Observer()

    def watch(self, folder: Path, events: queue.SimpleQueue[Event | None]) -> ObservedWatch:
        handler = _Enqueue(folder, events)
        return self._observer.schedule(
            handler, os.fsdecode(folder), recursive=False, event_filter=_WANTED
        )

    def unwatch(self, watch: ObservedWatch) -> None:
        self._observer.unschedule(watch)

    def alive(self) -> bool:
        return self._observer.is_alive()

    def start(self) -> None:
        self._observer.start()

    def stop(self) -> None:
        self._observer.stop()
        self._observer.join(timeout=5)
