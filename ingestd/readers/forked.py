"""A reader's second process: forked to read the part of a file after a cut while the reader goes
on with the part before it. It writes its records, already canonical, to an anonymous file in
the claim folder and says over a pipe how far it got; the reader takes them from there, in order,
once it has settled that they are the records a single reading would have made.

The second process dies with the one that forked it (PR_SET_PDEATHSIG) and is killed when the
reading stops early, so no reading leaves one behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import tempfile
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection, Pipe
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn, Self

import orjson

from ingestd.readers import CanonicalRecord, Declined

_FLUSH_EVERY = 1024
_WAIT_SECONDS = 0.5
_PR_SET_PDEATHSIG = 1


class TailWriter:
    """The second process's side: canonical lines to the anonymous file, progress to the pipe."""

    def __init__(self, conn: Connection, fd: int) -> None:
        self._conn = conn
        self._fd = fd
        self._lines: list[bytes] = []
        self._written = 0

    def add(self, line: bytes) -> None:
        self._lines.append(line)
        if len(self._lines) >= _FLUSH_EVERY:
            self._flush()

    def add_all(self, lines: Iterable[bytes]) -> None:
        self._lines.extend(lines)
        if len(self._lines) >= _FLUSH_EVERY:
            self._flush()

    def finish(self, **done: Any) -> None:
        self._write()
        self._conn.send_bytes(orjson.dumps({"written": self._written, "done": True, **done}))

    def _flush(self) -> None:
        self._write()
        self._conn.send_bytes(orjson.dumps({"written": self._written}))

    def _write(self) -> None:
        if not self._lines:
            return
        view = memoryview(b"\n".join(self._lines) + b"\n")
        self._lines = []
        self._written += len(view)
        while view:
            view = view[os.write(self._fd, view) :]


Work = Callable[[Connection, TailWriter], None]
"""What the second process does: it may talk over the connection first, then writes its
records through the TailWriter and finishes it."""


class ForkedHalf:
    """The second process, seen from the one that forked it."""

    def __init__(self, work: Work, scratch: Path, what: str) -> None:
        self._what = what
        self._tail = tempfile.TemporaryFile(dir=scratch)  # noqa: SIM115 - closed by close()
        self._conn, theirs = Pipe()
        self._pid = os.fork()
        if self._pid == 0:  # the child: never returns
            self._conn.close()
            out = TailWriter(theirs, self._tail.fileno())
            _child(theirs, lambda: work(theirs, out))
        theirs.close()
        self._running = True
        self.done: dict[str, Any] = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def send(self, value: object) -> None:
        with contextlib.suppress(OSError):  # it has ended: what it says next will tell
            self._conn.send_bytes(orjson.dumps(value))

    def message(self) -> dict[str, Any] | None:
        """Its next message; None once it has ended without one."""
        while self._running and not self._conn.poll(_WAIT_SECONDS):
            if os.waitpid(self._pid, os.WNOHANG) != (0, 0):
                self._running = False
        try:
            return orjson.loads(self._conn.recv_bytes())  # type: ignore[no-any-return]
        except (EOFError, OSError):
            return None

    def records(self) -> Iterator[CanonicalRecord]:
        """Its records as it writes them; Declined if it ends without finishing."""
        read = 0
        while True:
            message = self.message()
            if message is None:
                raise Declined(f"the process reading the {self._what} ended")
            if "failed" in message:
                raise Declined(f"{self._what}: {message['failed']}")
            written = message["written"]
            if written > read:
                data = os.pread(self._tail.fileno(), written - read, read)
                read = written
                yield from map(CanonicalRecord, data.splitlines())
            if message.get("done"):
                self.done = message
                return

    def close(self) -> None:
        if self._running:
            self._running = False
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            os.waitpid(self._pid, 0)
        self._conn.close()
        self._tail.close()


def _child(conn: Connection, work: Callable[[], None]) -> NoReturn:
    code = 0
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        work()
    except BaseException as exc:  # whatever happened, the reader reads on without it
        code = 1
        with contextlib.suppress(BaseException):
            conn.send_bytes(orjson.dumps({"failed": f"{type(exc).__name__}: {exc}"}))
    finally:
        os._exit(code)
