"""The folders of one inbox: look and scan, claim by rename, list claims, finish to done/failed."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import stat
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import structlog

from ingestd.core.names import printable_name
from ingestd.core.settle import Observation, wanted
from ingestd.errors import ConfigError
from ingestd.fs import claim as receipts
from ingestd.fs import durable
from ingestd.runtime import failpoints

log = structlog.get_logger("ingestd.fs.spool")

RETRY_STATE = receipts.RETRY_STATE


@dataclass(frozen=True)
class Layout:
    root: Path

    @cached_property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @cached_property
    def work(self) -> Path:
        return self.root / "work"

    @cached_property
    def done(self) -> Path:
        return self.root / "done"

    @cached_property
    def failed(self) -> Path:
        return self.root / "failed"

    def folders(self) -> tuple[Path, Path, Path, Path]:
        return (self.inbox, self.work, self.done, self.failed)

    def create(self) -> None:
        """Create the four folders if missing and insist they share one filesystem."""
        for folder in self.folders():
            try:
                durable.make_dirs(folder)
            except OSError as exc:
                raise ConfigError(f"cannot create {folder}: {exc.strerror}") from exc
        devices = {folder: os.stat(folder).st_dev for folder in self.folders()}
        if len(set(devices.values())) > 1:
            listing = ", ".join(f"{f} (device {d})" for f, d in devices.items())
            raise ConfigError(
                f"{self.root}: inbox/, work/, done/ and failed/ must be on one filesystem so that "
                f"moving a file is an atomic rename; they are on several: {listing}"
            )


@dataclass(frozen=True)
class Claim:
    """A claimed file: work/<token>/<name>, with <name>.journal, .staged and the chunk index
    beside it. The index is written as <name>.index and renamed to <name>.chunks once the
    journal exists, so a journal that disappears later is noticed, not silently restarted."""

    folder: Path
    name: str
    synced: bool = True  # False: the claim's renames may not be durable yet (see sync_claim)

    # Cached: a file's steps ask for these paths about fifty times, and each pathlib join is
    # a parse of its own.
    @cached_property
    def token(self) -> str:
        return self.folder.name

    @cached_property
    def data(self) -> Path:
        return self.folder / self.name

    def beside(self, suffix: str) -> Path:
        return self.folder / (self.name + suffix)

    @cached_property
    def journal(self) -> Path:
        return self.beside(".journal")

    @cached_property
    def staged(self) -> Path:
        return self.beside(".staged")

    @cached_property
    def index(self) -> Path:
        return self.beside(".index")

    @cached_property
    def chunks(self) -> Path:
        return self.beside(".chunks")

    @cached_property
    def report(self) -> Path:
        return self.beside(".error.json")

    @cached_property
    def retry_state(self) -> Path:
        return self.beside(RETRY_STATE)

    @classmethod
    def in_folder(cls, folder: Path) -> Claim | None:
        """The claim a folder holds: its data file is the name every other entry extends (it
        may be gone, moved out by an admin); None for an empty folder."""
        entries = os.listdir(folder)
        if not entries:
            return None
        found = receipts.data_name(entries, lambda n: receipts.receipt_kind(folder / n) is not None)
        name = found[0] if found is not None else min(entries, key=len)
        return cls(folder, name, synced=False)


def new_token(now: float) -> str:
    """A claim folder name that sorts by claim time and cannot already exist."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
    micros = int((now % 1) * 1_000_000)
    return f"{stamp}.{micros:06d}Z-{secrets.token_hex(4)}"


