"""An inbox at work in this process: its scout, its workers and their scheduling, wired by the
daemon with seams in place of the parser processes and the network."""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import orjson

from ingestd.clock import SystemClock
from ingestd.core.scheduling import STAGE_AHEAD_MAX_CHUNKS, stage_ahead
from ingestd.fs.spool import Layout
from ingestd.pipeline.staging import InProcess, StageRequest
from ingestd.receiver.app import ReceiverApp
from ingestd.runtime.daemon import Daemon
from ingestd.runtime.notify import Notifier
from ingestd.settings import Settings, from_mapping
from tests.fakes import RecordingNotifier, SilentWatcher
from tests.harness import Harness, into, then_stop
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


def settings(tmp_path: Path, **overrides: object) -> Settings:
    inbox = {
        "name": "p",
        "root": str(tmp_path / "spool"),
        "callback_url": "http://127.0.0.1:9/callback",
        "settle_seconds": 0.05,
        "rescan_seconds": 0.1,
        **overrides,
    }
    return from_mapping({"inbox": [inbox]})


@contextmanager
def running(
    tmp_path: Path, transport: httpx.BaseTransport, new_stager=None, **overrides: object
) -> Iterator[Layout]:
    """A daemon with one inbox and no watcher (the periodic rescan finds every file)."""
    daemon = Daemon(
        settings(tmp_path, **overrides),
        SystemClock(),
        Notifier(RecordingNotifier()),
        transport,
        new_stager=new_stager or (lambda inbox: InProcess()),
        watcher=SilentWatcher(),
    )
    daemon.start()
    try:
        yield Layout(tmp_path / "spool")
    finally:
        daemon.shutdown()
    assert all(inbox.ended() for inbox in daemon.inboxes.values())


def drop_and_wait(layout: Layout, names: list[str], records: int = 5) -> None:
    for name in names:
        content = orjson.dumps([{"f": name, "i": i} for i in range(records)])
        # written aside and renamed in: with no watcher to see the writer, a file caught
        # half-written (a loaded machine, a slow write) could settle before it is complete
        (layout.inbox / f"{name}.part").write_bytes(content)
        os.rename(layout.inbox / f"{name}.part", layout.inbox / name)
    wait_until(
        lambda: len(list(layout.root.glob("*/*/*/*.json"))) >= len(names),
        what="every file finished",
    )


def test_the_periodic_rescan_finds_files_no_event_announced(tmp_path):
    """inotify can drop events; listing the inbox every rescan_seconds still finds every file."""
    app = ReceiverApp(tmp_path / "receiver")
    with running(tmp_path, receiver_transport(app, None), chunk_records=2) as layout:
        drop_and_wait(layout, ["a.json", "b.json"])
    assert sorted(i["file_name"] for i in app.store.summary()) == ["a.json", "b.json"]
    app.close()


def test_more_workers_ingest_several_files_of_one_inbox_at_once(tmp_path):
    """workers = N lets N files go at once; each still arrives exactly once. (Only the first N
    are held together: a worker may take its next file early, so which files are in flight at
    the same time later on is not fixed.)"""
    names = [f"f{n}.json" for n in range(6)]
    together = threading.Barrier(3, timeout=10)
    app = ReceiverApp(tmp_path / "receiver")
    transport = receiver_transport(app, together)
    with running(tmp_path, transport, chunk_records=2, workers=3) as layout:
        drop_and_wait(layout, names)
    summary = app.store.summary()
    assert sorted(i["file_name"] for i in summary) == names
    assert all(i["completed"] and i["records"] == 5 and i["duplicates"] == 0 for i in summary)
    assert not together.broken
    app.close()


def test_a_worker_takes_its_next_file_early_only_if_no_other_would_start_it_sooner():
    """Staging the next file ahead ties it to this worker: with others idle, or behind a file
    whose sending takes long, it would wait for nothing."""
    small, large = 1, STAGE_AHEAD_MAX_CHUNKS + 1
    assert stage_ahead(workers=1, idle=0, chunk_count=large)  # the only worker: always
    assert stage_ahead(workers=4, idle=0, chunk_count=small)
    assert not stage_ahead(workers=4, idle=1, chunk_count=small)  # another waits for work
    assert not stage_ahead(workers=4, idle=0, chunk_count=large)  # this one stays busy


class Recording(InProcess):
    """Stages in this process and remembers what it was asked, and in which order; the first
    file's staging waits until `before` holds, so that the next file is claimed by then."""

    def __init__(self, asked: list[tuple[str, str]], before) -> None:  # type: ignore[no-untyped-def]
        self.asked = asked
        self._before = before

    def stage(self, request: StageRequest, checkpoint):  # type: ignore[no-untyped-def]
        if not self.asked:
            wait_until(self._before, what="the next file claimed")
        self.asked.append(("stage", request.claim.name))
        return super().stage(request, checkpoint)

    def stage_ahead(self, request: StageRequest) -> None:
        self.asked.append(("ahead", request.claim.name))


