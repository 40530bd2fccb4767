"""systemd notifications: silent outside systemd, and never more than one safe line per field."""

from __future__ import annotations

import sdnotify

from ingestd.core.names import printable_name


class Notifier:
    def __init__(self, notifier: sdnotify.SystemdNotifier | None = None) -> None:
        self._notifier = notifier or sdnotify.SystemdNotifier()

    def ready(self) -> None:
        self._notifier.notify("READY=1")

    def status(self, text: str) -> None:
        line = printable_name(text).encode("ascii", "backslashreplace").decode("ascii")
        self._notifier.notify("STATUS=" + line[:1000])

    def stopping(self) -> None:
        self._notifier.notify("STOPPING=1")
