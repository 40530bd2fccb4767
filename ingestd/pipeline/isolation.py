"""The validation pass in a child process, with a memory limit and a time limit.

Parsers are C extensions fed by strangers: a file can make one eat memory without bound (ijson
builds a prefix string per event, so 100,000 nested brackets cost gigabytes) or crash the
interpreter. Each worker thread therefore stages through its own long-lived child process,
forked from a forkserver with the parsers preloaded. The child's address space is capped with
RLIMIT_AS; a MemoryError or a child that dies fails the file with a report instead of the
daemon. A child that dies is replaced, and the file gets one more try in a fresh child, in case
something else on the machine (the kernel's OOM killer) took it.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import multiprocessing.forkserver
import os
import resource
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ingestd.core.chunking import ChunkLimits
from ingestd.errors import InvalidInput, ParserUnavailable, SpoolIOError
from ingestd.pipeline.staging import Staged, stage_file
from ingestd.readers import Reader

POLL_SECONDS = 0.5
Request = tuple[Path, Reader, ChunkLimits, Path, Path]
Upcoming = Callable[[Staged], Request | None]
_PRELOAD = [
    "ingestd.pipeline.forkserver_init",
    "ingestd.pipeline.staging",
    "ingestd.readers.json.reference",
    "ingestd.readers.excel.reference",
    "openpyxl",
]


class IsolatedStager:
    def __init__(self, memory_limit_mb: int, time_limit_seconds: float) -> None:
        self._memory_mb = memory_limit_mb
        self._time_limit = time_limit_seconds
        self._local = threading.local()
        self._pids: set[int] = set()
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(_PRELOAD)

    def __call__(
        self,
        path: Path,
        reader: Reader,
        limits: ChunkLimits,
        staged: Path,
        index: Path,
        checkpoint: Callable[[], None],
    ) -> Staged:
        request = (path, reader, limits, staged, index)
        try:
            staged_file = self._run(request, checkpoint)
        except _ChildDied:
            staged_file = self._run(request, checkpoint, last_try=True)
        upcoming: Upcoming | None = getattr(self._local, "upcoming", None)
        if upcoming is not None:
            self._prefetch(upcoming(staged_file))
        return staged_file

    def stage_ahead(self, upcoming: Upcoming) -> None:
        """After each file it stages, the calling thread's child starts on the request that
        `upcoming` returns, given what was just staged (the file this thread will ask for next,
        or None), so that it is staged while this thread sends the one before. A request asked
        for later is answered from it."""
        self._local.upcoming = upcoming

    def _prefetch(self, request: Request | None) -> None:
        if request is None:
            return
        child = self._child()
        try:
            child.conn.send(request)
        except OSError:
            self._drop_child()
            return
        self._local.pending = request

    def warm_up(self) -> None:
        """Start the forkserver (an interpreter with the parsers loaded) before any file; it
        and its parsers ignore the stop signals (forkserver_init)."""
        multiprocessing.forkserver.ensure_running()

    def prepare(self) -> None:
        """Start the calling thread's child now, so the first file does not wait for it."""
        self._child()

    def close(self) -> None:
        """Stop the calling thread's child."""
        self._drop_child()

    def _run(
        self, request: Request, checkpoint: Callable[[], None], last_try: bool = False
    ) -> Staged:
        child = self._child()
        pending, self._local.pending = getattr(self._local, "pending", None), None
        deadline = time.monotonic() + self._time_limit
        try:
            if pending is not None and pending != request:
                self._answer(child, checkpoint, deadline)  # staged ahead for nothing: dropped
            if pending != request:
                child.conn.send(request)
            kind, *payload = self._answer(child, checkpoint, deadline)
        except (EOFError, OSError):
            code = self._drop_child()
            if not last_try:
                raise _ChildDied() from None
            raise InvalidInput(
                f"the parser died on this file twice ({_describe(code)}); the memory limit is "
                f"{self._memory_mb} MB (parse_memory_limit_mb)"
            ) from None
        except BaseException:
            self._drop_child()  # interrupted or timed out: the child may be mid-file
            raise
        if kind == "ok":
            return payload[0]  # type: ignore[no-any-return]
        if kind == "oserror":
            raise SpoolIOError(f"validation could not write to work/: {payload[1]}")
        raise InvalidInput(payload[0], **payload[1])

    def _answer(
        self, child: _Child, checkpoint: Callable[[], None], deadline: float
    ) -> tuple[Any, ...]:
        while not child.conn.poll(POLL_SECONDS):
            checkpoint()
            if not child.process.is_alive():
                raise EOFError
            if time.monotonic() > deadline:
                raise InvalidInput(
                    f"validating the file took longer than {self._time_limit:.0f} s "
                    "(parse_time_limit_seconds)"
                )
        answer: tuple[Any, ...] = child.conn.recv()
        return answer

    def pids(self) -> set[int]:
        """The children staging now or waiting for a file."""
        return set(self._pids)

    def _child(self) -> _Child:
        child: _Child | None = getattr(self._local, "child", None)
        if child is None or not child.process.is_alive():
            if child is not None:
                self._pids.discard(child.process.pid)
            self._local.pending = None  # a new child has not been asked anything
            self._local.child = None
            try:
                child = _Child(self._context, self._memory_mb)
            except Exception as exc:  # the forkserver is gone: multiprocessing says so variously
                raise ParserUnavailable(
                    f"cannot start a parser process: {type(exc).__name__}: {exc}"
                ) from exc
            self._local.child = child
            self._pids.add(child.process.pid)
        return child

    def _drop_child(self) -> int | None:
        child: _Child | None = getattr(self._local, "child", None)
        self._local.child = None
        self._local.pending = None
        if child is None:
            return None
        self._pids.discard(child.process.pid)
        return child.stop()


