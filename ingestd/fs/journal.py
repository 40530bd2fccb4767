"""The journal on disk: create it durably, reopen it after a crash, append with fsync."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Self

from ingestd.core.journal import Begin, Entry, JournalState, advance, encode, replay
from ingestd.errors import SpoolIOError
from ingestd.fs import durable


class JournalFile:
    def __init__(self, path: Path, state: JournalState) -> None:
        self.path = path
        self.state = state
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW)

    @classmethod
    def create(cls, path: Path, begin: Begin, mode: int = 0o640) -> JournalFile:
        data = encode(begin)
        try:
            durable.write_file(path, data, mode)
        except OSError as exc:
            raise SpoolIOError(f"cannot write the journal: {exc.strerror}") from exc
        return cls(path, replay(data))

    @classmethod
    def open(cls, path: Path) -> JournalFile:
        """Replay an existing journal and cut off a torn last line before appending again."""
        state = replay(path.read_bytes())
        journal = cls(path, state)
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
            durable.append(self._fd, encode(entry))
        except OSError as exc:
            raise SpoolIOError(f"cannot append to the journal: {exc.strerror}") from exc
        advance(self.state, entry)

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
