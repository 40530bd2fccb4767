"""A claim folder, `work/<token>/`: the one owner of every path and file in it.

It holds one data file, `<name>`, and beside it only files named `<name><suffix>`: the journal
and the failure report (the receipts, which move to done/ and failed/ with the file), the staged
copy, the chunk index and the retry state (which never leave work/), and the temporary names
of their atomic writes. The index is written as `.index` and renamed to `.chunks` once the
journal exists, so a journal that disappears later is noticed, not silently restarted.

An admin who moves a finished folder's contents back into the inbox moves the receipts too: a
receipt is recognised by its name **and** its content, and is never ingested.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from ingestd.core.chunking import ChunkSpan
from ingestd.core.journal import Begin
from ingestd.errors import SpoolIOError, WorkDamaged
from ingestd.fs.durable import Disk, open_regular, unlink_quietly
from ingestd.fs.journal import JournalFile

JOURNAL = ".journal"
REPORT = ".error.json"
RETRY_STATE = ".retry.json"
STAGED = ".staged"
INDEX = ".index"
CHUNKS = ".chunks"
TEMPORARY = ".tmp"
SUFFIXES = (JOURNAL, REPORT, RETRY_STATE, STAGED, INDEX, CHUNKS)
_ALL_SUFFIXES = SUFFIXES + tuple(s + TEMPORARY for s in SUFFIXES)
_LEFTOVERS = (STAGED, INDEX, CHUNKS, RETRY_STATE)
_READ_AT_MOST = 1 << 20
_BUFFER = 1 << 20
_REPORT_KEYS = frozenset({"file", "reason", "error", "what_to_do"})
_RETRY_KEYS = frozenset({"reason", "attempt", "since", "next_try_at"})
_JOURNAL_KEYS = frozenset({"type", "ingestion_id", "journal_version", "claim_token"})


def private_mode(dropped_mode: int) -> int:
    """Copies of a file's data are never readable by more users than the dropped file, and
    never by others at all."""
    return dropped_mode & 0o640


@dataclass(frozen=True)
class ClaimFolder:
    """work/<token>/ and everything in it. `parents` are the folders whose entries the claim's
    rename changed (work/ and inbox/): fsynced with the claim folder to make the claim durable."""

    folder: Path
    name: str
    disk: Disk = field(default_factory=Disk, compare=False, repr=False)
    parents: tuple[Path, ...] = ()
    durable: bool = True  # False: the claim's renames may not be durable yet (make_durable)

    @cached_property
    def token(self) -> str:
        return self.folder.name

    @cached_property
    def data(self) -> Path:
        return self.folder / self.name

    def _path(self, suffix: str) -> Path:
        return self.folder / (self.name + suffix)

    @classmethod
    def in_folder(
        cls, folder: Path, disk: Disk | None = None, parents: tuple[Path, ...] = ()
    ) -> ClaimFolder | None:
        """The claim a folder holds: its data file is the name every other entry extends (it
        may be gone, moved out by an admin); None for an empty folder. Found after a restart,
        its claim is made durable again before anything is sent."""
        entries = os.listdir(folder)
        if not entries:
            return None
        found = data_name(entries, lambda n: receipt_kind(folder / n) is not None)
        name = found[0] if found is not None else min(entries, key=len)
        return cls(folder, name, disk or Disk(), parents, durable=False)

    # -- the claim itself ------------------------------------------------------------------

    def exists(self) -> bool:
        return self.folder.exists()

    def make_durable(self) -> None:
        """Make the claim's rename durable: this folder and its parents fsynced."""
        with _io("cannot make the claim durable"):
            for folder in (self.folder, *self.parents):
                self.disk.fsync_dir(folder)

    def open_data(self) -> tuple[int, os.stat_result]:
        """The claimed file, opened once, safely: no links, no FIFOs, a single hard link."""
        return open_regular(self.data)

    def private_mode(self) -> int:
        """The mode of every copy and receipt of the data: no more readable than it."""
        try:
            return private_mode(os.lstat(self.data).st_mode)
        except OSError:
            return 0o600

    # -- staging ---------------------------------------------------------------------------

    def create_staged(self, mode: int) -> BinaryIO:
        return _create(self._path(STAGED), mode)

    def create_index(self, mode: int) -> BinaryIO:
        return _create(self._path(INDEX), mode)

    def staged_durably(self) -> None:
        """The staged file's and the index's names are durable, before a journal vouches."""
        with _io("cannot fsync the claim folder"):
            self.disk.fsync_dir(self.folder)

    def was_sent(self) -> bool:
        """Whether chunks were sent from here: the index was sealed by a journal."""
        return self._path(CHUNKS).exists()

    def seal_index(self) -> None:
        """Rename the index to .chunks once the journal exists (again, after a crash between)."""
        index, chunks = self._path(INDEX), self._path(CHUNKS)
        if index.exists() and not chunks.exists():
            with _io("cannot seal the chunk index"):
                self.disk.rename_noreplace(index, chunks)
                self.disk.fsync_dir(self.folder)

    def check_against(self, begin: Begin) -> None:
        """Refuse to go on if the files the journal vouches for were changed behind our back."""
        expected = {
            self.data: begin.file_size,
            self._path(STAGED): begin.staged_size,
            self._path(CHUNKS): begin.chunk_count * ChunkSpan.SIZE,
        }
        for path, size in expected.items():
            try:
                actual = os.lstat(path).st_size
            except FileNotFoundError:
                raise WorkDamaged(f"{path.name} is missing from work/") from None
            if actual != size:
                raise WorkDamaged(f"{path.name} is {actual} bytes, the journal says {size}")

    @contextlib.contextmanager
    def chunks(self) -> Iterator[StagedChunks]:
        """The sealed index and the staged records, open while chunks are sent."""
        try:
            index = os.open(self._path(CHUNKS), os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError as exc:
            raise WorkDamaged(f"the chunk index cannot be opened: {exc.strerror}") from exc
        try:
            staged = os.open(self._path(STAGED), os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError as exc:
            os.close(index)
            raise WorkDamaged(f"the staged records cannot be opened: {exc.strerror}") from exc
        try:
            yield StagedChunks(index, staged)
        finally:
            os.close(index)
            os.close(staged)

    def span(self, number: int) -> ChunkSpan:
        """One entry of the sealed index, for a report (how far a failed file got)."""
        with self.chunks() as chunks:
            return chunks.span(number)

    # -- the journal -----------------------------------------------------------------------

    def has_journal(self) -> bool:
        return self._path(JOURNAL).exists()

    def create_journal(self, begin: Begin) -> JournalFile:
        return JournalFile.create(self._path(JOURNAL), begin, self.disk, self.private_mode())

    def open_journal(self) -> JournalFile:
        return JournalFile.open(self._path(JOURNAL), self.disk)

    def journal_bytes(self) -> bytes | None:
        try:
            return self._path(JOURNAL).read_bytes()
        except OSError:
            return None

    # -- the report ------------------------------------------------------------------------

    def has_report(self) -> bool:
        return self._path(REPORT).exists()

    def write_report(self, report: dict[str, Any]) -> None:
        body = orjson.dumps(report, option=orjson.OPT_INDENT_2)
        try:
            self.disk.write_file(self._path(REPORT), body, self.private_mode())
        except OSError as exc:
            raise SpoolIOError(f"cannot write the failure report: {exc.strerror}") from exc

    def report(self) -> dict[str, Any] | None:
        return _read_json(self._path(REPORT))

    # -- the retry state (advisory, for `ingestd status`) ------------------------------------

    def write_retry_state(self, state: dict[str, Any]) -> None:
        """Atomic but not fsynced: nothing depends on it surviving a crash."""
        with contextlib.suppress(OSError):
            self.disk.write_file(self._path(RETRY_STATE), orjson.dumps(state), sync=False)

    def clear_retry_state(self) -> None:
        unlink_quietly(self._path(RETRY_STATE))

    def retry_state(self) -> dict[str, Any] | None:
        return _read_json(self._path(RETRY_STATE))

    def remove_leftovers(self) -> None:
        """What never leaves work/: the staged copy, the index and the retry state."""
        with _io("cannot remove the staged copy"):
            for suffix in _LEFTOVERS:
                unlink_quietly(self._path(suffix))


class StagedChunks:
    """Chunks cut from the staged records by the sealed index: each a span and its bytes."""

    def __init__(self, index: int, staged: int) -> None:
        self._index = index
        self._staged = staged

    def span(self, number: int) -> ChunkSpan:
        try:
            data = os.pread(self._index, ChunkSpan.SIZE, number * ChunkSpan.SIZE)
        except OSError as exc:
            raise WorkDamaged(f"the chunk index cannot be read: {exc.strerror}") from exc
        if len(data) != ChunkSpan.SIZE:
            raise WorkDamaged(f"chunk {number} is missing from the chunk index")
        return ChunkSpan.unpack(data)

    def span_holding(self, record: int, count: int) -> ChunkSpan:
        """The staged chunk (of `count`) that holds record `record`, found by bisection."""
        low, high = 0, count - 1
        while low < high:
            middle = (low + high + 1) // 2
            if self.span(middle).record_offset <= record:
                low = middle
            else:
                high = middle - 1
        return self.span(low)

    def lines(self, span: ChunkSpan) -> bytes:
        """The chunk's staged records, one canonical record per line."""
        try:
            return os.pread(self._staged, span.byte_end - span.byte_start, span.byte_start)
        except OSError as exc:
            raise WorkDamaged(f"the staged records cannot be read: {exc.strerror}") from exc


@contextlib.contextmanager
def _io(what: str) -> Iterator[None]:
    """OSError becomes SpoolIOError: the step is tried again later, nothing was recorded."""
    try:
        yield
    except OSError as exc:
        raise SpoolIOError(f"{what}: {exc.strerror or exc}") from exc


def _create(path: Path, mode: int) -> BinaryIO:
    unlink_quietly(path)  # a leftover of an interrupted pass may have another mode
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, mode)
    return open(fd, "wb", buffering=_BUFFER)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


# -- receipts ------------------------------------------------------------------------------


def has_receipt_name(name: str) -> bool:
    """Whether `name` ends like a receipt (a journal, a failure report, a retry state)."""
    return name.endswith((JOURNAL, REPORT, RETRY_STATE))


def receipt_kind(path: Path) -> str | None:
    """'journal', 'failure report' or 'retry state' if `path` is one of ingestd's own, by its
    name and its content; None for anything else (data, or a file that only looks like one)."""
    name = path.name
    if not has_receipt_name(name):
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            head = os.read(fd, _READ_AT_MOST)
        finally:
            os.close(fd)
    except OSError:
        return None
    if name.endswith(JOURNAL):
        return "journal" if _keys(head.split(b"\n", 1)[0]) >= _JOURNAL_KEYS else None
    if name.endswith(REPORT):
        return "failure report" if _keys(head) >= _REPORT_KEYS else None
    return "retry state" if _keys(head) >= _RETRY_KEYS else None


def _keys(text: bytes) -> frozenset[str]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return frozenset()
    return frozenset(value) if isinstance(value, dict) else frozenset()


def data_name(entries: Iterable[str], is_receipt: Callable[[str], bool]) -> tuple[str, bool] | None:
    """The data file's name among a claim folder's entries, and whether it is still there; None
    if the entries are not one claim's. Every entry must be the data name or the data name with
    a suffix of ours. When one lone entry could be either (`x.json.journal` is a data file's
    name or a journal's), `is_receipt(entry)` decides."""
    names = sorted(set(entries))
    if not names:
        return None
    candidates = set(names) | {_stem(n) for n in names if _stem(n)}
    fitting = sorted(d for d in candidates if all(_belongs(n, d) for n in names))
    present = [d for d in fitting if d in names]
    absent = [d for d in fitting if d not in names]
    if present and not (absent and is_receipt(present[0])):
        return present[0], True
    return (absent[0], False) if absent else None


def _stem(name: str) -> str:
    for suffix in _ALL_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return ""


def _belongs(entry: str, data: str) -> bool:
    return entry == data or (entry.startswith(data) and entry[len(data) :] in _ALL_SUFFIXES)
