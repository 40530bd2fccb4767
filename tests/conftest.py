"""Every test leaves the process as it found it: no thread and no process it started is still
running after it (a daemon, a receiver, a parser, a server thread), and no warning passes
silently (pyproject.toml makes warnings errors)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from bench.stack import children

SETTLE_SECONDS = 5.0
LONG_LIVED = ("multiprocessing.forkserver", "multiprocessing.resource_tracker")
"""multiprocessing starts these once and keeps them for the whole test session; the parser
processes they fork are still checked."""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _processes() -> set[int]:
    """This process's live descendants, but for multiprocessing's own long-lived helpers."""
    found: set[int] = set()
    pending = children(os.getpid())
    while pending:
        pid = pending.pop()
        if not _alive(pid):
            continue
        if not any(helper in _cmdline(pid) for helper in LONG_LIVED):
            found.add(pid)
        pending.extend(children(pid))
    return found


def _threads() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if thread.is_alive()}


@pytest.fixture(autouse=True)
def nothing_left_running() -> Iterator[None]:
    threads, processes = _threads(), _processes()
    yield
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        leaked_threads = _threads() - threads
        leaked_processes = _processes() - processes
        if not leaked_threads and not leaked_processes:
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    names = sorted(thread.name for thread in leaked_threads)
    commands = sorted(f"{pid}: {_cmdline(pid)[:120]}" for pid in leaked_processes)
    pytest.fail(f"the test left running: threads {names}, processes {commands}")


@pytest.fixture(autouse=True)
def logging_as_found() -> Iterator[None]:
    """A test that starts a daemon in this process configures logging to the stdout of that
    moment (its own capture); the next test must not log into it."""
    yield
    structlog.reset_defaults()
