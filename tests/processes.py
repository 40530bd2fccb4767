"""The processes a test's readers fork, seen through /proc."""

from __future__ import annotations

import os
from pathlib import Path

from bench import stack
from ingestd.readers import ReadDetails, Reader, SourceStream


def children(parent: int | None = None) -> list[int]:
    return stack.children(os.getpid() if parent is None else parent)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def check_abandoned_reading(reader: Reader, path: Path, scratch: Path) -> None:
    """A reading stopped after its first record had a second process, and leaves none."""
    before = set(children())
    fd = os.open(path, os.O_RDONLY)
    try:
        records = reader.records(SourceStream(fd, scratch), ReadDetails())
        next(records)
        assert len(set(children()) - before) == 1
        records.close()
    finally:
        os.close(fd)
    assert set(children()) <= before
