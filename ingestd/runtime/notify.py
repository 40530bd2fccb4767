"""systemd notifications through sdnotify: silent outside systemd, one safe line per message.

sdnotify swallows errors and encodes latin-1; every status passes through `printable_name` and
then ASCII escapes, so no file name can break the line or smuggle in another assignment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import sdnotify

from ingestd.core.names import printable_name

MAX_STATUS = 1000


class Notifier:
    """Talks to systemd when NOTIFY_SOCKET names its socket; says nothing otherwise."""

    def __init__(
        self,
        notifier: sdnotify.SystemdNotifier | None = None,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        if notifier is None and environ.get("NOTIFY_SOCKET"):
            notifier = sdnotify.SystemdNotifier()
        self._notifier = notifier
        self._last_status: str | None = None

    def _send(self, message: str) -> None:
        if self._notifier is not None:
            self._notifier.notify(message)

    def close(self) -> None:
        """Close the socket to systemd (sdnotify keeps it open for the process's life)."""
        sock = getattr(self._notifier, "socket", None)
        if sock is not None:
            sock.close()

    def ready(self) -> None:
        self._send("READY=1")

    def status(self, text: str) -> None:
        """Send STATUS= when it changed: one line of printable ASCII."""
        line = printable_name(text).encode("ascii", "backslashreplace").decode("ascii")
        line = line[:MAX_STATUS]
        if line != self._last_status:
            self._last_status = line
            self._send("STATUS=" + line)

    def watchdog(self) -> None:
        self._send("WATCHDOG=1")

    def reloading(self) -> None:
        self._send("RELOADING=1")

    def stopping(self) -> None:
        self._send("STOPPING=1")


def watchdog_interval() -> float | None:
    """Half of systemd's WatchdogSec, when systemd asked this process for pings."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or not usec.isdigit() or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2_000_000