class _ChildDied(Exception):
    pass


class _Child:
    def __init__(self, context: Any, memory_mb: int) -> None:
        self.conn, theirs = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(theirs, memory_mb), daemon=True, name="ingestd-stager"
        )
        self.process.start()
        theirs.close()

    def stop(self) -> int | None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()
        return self.process.exitcode  # type: ignore[no-any-return]


def _describe(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit status {code}"


def _serve(conn: multiprocessing.connection.Connection, memory_mb: int) -> None:
    """The child: stage one file per request until the parent goes away."""
    parent = multiprocessing.parent_process()  # the daemon (not the forkserver)
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    while True:
        try:
            path, reader, limits, staged, index = conn.recv()
        except (EOFError, OSError):
            return
        _exit_if_orphaned(parent)
        result = _stage_one(
            path, reader, limits, staged, index, memory_mb, lambda: _exit_if_orphaned(parent)
        )
        try:
            conn.send(result)
        except OSError:  # the daemon is gone (stopped or killed): nobody waits for this file
            return


def _exit_if_orphaned(parent: multiprocessing.process.BaseProcess | None) -> None:
    """A child still staging after the daemon was killed could write a claim's staged file
    while the restarted daemon stages it again: it stops at the next checkpoint instead."""
    if parent is not None and not parent.is_alive():
        os._exit(0)


def _stage_one(
    path: Path,
    reader: Reader,
    limits: ChunkLimits,
    staged: Path,
    index: Path,
    memory_mb: int,
    checkpoint: Callable[[], None],
) -> tuple[Any, ...]:
    try:
        return ("ok", stage_file(path, reader, limits, staged, index, checkpoint))
    except InvalidInput as exc:
        return ("invalid", exc.message, exc.where)
    except MemoryError:
        return (
            "invalid",
            f"parsing this file needs more than the {memory_mb} MB memory limit "
            "(parse_memory_limit_mb)",
            {},
        )
    except OSError as exc:
        return ("oserror", exc.errno, exc.strerror)
    except RecursionError:
        return ("invalid", "the file nests too deeply to be read", {})
    except Exception as exc:  # a parser's own surprise is about this file, not the daemon
        return ("invalid", f"the file cannot be read: {type(exc).__name__}: {exc}", {})
