"""Filesystem events for the inboxes: the handler only enqueues a name and returns."""

from __future__ import annotations

import os
import queue
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer


class _Enqueue(FileSystemEventHandler):
    def __init__(self, folder: Path, names: queue.SimpleQueue[str | None]) -> None:
        self._folder = os.fsdecode(folder)
        self._names = names

    def on_any_event(self, event: FileSystemEvent) -> None:
        for path in (event.src_path, getattr(event, "dest_path", "")):
            path = os.fsdecode(path)
            if path and os.path.dirname(path) == self._folder:
                self._names.put(os.path.basename(path))


class Watcher:
    """One inotify observer for every inbox folder (creates, writes, closes and moves alike)."""

    def __init__(self) -> None:
        self._observer = Observer()

    def watch(self, folder: Path, names: queue.SimpleQueue[str | None]) -> None:
        self._observer.schedule(_Enqueue(folder, names), os.fsdecode(folder), recursive=False)

    def start(self) -> None:
        self._observer.start()

    def stop(self) -> None:
        self._observer.stop()
        self._observer.join(timeout=5)
