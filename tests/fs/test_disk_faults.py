"""A full disk or a failing device at every durable write site: no progress is recorded that
was not made durable, no journal is corrupted, and the file finishes once space returns."""

from __future__ import annotations

import errno
import os
import threading

import orjson
import pytest

from ingestd.clock import SystemClock
from ingestd.core.journal import replay
from ingestd.errors import Transient
from ingestd.fs.durable import WRITE_SITES, Disk
from ingestd.pipeline.staging import InProcess
from ingestd.receiver.app import ReceiverApp
from ingestd.runtime.daemon import Daemon
from ingestd.runtime.notify import Notifier
from ingestd.settings import from_mapping
from tests.fakes import RecordingNotifier
from tests.harness import Harness, into
from tests.integration.conftest import wait_until

SITES = list(WRITE_SITES)
RECORDS = [{"sku": f"S{i}", "n": i} for i in range(7)]


class FullDisk:
    """Fails the nth write at one site with `code`, until space returns."""

    def __init__(self, site: str, nth: int, code: int) -> None:
        self.site, self.nth, self.code = site, nth, code
        self.calls = 0
        self.fired = False
        self.full = True

    def __call__(self, site: str) -> None:
        if site != self.site or not self.full:
            return
        self.calls += 1
        if self.calls >= self.nth:
            self.fired = True
            raise OSError(self.code, os.strerror(self.code))


def attempt(h: Harness, name: str, content) -> str | None:
    """One go at claiming and ingesting; None if a disk error stopped it (the daemon retries)."""
    try:
        if not hasattr(h, "claim"):
            (h.layout.inbox / name).write_bytes(
                content if isinstance(content, bytes) else orjson.dumps(content)
            )
            h.claim = h.spool.claim(name, h.clock.now())
        return h.run(h.claim)
    except (Transient, OSError):
        return None


def journals(h: Harness) -> list:
    return [replay(p.read_bytes()) for p in h.layout.root.rglob("*.journal")]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO], ids=["ENOSPC", "EIO"])
@pytest.mark.parametrize("site", SITES)
def test_every_write_site_failing_once_loses_and_doubles_nothing(tmp_path, site, code):
    fired = 0
    for nth in range(1, 50):
        disk = FullDisk(site, nth, code)
        h = Harness(tmp_path / f"{site}-{nth}", fault=disk)
        try:
            outcome = attempt(h, "products.json", RECORDS)
            if not disk.fired:
                assert outcome == "done"
                break
            fired += 1
            for journal in journals(h):  # never corrupt, never ahead of the receiver
                received = h.app.store.summary()
                assert journal.next_chunk <= (received[0]["chunks"] if received else 0)
            disk.full = False  # space returns
            for _ in range(3):
                outcome = outcome or attempt(h, "products.json", RECORDS)
            assert outcome == "done"
            ingestion = h.sent[0]["ingestion_id"]
            assert h.received(ingestion) == RECORDS
            assert all(j.completed for j in journals(h))
            assert not any(h.layout.work.iterdir()), "a claim was left behind in work/"
        finally:
            h.close()
    assert fired >= 1, f"no write at {site} during an ingestion"


@pytest.mark.parametrize("site", ["write_file", "rename", "fsync_dir", "mkdir"])
def test_a_failure_report_that_cannot_be_written_is_written_later(tmp_path, site):
    for nth in range(1, 20):
        disk = FullDisk(site, nth, errno.ENOSPC)
        h = Harness(tmp_path / f"{site}-{nth}", fault=disk)
        try:
            outcome = attempt(h, "bad.json", b"[1, 2]")
            if not disk.fired:
                break
            disk.full = False
            for _ in range(3):
                outcome = outcome or attempt(h, "bad.json", b"[1, 2]")
            assert outcome == "failed"
            assert h.report()["reason"] == "invalid_input" and h.sent == []
        finally:
            h.close()


def test_the_daemon_recovers_by_itself_when_space_returns(tmp_path):
    """Journal appends fail for a while; the service retries on its own and finishes the file."""
    failures = {"left": 3}
    lock = threading.Lock()

    def disk(site: str) -> None:
        with lock:
            if site == "append_fsync" and failures["left"] > 0:
                failures["left"] -= 1
                raise OSError(errno.ENOSPC, "No space left on device")

    app = run_daemon(tmp_path, disk)
    assert failures["left"] == 0
    (summary,) = app.store.summary()
    assert summary["completed"] and summary["records"] == len(RECORDS)
    assert summary["duplicates"] == 3  # each chunk whose ack could not be recorded, sent again
    app.close()


def test_a_finished_file_whose_move_fails_is_moved_once_the_disk_allows(tmp_path):
    """The rename into done/ fails three times after the completion is recorded: the file is
    moved when the disk allows, and nothing is sent again."""
    state = {"renames": 0, "left": 3}
    lock = threading.Lock()

    def disk(site: str) -> None:
        with lock:
            if site != "rename":
                return
            state["renames"] += 1
            if state["renames"] >= 3 and state["left"] > 0:  # the claim, the seal, the move
                state["left"] -= 1
                raise OSError(errno.EIO, "Input/output error")

    app = run_daemon(tmp_path, disk)
    assert state["left"] == 0
    (summary,) = app.store.summary()
    assert summary["completed"] and summary["records"] == len(RECORDS)
    assert summary["duplicates"] == 0
    assert os.listdir(tmp_path / "spool" / "work") == []
    app.close()


def run_daemon(tmp_path, disk) -> ReceiverApp:
    """A daemon in this process on `disk`, until a.json is in done/."""
    app = ReceiverApp(tmp_path / "receiver")
    settings = from_mapping(
        {
            "inbox": [
                {
                    "name": "p",
                    "root": str(tmp_path / "spool"),
                    "callback_url": "http://127.0.0.1:9/cb",
                    "settle_seconds": 0.05,
                    "chunk_records": 2,
                    "retry_initial_delay_seconds": 0.01,
                    "retry_max_delay_seconds": 0.05,
                    "rescan_seconds": 0.1,
                }
            ]
        }
    )
    daemon = Daemon(
        settings,
        SystemClock(),
        Notifier(RecordingNotifier()),
        into(app),
        disk=Disk(disk),
        new_stager=lambda inbox: InProcess(),
    )
    daemon.start()
    try:
        (tmp_path / "spool" / "inbox" / "a.json").write_bytes(orjson.dumps(RECORDS))
        done = tmp_path / "spool" / "done"
        wait_until(lambda: list(done.glob("*/*/a.json")), what="the file in done/")
    finally:
        daemon.shutdown()
    return app
