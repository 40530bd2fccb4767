"""The folders of one inbox: look and scan, claim by rename, list claims, finish to done/failed.

inbox/ belongs to the people who drop files; work/ to the claim folders (fs/claim.py); done/
and failed/ keep finished claim folders under the day they finished.
"""

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
from ingestd.core.outcome import Outcome
from ingestd.core.settle import Observation, wanted
from ingestd.errors import ConfigError, SpoolIOError
from ingestd.failpoints import Failpoints
from ingestd.fs.claim import ClaimFolder, has_receipt_name, receipt_kind
from ingestd.fs.durable import Disk

log = structlog.get_logger("ingestd.fs.spool")


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

    def finished(self, outcome: Outcome) -> Path:
        return self.done if outcome is Outcome.DONE else self.failed

    def create(self, disk: Disk) -> None:
        """Create the four folders if missing and insist they share one filesystem."""
        for folder in self.folders():
            try:
                disk.make_dirs(folder)
            except OSError as exc:
                raise ConfigError(f"cannot create {folder}: {exc.strerror}") from exc
        devices = {folder: os.stat(folder).st_dev for folder in self.folders()}
        if len(set(devices.values())) > 1:
            listing = ", ".join(f"{f} (device {d})" for f, d in devices.items())
            raise ConfigError(
                f"{self.root}: inbox/, work/, done/ and failed/ must be on one filesystem so that "
                f"moving a file is an atomic rename; they are on several: {listing}"
            )


def entries(folder: Path) -> list[str]:
    """A folder's entries; none if it cannot be listed (for reports, not for decisions)."""
    try:
        return os.listdir(folder)
    except OSError:
        return []


def new_token(now: float) -> str:
    """A claim folder name that sorts by claim time and cannot already exist."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
    micros = int((now % 1) * 1_000_000)
    return f"{stamp}.{micros:06d}Z-{secrets.token_hex(4)}"


class Spool:
    """File moves for one inbox; every move is a rename within one filesystem, fsynced."""

    def __init__(
        self,
        layout: Layout,
        patterns: list[str],
        inbox: str = "",
        disk: Disk | None = None,
        failpoints: Failpoints | None = None,
    ) -> None:
        self.layout = layout
        self._patterns = patterns
        self._disk = disk or Disk()
        self._failpoints = failpoints or Failpoints()
        self._log = log.bind(inbox=inbox) if inbox else log
        self._warned: set[str] = set()
        self._receipts: dict[str, Observation] = {}  # receipts seen in the inbox, as they were

    # -- the inbox ------------------------------------------------------------------------

    def look(self, name: str) -> Observation | None:
        """Stat an inbox entry without following links; None if it is not a wanted regular file
        (or is one of ingestd's own receipts, moved back with a finished file)."""
        receipt_name = has_receipt_name(name)
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

    def scan(self) -> list[str]:
        """Names in the inbox worth watching: wanted by the patterns, or named like a receipt."""
        names = [
            n
            for n in os.listdir(self.layout.inbox)
            if wanted(n, self._patterns) or has_receipt_name(n)
        ]
        self._warned &= set(names)
        return names

    def claim(self, name: str, now: float) -> ClaimFolder | None:
        """Rename inbox/<name> into a fresh work/<token>/ folder; None if another process won.
        The claim is made durable here when it can be, and before anything is sent otherwise."""
        folder = self.layout.work / new_token(now)
        try:
            self._disk.mkdir(folder)
            self._disk.fsync_dir(self.layout.work)
            self._disk.rename_noreplace(self.layout.inbox / name, folder / name)
        except FileNotFoundError:
            _remove_empty(folder)
            return None
        except OSError as exc:
            _remove_empty(folder)
            raise SpoolIOError(f"cannot claim {printable_name(name)}: {exc.strerror}") from exc
        self._failpoints.reached("claim_renamed")
        claim = ClaimFolder(folder, name, self._disk, (self.layout.work, self.layout.inbox))
        try:
            claim.make_durable()
        except SpoolIOError as exc:
            self._log.warning(
                "claimed, but not yet durably; it will be before anything is sent",
                file=printable_name(name),
                error=exc.reason,
            )
            return dataclasses.replace(claim, durable=False)
        return claim

    def claims(self) -> list[ClaimFolder]:
        """Claims left in work/, oldest first; empty folders of interrupted claims are removed."""
        found = []
        for entry in sorted(os.listdir(self.layout.work)):
            folder = self.layout.work / entry
            if not folder.is_dir() or folder.is_symlink():
                continue
            claim = ClaimFolder.in_folder(folder, self._disk, (self.layout.work, self.layout.inbox))
            if claim is None:
                _remove_empty(folder)
                continue
            found.append(claim)
        return found

    # -- finishing ----------------------------------------------------------------------------

    def finish(self, claim: ClaimFolder, outcome: Outcome, now: float) -> Path:
        """Move the claim folder (file and receipts) to done/ or failed/, under today's date."""
        claim.remove_leftovers()  # SpoolIOError: tried again later
        self._failpoints.reached("leftovers_removed")
        day = self.layout.finished(outcome) / time.strftime("%Y-%m-%d", time.gmtime(now))
        target = day / claim.token
        try:
            self._disk.make_dirs(day)
            self._disk.rename_noreplace(claim.folder, target)
            self._failpoints.reached("finish_moved")
            self._settle_move(target)
        except OSError as exc:
            raise SpoolIOError(f"cannot move the claim to {day}: {exc.strerror}") from exc
        return target / claim.name

    def finished_already(self, claim: ClaimFolder) -> tuple[Outcome, Path] | None:
        """Where a claim's folder went if an earlier finish renamed it but could not fsync;
        the fsyncs are done again here so the move is durable before anyone relies on it."""
        for outcome in (Outcome.DONE, Outcome.FAILED):
            base = self.layout.finished(outcome)
            for day in sorted(os.listdir(base), reverse=True):
                folder = base / day / claim.token
                if folder.is_dir():
                    try:
                        self._settle_move(folder)
                    except OSError as exc:
                        raise SpoolIOError(f"cannot fsync {folder}: {exc.strerror}") from exc
                    return outcome, folder / claim.name
        return None

    def _settle_move(self, target: Path) -> None:
        self._disk.fsync_dir(target.parent)
        self._disk.fsync_dir(self.layout.work)

    # -- warnings ---------------------------------------------------------------------------

    def _is_receipt(self, name: str, seen: Observation) -> bool:
        if self._receipts.get(name) == seen:
            return True
        kind = receipt_kind(self.layout.inbox / name)
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

    def _warn_once(self, name: str, info: os.stat_result) -> None:
        if name in self._warned:
            return
        self._warned.add(name)
        self._log.warning(
            "ignoring an inbox entry that is not a regular file",
            file=printable_name(name),
            mode=stat.filemode(info.st_mode),
        )


def _remove_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        os.rmdir(folder)
