"""`ingestd status`: what each inbox holds, read from its folders and journals alone, so it
answers the same whether or not the daemon runs."""

from __future__ import annotations

import os
import stat
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ingestd.core.journal import replay
from ingestd.core.names import printable_name
from ingestd.core.settle import wanted
from ingestd.errors import JournalCorrupt
from ingestd.fs.claim import ClaimFolder, receipt_kind
from ingestd.fs.spool import Layout, entries
from ingestd.settings import InboxSettings

RECENT = 10


@dataclass
class Claimed:
    claim: str
    file: str
    state: str
    ingestion_id: str | None = None
    chunks_acknowledged: int = 0
    chunk_count: int | None = None  # as staged; chunks the receiver asked smaller add to it
    records_acknowledged: int = 0
    total_records: int | None = None
    last_ack_at: str | None = None
    retry: dict[str, Any] | None = None


@dataclass
class Finished:
    path: str
    file: str
    reason: str | None = None
    error: str | None = None


@dataclass
class InboxStatus:
    name: str
    root: str
    waiting: list[str] = field(default_factory=list)
    receipts_in_inbox: list[str] = field(default_factory=list)
    in_work: list[Claimed] = field(default_factory=list)
    recent_done: list[Finished] = field(default_factory=list)
    recent_failed: list[Finished] = field(default_factory=list)


def inbox_status(inbox: InboxSettings, recent: int = RECENT) -> InboxStatus:
    layout = Layout(inbox.root)
    status = InboxStatus(inbox.name, str(inbox.root))
    for name in sorted(entries(layout.inbox)):
        path = layout.inbox / name
        if not _is_regular(path):
            continue
        if receipt_kind(path) is not None:
            status.receipts_in_inbox.append(printable_name(name))
        elif wanted(name, inbox.patterns):
            status.waiting.append(printable_name(name))
    for token in sorted(entries(layout.work)):
        folder = layout.work / token
        claim = ClaimFolder.in_folder(folder) if folder.is_dir() else None
        if claim is not None:
            status.in_work.append(_claimed(claim))
    status.recent_done = _recent(layout.done, recent, failed=False)
    status.recent_failed = _recent(layout.failed, recent, failed=True)
    return status


def _claimed(claim: ClaimFolder) -> Claimed:
    entry = Claimed(claim.token, printable_name(claim.name), "claimed, validating")
    if claim.has_report():
        entry.state = "failed, moving to failed/"
        return entry
    data = claim.journal_bytes()
    if data is None:
        return entry
    try:
        journal = replay(data)
    except JournalCorrupt as exc:
        entry.state = f"journal damaged: {exc}"
        return entry
    begin = journal.begin
    entry.ingestion_id = begin.ingestion_id
    entry.chunks_acknowledged = journal.next_chunk
    entry.records_acknowledged = journal.records_acknowledged
    entry.chunk_count = max(begin.chunk_count, journal.chunks_sent)
    entry.total_records = begin.total_records
    entry.last_ack_at = journal.last_ack_at
    entry.state = "completed, moving to done/" if journal.completed else "sending"
    entry.retry = claim.retry_state()
    if entry.retry is not None:
        entry.state = "waiting for the receiver"
    return entry


def _recent(base: Path, count: int, failed: bool) -> list[Finished]:
    folders = sorted(
        (base / day / token for day in entries(base) for token in entries(base / day)),
        key=lambda p: (p.parent.name, p.name),
        reverse=True,
    )
    found = []
    for folder in folders[:count]:
        claim = ClaimFolder.in_folder(folder) if folder.is_dir() else None
        if claim is None:
            continue
        entry = Finished(printable_name(str(claim.data)), printable_name(claim.name))
        if failed and claim.has_report():
            report = claim.report()
            if report is None:
                entry.reason = "unreadable report"
            else:
                entry.reason, entry.error = report.get("reason"), report.get("error")
        found.append(entry)
    return found


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def as_json(statuses: list[InboxStatus]) -> bytes:
    return orjson.dumps(
        {"inboxes": [asdict(s) for s in statuses], "at": time.time()}, option=orjson.OPT_INDENT_2
    )


def as_text(statuses: list[InboxStatus]) -> str:
    lines: list[str] = []
    for s in statuses:
        lines.append(f"inbox {s.name} ({s.root})")
        lines.append(f"  waiting in inbox/: {len(s.waiting)}" + _names(s.waiting))
        if s.receipts_in_inbox:
            lines.append(
                f"  receipts left in inbox/ (not data, never ingested): {len(s.receipts_in_inbox)}"
                + _names(s.receipts_in_inbox)
            )
        lines.append(f"  in work/: {len(s.in_work)}")
        for c in s.in_work:
            progress = (
                f"{c.chunks_acknowledged}/{c.chunk_count} chunks acknowledged "
                f"({c.records_acknowledged}/{c.total_records} records)"
                if c.chunk_count is not None
                else ""
            )
            lines.append(f"    {c.file} [{c.claim}] {c.state} {progress}".rstrip())
            if c.ingestion_id:
                lines.append(f"      ingestion {c.ingestion_id}, last ack {c.last_ack_at or '-'}")
            if c.retry:
                lines.append(
                    f"      retrying since {c.retry.get('since')}: {c.retry.get('reason')} "
                    f"(attempt {c.retry.get('attempt')}, next {c.retry.get('next_try_at')})"
                )
        lines.append(f"  recent done/: {len(s.recent_done)}")
        lines.extend(f"    {f.path}" for f in s.recent_done)
        lines.append(f"  recent failed/: {len(s.recent_failed)}")
        lines.extend(f"    {f.path}: {f.reason}: {f.error}" for f in s.recent_failed)
    return "\n".join(lines)


def _names(names: list[str], shown: int = 5) -> str:
    if not names:
        return ""
    more = f", +{len(names) - shown} more" if len(names) > shown else ""
    return " (" + ", ".join(names[:shown]) + more + ")"
