"""The journal on disk: create it durably, reopen it after a crash, append with fsync.

Only a claim folder (fs/claim.py) opens its journal; the format is core/journal.py's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Self

from ingestd.core.journal import Begin, Entry, JournalState, advance, encode, replay
from ingestd.errors import SpoolIOError
from ingestd.fs.durable import Disk


class JournalFile:
    def __init__(self, path: Path, state: JournalState, disk: Disk) -> None:
        self.path = path
        self.state = state
        self._disk = disk
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW)

    @classmethod
    def create(cls, path: Path, begin: Begin, disk: Disk, mode: int = 0o640) -> JournalFile:
        data = encode(begin)
        try:
            disk.write_file(path, data, mode)
        except OSError as exc:
            raise SpoolIOError(f"cannot write the journal: {exc.strerror}") from exc
        return cls(path, replay(data), disk)

    @classmethod
    def open(cls, path: Path, disk: Disk) -> JournalFile:
        """Replay an existing journal and cut off a torn last line before appending again."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SpoolIOError(f"cannot read the journal: {exc.strerror}") from exc
        state = replay(data)
        journal = cls(path, state, disk)
        if state.torn_tail:
            try:
                os.ftruncate(journal._fd, state.valid_length)
                os.fsync(journal._fd)
            except OSError as exc:
                journal.close()
                raise SpoolIOError(f"cannot repair the journal: {exc.strerror}") from exc
            state.torn_tail = False
        return journal

    def append(self, entry: Entry) -> None:
        """Record `entry` durably; until this returns, the step it records has not happened."""
        try:
            self._disk.append(self._fd, encode(entry))
        except OSError as exc:
            raise SpoolIOError(f"cannot append to the journal: {exc.strerror}") from exc
        advance(self.state, entry)

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
