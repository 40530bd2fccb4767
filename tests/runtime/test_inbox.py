"""The per-inbox service without a watcher: the periodic rescan alone finds every file."""

from __future__ import annotations

import itertools
import threading

import httpx
import orjson

from ingestd.clock import SystemClock
from ingestd.pipeline.staging import Staged
from ingestd.readers import ReadDetails
from ingestd.receiver.app import ReceiverApp
from ingestd.runtime.inbox import STAGE_AHEAD_MAX_CHUNKS, InboxService, first_to_start
from ingestd.settings import InboxSettings
from tests.harness import into
from tests.integration.conftest import wait_until


def receiver_transport(app: ReceiverApp, together: threading.Barrier | None) -> httpx.MockTransport:
    """With `together`, the first files' chunk 0 waits until that many files are in flight."""
    first_chunks = itertools.count()

    def hold(request: httpx.Request) -> None:
        if together is None or orjson.loads(request.content).get("chunk_number") != 0:
            return
        if next(first_chunks) < together.parties:
            together.wait()  # breaks (and fails the test) unless that many are in flight

    return into(app, hold)


def inbox_settings(tmp_path, **overrides) -> InboxSettings:
    return InboxSettings(
        name="p",
        root=tmp_path / "spool",
        callback_url="http://127.0.0.1:9/callback",
        settle_seconds=0.05,
        rescan_seconds=0.1,
        **overrides,
    )


def run_service(
    tmp_path, names: list[str], together: threading.Barrier | None = None, **overrides
) -> tuple[InboxService, ReceiverApp]:
    settings = inbox_settings(tmp_path, chunk_records=2, **overrides)
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
    """workers = N lets N files go at once; each still arrives exactly once. (Only the first N
    are held together: a worker may take its next file early, so which files are in flight at
    the same time later on is not fixed.)"""
    names = [f"f{n}.json" for n in range(6)]
    together = threading.Barrier(3, timeout=10)
    _, app = run_service(tmp_path, names, together, workers=3)
    summary = app.store.summary()
    assert sorted(i["file_name"] for i in summary) == names
    assert all(i["completed"] and i["records"] == 5 and i["duplicates"] == 0 for i in summary)
    assert not together.broken
    app.close()


def staged(chunks: int) -> Staged:
    return Staged(10, "a" * 64, chunks, chunks, 10, "b" * 64, ReadDetails())


def test_a_worker_takes_its_next_file_early_only_if_no_other_would_start_it_sooner():
    """Staging the next file ahead ties it to this worker: with others idle, or behind a file
    whose sending takes long, it would wait for nothing."""
    small, large = staged(1), staged(STAGE_AHEAD_MAX_CHUNKS + 1)
    assert first_to_start(workers=1, idle=0, current=large)  # the only worker: always
    assert first_to_start(workers=4, idle=0, current=small)
    assert not first_to_start(workers=4, idle=1, current=small)  # another waits for work
    assert not first_to_start(workers=4, idle=0, current=large)  # this one stays busy


def test_a_file_left_in_work_is_taken_up_before_the_parser_process_starts(tmp_path):
    """After a restart, a claim an earlier run left in work/ goes to a worker at once. A worker
    that found nothing queued used to start its parser process first (0.3 s on this machine,
    most of the resume figure's margin) and only then take the claim. Here that start never
    ends until the test is over, and the scout lists work/ only once a worker started one (or
    after 2 s): the claim must still be delivered."""
    app = ReceiverApp(tmp_path / "receiver")
    stop = threading.Event()
    service = InboxService(
        inbox_settings(tmp_path), SystemClock(), stop, receiver_transport(app, None)
    )
    (service.layout.inbox / "left.json").write_bytes(b'[{"sku": "L1"}]')
    assert service.runtime.spool.claim("left.json", SystemClock().now()) is not None
    preparing, release = threading.Event(), threading.Event()

    def prepare() -> None:
        preparing.set()
        release.wait()

    claims = service.runtime.spool.claims

    def claims_once_preparing():
        preparing.wait(timeout=2)
        return claims()

    service._stager.prepare = prepare
    service.runtime.spool.claims = claims_once_preparing
    service.start()
    try:
        wait_until(
            lambda: list(service.layout.done.glob("*/*/left.json")), what="left.json in done/"
        )
    finally:
        release.set()
        stop.set()
        service.wake()
        service.join(timeout=10)
    assert not service.alive()


def flaky_transport(
    app: ReceiverApp, failures: dict[int, int], message: str
) -> httpx.MockTransport:
    """Chunk n's request raises an unexpected exception (a bug in the path) failures[n] times."""

    def maybe_fail(request: httpx.Request) -> None:
        number = orjson.loads(request.content).get("chunk_number")
        if failures.get(number, 0) > 0:
            failures[number] -= 1
            raise RuntimeError(message)

    return into(app, maybe_fail)


def ingest_with_bugs(
    tmp_path, failures: dict[int, int], **overrides
) -> tuple[InboxService, ReceiverApp]:
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    settings = inbox_settings(
        tmp_path,
        chunk_records=2,
        max_internal_errors=2,
        retry_initial_delay_seconds=0.01,
        callback_token_file=token,
        **overrides,
    )
    app = ReceiverApp(tmp_path / "receiver")
    stop = threading.Event()
    transport = flaky_transport(app, failures, "broke while holding Bearer s3cret-token")
    service = InboxService(settings, SystemClock(), stop, transport)
    service.start()
    try:
        (service.layout.inbox / "f.json").write_bytes(orjson.dumps([{"i": i} for i in range(6)]))
        wait_until(lambda: list(service.layout.root.glob("*/*/*/f.json")), what="f.json finished")
    finally:
        stop.set()
        service.wake()
        service.join(timeout=10)
    return service, app


def test_unexpected_errors_separated_by_progress_never_fail_the_file(tmp_path):
    """The count of unexpected errors starts again whenever a chunk was acknowledged."""
    service, app = ingest_with_bugs(tmp_path, {1: 1, 2: 1})
    assert list(service.layout.done.glob("*/*/f.json"))
    assert app.store.summary()[0]["records"] == 6
    app.close()


def test_unexpected_errors_in_a_row_fail_the_file_without_its_secrets(tmp_path, capsys):
    """The report and the log carry the exception and its traceback, never the token."""
    service, app = ingest_with_bugs(tmp_path, {1: 2})
    logged = capsys.readouterr().out
    assert "RuntimeError" in logged and "Traceback" in logged and "s3cret-token" not in logged
    (report,) = service.layout.failed.glob("*/*/f.json.error.json")
    text = report.read_text()
    assert "s3cret-token" not in text and "[secret]" in text
    body = orjson.loads(text)
    assert body["reason"] == "internal_error" and body["chunks_acknowledged"] == 1
    assert body["where"]["exception"] == "RuntimeError"
    app.close()