class Spool:
    """File moves for one inbox; every move is a rename within one filesystem, fsynced."""

    def __init__(self, layout: Layout, patterns: list[str], inbox: str = "") -> None:
        self.layout = layout
        self._patterns = patterns
        self._log = log.bind(inbox=inbox) if inbox else log
        self._warned: set[str] = set()
        self._receipts: dict[str, Observation] = {}  # receipts seen in the inbox, as they were

    def look(self, name: str) -> Observation | None:
        """Stat an inbox entry without following links; None if it is not a wanted regular file
        (or is one of ingestd's own receipts, moved back with a finished file)."""
        receipt_name = receipts.has_receipt_name(name)
        if not receipt_name and not wanted(name, self._patterns):
            return None
        try:
            info = os.lstat(self.layout.inbox / name)
        except FileNotFoundError:
            self._warned.discard(name)
            self._receipts.pop(name, None)
            return None
        if not stat.S_ISREG(info.st_mode):
            self._warn_once(name, info)
            return None
        seen = Observation(info.st_size, info.st_mtime_ns, info.st_ino)
        if receipt_name and self._is_receipt(name, seen):
            return None
        return seen if wanted(name, self._patterns) else None

    def _is_receipt(self, name: str, seen: Observation) -> bool:
        if self._receipts.get(name) == seen:
            return True
        kind = receipts.receipt_kind(self.layout.inbox / name)
        if kind is None:
            self._receipts.pop(name, None)
            return False
        self._receipts[name] = seen
        self._log.warning(
            "leaving a receipt in the inbox: it is ingestd's record of an earlier ingestion, "
            "not data",
            file=printable_name(name),
            receipt=kind,
        )
        return True

    def scan(self) -> list[str]:
        """Names in the inbox worth watching (wanted by the patterns)."""
        names = [
            n
            for n in os.listdir(self.layout.inbox)
            if wanted(n, self._patterns) or receipts.has_receipt_name(n)
        ]
        self._warned &= set(names)
        return names

    def claim(self, name: str, now: float) -> Claim | None:
        """Rename inbox/<name> into a fresh work/<token>/ folder; None if another process won."""
        folder = self.layout.work / new_token(now)
        durable.mkdir(folder)
        try:
            durable.fsync_dir(self.layout.work)
            durable.rename_noreplace(self.layout.inbox / name, folder / name)
        except FileNotFoundError:
            os.rmdir(folder)
            return None
        except OSError:
            with contextlib.suppress(OSError):
                os.rmdir(folder)
            raise
        failpoints.reached("claim_renamed")
        claim = Claim(folder, name)
        try:
            self.sync_claim(claim)
        except OSError as exc:
            log.warning(
                "claimed, but not yet durably; it will be before anything is sent",
                file=printable_name(name),
                error=str(exc),
            )
            return dataclasses.replace(claim, synced=False)
        return claim

    def sync_claim(self, claim: Claim) -> None:
        """Make the claim's rename durable: its folder, work/ and inbox/ fsynced."""
        durable.fsync_dir(claim.folder)
        durable.fsync_dir(self.layout.work)
        durable.fsync_dir(self.layout.inbox)

    def claims(self) -> list[Claim]:
        """Claims left in work/, oldest first; empty folders of interrupted claims are removed."""
        found = []
        for entry in sorted(os.listdir(self.layout.work)):
            folder = self.layout.work / entry
            if not folder.is_dir() or folder.is_symlink():
                continue
            claim = Claim.in_folder(folder)
            if claim is None:
                os.rmdir(folder)
                continue
            found.append(claim)
        return found

    def finish(self, claim: Claim, outcome: str, now: float) -> Path:
        """Move the claim folder (file and receipt) to done/ or failed/, under today's date."""
        for leftover in (claim.staged, claim.index, claim.chunks):
            durable.unlink_quietly(leftover)
        failpoints.reached("leftovers_removed")
        base = self.layout.done if outcome == "done" else self.layout.failed
        day = base / time.strftime("%Y-%m-%d", time.gmtime(now))
        durable.make_dirs(day)
        target = day / claim.token
        durable.rename_noreplace(claim.folder, target)
        failpoints.reached("finish_moved")
        self._settle_move(target)
        return target / claim.name

    def finished_already(self, claim: Claim) -> tuple[str, Path] | None:
        """Where a claim's folder went if an earlier finish renamed it but could not fsync;
        the fsyncs are done again here so the move is durable before anyone relies on it."""
        for outcome, base in (("done", self.layout.done), ("failed", self.layout.failed)):
            for day in sorted(os.listdir(base), reverse=True):
                folder = base / day / claim.token
                if folder.is_dir():
                    self._settle_move(folder)
                    return outcome, folder / claim.name
        return None

    def _settle_move(self, target: Path) -> None:
        durable.fsync_dir(target.parent)
        durable.fsync_dir(self.layout.work)

    def _warn_once(self, name: str, info: os.stat_result) -> None:
        if name in self._warned:
            return
        self._warned.add(name)
        self._log.warning(
            "ignoring an inbox entry that is not a regular file",
            file=printable_name(name),
            mode=stat.filemode(info.st_mode),
        )


def reingest(path: Path, layouts: list[Layout]) -> Path:
    """Move a finished file from done/ or failed/ back into its inbox, as an admin's `mv` would,
    refusing anything that is not a finished data file or would replace a file in the inbox."""
    path = Path(os.path.abspath(path))
    absolute = [Layout(Path(os.path.abspath(o.root))) for o in layouts]
    layout = next(
        (o for o in absolute if path.is_relative_to(o.done) or path.is_relative_to(o.failed)), None
    )
    if layout is None:
        raise ValueError(f"{path} is not in the done/ or failed/ folder of a configured inbox")
    if not os.path.lexists(path):
        raise ValueError(f"{path} does not exist")
    kind = receipts.receipt_kind(path)
    if kind is not None:
        raise ValueError(f"{path} is a {kind}, a receipt of an ingestion, not data: it stays")
    claim = Claim.in_folder(path.parent) if path.parent.is_dir() else None
    if claim is None or claim.data != path:
        raise ValueError(
            f"{path} is not the data file of a finished claim (a journal or report stays where "
            "it is)"
        )
    if not stat.S_ISREG(os.lstat(path).st_mode):
        raise ValueError(f"{path} is not a regular file")
    target = layout.inbox / path.name
    try:
        durable.rename_noreplace(path, target)
    except FileExistsError:
        raise ValueError(f"{target} already exists; move that file away first") from None
    durable.fsync_dir(layout.inbox)
    durable.fsync_dir(path.parent)
    return target
