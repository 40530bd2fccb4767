"""The per-inbox service without a watcher: the periodic rescan alone finds every file."""

from __future__ import annotations

import threading

import httpx
import orjson

from ingestd.clock import SystemClock
from ingestd.receiver.app import ReceiverApp
from ingestd.service import InboxService
from ingestd.settings import InboxSettings
from tests.harness import into
from tests.integration.conftest import wait_until


def receiver_transport(app: ReceiverApp, together: threading.Barrier | None) -> httpx.MockTransport:
    def hold(request: httpx.Request) -> None:
        if together is not None and orjson.loads(request.content).get("chunk_number") == 0:
            together.wait()  # breaks (and fails the test) unless that many files are in flight

    return into(app, hold)


def run_service(
    tmp_path, names: list[str], together: threading.Barrier | None = None, **overrides
) -> tuple[InboxService, ReceiverApp]:
    settings = InboxSettings(
        name="p",
        root=tmp_path / "spool",
        callback_url="http://127.0.0.1:9/callback",
        settle_seconds=0.05,
        chunk_records=2,
        rescan_seconds=0.1,
        **overrides,
    )
    app = ReceiverApp(tmp_path / "receiver")
    stop = threading.Event()
    service = InboxService(settings, SystemClock(), stop, receiver_transport(app, together))
    service.start()
    try:
        for name in names:  # after the start-up scan, so only a later rescan can find them
            content = orjson.dumps([{"f": name, "i": i} for i in range(5)])
            (service.layout.inbox / name).write_bytes(content)
        wait_until(
            lambda: len(list(service.layout.done.glob("*/*/*.journal"))) == len(names),
            what="every file in done/",
        )
    finally:
        stop.set()
        service.wake()
        service.join(timeout=10)
    assert not service.alive()
    return service, app


def test_the_periodic_rescan_finds_files_no_event_announced(tmp_path):
    """inotify can drop events; listing the inbox every rescan_seconds still finds every file."""
    _, app = run_service(tmp_path, ["a.json", "b.json"])
    assert sorted(i["file_name"] for i in app.store.summary()) == ["a.json", "b.json"]
    app.close()


def test_more_workers_ingest_several_files_of_one_inbox_at_once(tmp_path):
    """workers = N lets N files go at once; each still arrives exactly once."""
    names = [f"f{n}.json" for n in range(6)]
    together = threading.Barrier(3, timeout=10)
    _, app = run_service(tmp_path, names, together, workers=3)
    summary = app.store.summary()
    assert sorted(i["file_name"] for i in summary) == names
    assert all(i["completed"] and i["records"] == 5 and i["duplicates"] == 0 for i in summary)
    assert not together.broken
    app.close()
