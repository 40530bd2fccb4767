"""The validation pass in a parser process, with a memory limit and a time limit.

Parsers are C extensions fed by strangers: a file can make one eat memory without bound (ijson
builds a prefix string per event, so 100,000 nested brackets cost gigabytes) or crash the
interpreter. Each worker therefore stages through a parser process of its own, forked from a
forkserver with the parsers preloaded, started when the worker first has a file to stage and
kept for the next. The process's address space is capped with RLIMIT_AS; a MemoryError, or a
process that dies, fails the file with a report instead of the daemon. A process that dies is
replaced, and the file gets one more try in a fresh one, in case something else on the machine
(the kernel's OOM killer) took it.

The exchange is typed: a StageRequest goes in, and a Staged, a FileFailed or a SpoolIOError
comes back. A worker may send the next file's request ahead (`stage_ahead`) while it sends the
current one's chunks; asking later for the same request takes that answer.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import resource
import signal
import time
from dataclasses import dataclass
from typing import Any

from ingestd import heap
from ingestd.errors import FileFailed, InvalidInput, ParserUnavailable, SpoolIOError
from ingestd.pipeline.staging import Checkpoint, Staged, StageRequest, stage

POLL_SECONDS = 0.5
PRELOAD = [  # not openpyxl: a parser imports it with its first workbook (6.6 MB a JSON-only
    # daemon does not need, and pages a parser would copy from the forkserver as it used them)
    "ingestd.pipeline.forkserver_init",
    "ingestd.pipeline.staging",
    "ingestd.readers.json.reference",
    "ingestd.readers.excel.reference",
]

Answer = Staged | FileFailed | SpoolIOError
"""What the parser process sends back for a request."""


@dataclass(frozen=True)
class Died:
    """The parser process ended without answering: `code` as multiprocessing gives it."""

    code: int | None

    def describe(self) -> str:
        if self.code is not None and self.code < 0:
            return f"killed by {signal.Signals(-self.code).name}"
        return f"exit status {self.code}"


def forkserver_context(preload: list[str] = PRELOAD) -> Any:
    """The multiprocessing context parser processes come from: a forkserver with the parsers
    loaded, so a new process costs a fork, not an interpreter's start-up."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(preload)
    return context


class ParserProcess:
    """One worker's parser process: a Stager that stages in a process of its own."""

    def __init__(
        self, memory_limit_mb: int, time_limit_seconds: float, context: Any | None = None
    ) -> None:
        self._memory_mb = memory_limit_mb
        self._time_limit = time_limit_seconds
        self._context = context or forkserver_context()
        self._child: _Child | None = None
        self._pending: StageRequest | None = None  # sent ahead, answer not read yet

    @property
    def pid(self) -> int | None:
        return self._child.process.pid if self._child is not None else None

    def stage(self, request: StageRequest, checkpoint: Checkpoint) -> Staged:
        answer = self._exchange(request, checkpoint)
        if isinstance(answer, Died):
            answer = self._exchange(request, checkpoint)  # the OOM killer, say: a fresh process
        if isinstance(answer, Died):
            raise InvalidInput(
                f"the parser died on this file twice ({answer.describe()}); the memory limit is "
                f"{self._memory_mb} MB (parse_memory_limit_mb)"
            )
        if isinstance(answer, Staged):
            return answer
        raise answer

    def stage_ahead(self, request: StageRequest) -> None:
        if self._pending is not None:
            return  # one at a time
        child = self._started()
        try:
            child.conn.send(request)
        except OSError:
            self.close()
            return
        self._pending = request

    def holds(self, request: StageRequest) -> bool:
        return self._pending == request

    def close(self) -> None:
        """Stop the parser process, whatever it is doing."""
        child, self._child, self._pending = self._child, None, None
        if child is not None:
            child.stop()

    def _exchange(self, request: StageRequest, checkpoint: Checkpoint) -> Answer | Died:
        child = self._started()
        pending, self._pending = self._pending, None
        deadline = time.monotonic() + self._time_limit
        try:
            if pending is not None and pending != request:
                self._receive(child, checkpoint, deadline)  # staged ahead for nothing: dropped
            if pending != request:
                child.conn.send(request)
            return self._receive(child, checkpoint, deadline)
        except (EOFError, OSError):
            self._child = None
            return Died(child.stop())
        except BaseException:
            self.close()  # interrupted or timed out: the process may be mid-file
            raise

    def _receive(self, child: _Child, checkpoint: Checkpoint, deadline: float) -> Answer:
        while not child.conn.poll(POLL_SECONDS):
            checkpoint()
            if not child.process.is_alive():
                raise EOFError
            if time.monotonic() > deadline:
                raise InvalidInput(
                    f"validating the file took longer than {self._time_limit:.0f} s "
                    "(parse_time_limit_seconds)"
                )
        answer: Answer = child.conn.recv()
        return answer

    def _started(self) -> _Child:
        if self._child is not None and self._child.process.is_alive():
            return self._child
        self._pending = None  # a new process has not been asked anything
        try:
            self._child = _Child(self._context, self._memory_mb)
        except Exception as exc:  # the forkserver is gone: multiprocessing says so variously
            raise ParserUnavailable(
                f"cannot start a parser process: {type(exc).__name__}: {exc}"
            ) from exc
        return self._child


class _Child:
    def __init__(self, context: Any, memory_mb: int) -> None:
        self.conn, theirs = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(theirs, memory_mb), daemon=True, name="ingestd-parser"
        )
        self.process.start()
        theirs.close()

    def stop(self) -> int | None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()
        return self.process.exitcode  # type: ignore[no-any-return]


def _serve(conn: multiprocessing.connection.Connection, memory_mb: int) -> None:
    """The parser process: stage one file per request until the daemon goes away."""
    parent = multiprocessing.parent_process()  # the daemon (not the forkserver)
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    while True:
        try:
            request: StageRequest = conn.recv()
        except (EOFError, OSError):
            return
        _exit_if_orphaned(parent)
        answer = _answer(request, memory_mb, lambda: _exit_if_orphaned(parent))
        try:
            conn.send(answer)
        except OSError:  # the daemon is gone (stopped or killed): nobody waits for this file
            return
        heap.give_back_freed_memory()  # the file's garbage, not kept until the next; after the
        # answer, so that nobody waits for it


def _exit_if_orphaned(parent: multiprocessing.process.BaseProcess | None) -> None:
    """A process still staging after the daemon was killed could write a claim's staged file
    while the restarted daemon stages it again: it stops at the next checkpoint instead."""
    if parent is not None and not parent.is_alive():
        os._exit(0)


def _answer(request: StageRequest, memory_mb: int, checkpoint: Checkpoint) -> Answer:
    """Every way staging can end, as a value the daemon can receive."""
    try:
        return stage(request, checkpoint)
    except (FileFailed, SpoolIOError) as exc:
        return exc
    except MemoryError:
        return InvalidInput(
            f"parsing this file needs more than the {memory_mb} MB memory limit "
            "(parse_memory_limit_mb)"
        )
    except RecursionError:
        return InvalidInput("the file nests too deeply to be read")
    except Exception as exc:  # a parser's own surprise is about this file, not the daemon
        return InvalidInput(f"the file cannot be read: {type(exc).__name__}: {exc}")