def test_the_next_file_is_staged_ahead_while_the_current_one_is_sent(tmp_path):
    """One worker: once a file is staged, the next claimed one goes to its parser before the
    first chunk of the current one is sent, and is then staged by that same request."""
    app = ReceiverApp(tmp_path / "receiver")
    asked: list[tuple[str, str]] = []
    work = tmp_path / "spool" / "work"

    def recording(inbox):  # type: ignore[no-untyped-def]
        return Recording(asked, lambda: list(work.glob("*/b.json")))

    def first_chunk_of_a(request: httpx.Request) -> None:
        body = orjson.loads(request.content)
        if body["source"]["file_name"] == "a.json" and body["type"] == "chunk":
            asked.append(("send", "a.json"))

    with running(tmp_path, into(app, first_chunk_of_a), recording) as layout:
        (layout.inbox / "a.json").write_bytes(orjson.dumps([{"a": 1}]))
        (layout.inbox / "b.json").write_bytes(orjson.dumps([{"b": 1}]))
        wait_until(lambda: len(list(layout.done.glob("*/*/*.journal"))) == 2, what="both done")
    assert asked == [
        ("stage", "a.json"),
        ("ahead", "b.json"),
        ("send", "a.json"),
        ("stage", "b.json"),
    ]
    app.close()


class NeverStages(InProcess):
    """A parser that must not be needed."""

    def stage(self, request: StageRequest, checkpoint):  # type: ignore[no-untyped-def]
        raise AssertionError(f"{request.claim.name} was staged again")

    def stage_ahead(self, request: StageRequest) -> None:
        raise AssertionError(f"{request.claim.name} was staged ahead")


def test_a_file_left_in_work_with_its_journal_resumes_without_a_parser(tmp_path):
    """After a restart, a claim an earlier run left half sent resumes from its journal at once:
    no parser process is started for it (the resume figure in docs/performance.md)."""
    h = Harness(tmp_path)
    claim = h.drop("left.json", [{"sku": f"L{i}"} for i in range(5)])
    h.faults = [then_stop]
    with h.ingestion(claim) as ingestion:
        assert ingestion.prepare() is None
        try:
            ingestion.deliver()
        except Exception as exc:  # Interrupted after chunk 0
            assert type(exc).__name__ == "Interrupted"
    h.close()
    app = ReceiverApp(tmp_path / "receiver")
    overrides = {"root": str(tmp_path / "spool"), "chunk_records": 2}
    with running(tmp_path / "again", into(app), lambda inbox: NeverStages(), **overrides):
        wait_until(lambda: list(h.layout.done.glob("*/*/left.json")), what="left.json done")
    (summary,) = app.store.summary()
    assert summary["completed"] and summary["records"] == 5 and summary["duplicates"] == 0
    app.close()


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


def ingest_with_bugs(tmp_path, failures: dict[int, int]) -> tuple[Layout, ReceiverApp]:
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    app = ReceiverApp(tmp_path / "receiver")
    transport = flaky_transport(app, failures, "broke while holding Bearer s3cret-token")
    overrides = {
        "chunk_records": 2,
        "max_internal_errors": 2,
        "retry_initial_delay_seconds": 0.01,
        "callback_token_file": str(token),
    }
    with running(tmp_path, transport, **overrides) as layout:
        drop_and_wait(layout, ["f.json"], records=6)
    return layout, app


def test_unexpected_errors_separated_by_progress_never_fail_the_file(tmp_path):
    """The count of unexpected errors starts again whenever a chunk was acknowledged."""
    layout, app = ingest_with_bugs(tmp_path, {1: 1, 2: 1})
    assert list(layout.done.glob("*/*/f.json"))
    assert app.store.summary()[0]["records"] == 6
    app.close()


def test_unexpected_errors_in_a_row_fail_the_file_without_its_secrets(tmp_path, capsys):
    """The report and the log carry the exception and its traceback, never the token."""
    layout, app = ingest_with_bugs(tmp_path, {1: 2})
    logged = capsys.readouterr().out
    assert "RuntimeError" in logged and "Traceback" in logged and "s3cret-token" not in logged
    (report,) = layout.failed.glob("*/*/f.json.error.json")
    text = report.read_text()
    assert "s3cret-token" not in text and "[secret]" in text
    body = orjson.loads(text)
    assert body["reason"] == "internal_error" and body["chunks_acknowledged"] == 1
    assert body["where"]["exception"] == "RuntimeError"
    app.close()
