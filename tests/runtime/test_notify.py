"""systemd notifications over a real unix datagram socket, and the watchdog's honesty."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import orjson
import pytest

from ingestd.clock import SystemClock
from ingestd.core.scheduling import claim_limit
from ingestd.fs.durable import Disk
from ingestd.fs.spool import Layout, Spool
from ingestd.pipeline.staging import InProcess
from ingestd.receiver.app import ReceiverApp
from ingestd.runtime.daemon import Daemon
from ingestd.runtime.notify import Notifier, watchdog_interval
from ingestd.runtime.progress import InboxProgress
from ingestd.settings import from_mapping, load
from tests.fakes import FakeClock, PausingFailpoints, RecordingNotifier
from tests.harness import into
from tests.integration.conftest import wait_until


@pytest.fixture
def notify_socket(tmp_path, monkeypatch):
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


def received(sock: socket.socket) -> list[str]:
    messages = []
    sock.settimeout(0.2)
    try:
        while True:
            messages.append(sock.recv(65536).decode("latin-1"))
    except TimeoutError:
        return messages


def test_messages_reach_a_real_notify_socket(notify_socket):
    notifier = Notifier()  # NOTIFY_SOCKET is set: it talks to the socket
    notifier.ready()
    notifier.status("products: idle, 0 queued")
    notifier.status("products: idle, 0 queued")  # unchanged: not sent again
    notifier.watchdog()
    notifier.stopping()
    notifier.close()
    assert received(notify_socket) == [
        "READY=1",
        "STATUS=products: idle, 0 queued",
        "WATCHDOG=1",
        "STOPPING=1",
    ]


def test_a_file_name_can_never_inject_a_notification(notify_socket):
    """A name with a newline, non-ASCII or bad bytes stays inside one printable STATUS line."""
    notifier = Notifier()
    notifier.status("p: evil\nREADY=1\nMAINPID=1 ünï €\udcff.json 5%")
    notifier.close()
    (message,) = received(notify_socket)
    assert "\n" not in message and message.isascii() and message.isprintable()
    assert message.startswith("STATUS=p: evil\\x0aREADY=1\\x0aMAINPID=1")


def test_watchdog_interval_is_half_of_watchdog_usec(monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "20000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert watchdog_interval() == 10.0
    monkeypatch.setenv("WATCHDOG_PID", "1")
    assert watchdog_interval() is None
    monkeypatch.delenv("WATCHDOG_USEC")
    assert watchdog_interval() is None


def test_a_thread_that_misses_its_promised_beat_is_stalled():
    clock = FakeClock()
    progress = InboxProgress("p", clock, grace=10)
    progress.beat()
    clock.advance(9)
    assert progress.stalled() == []
    clock.advance(2)
    assert progress.stalled() == [threading.current_thread().name]
    progress.beat(grace=300)  # entering an honest wait, such as a retry backoff
    clock.advance(299)
    assert progress.stalled() == []
    progress.idle()
    clock.advance(10_000)
    assert progress.stalled() == []


def test_a_wedged_worker_stops_the_watchdog_pings_and_a_recovered_one_resumes_them(
    tmp_path, notify_socket
):
    """WATCHDOG=1 is withheld while a worker hangs past its promise, so systemd would restart."""
    release = threading.Event()
    app = ReceiverApp(tmp_path / "receiver")

    def hang(request: httpx.Request) -> None:
        release.wait(30)

    settings = from_mapping(
        {
            "inbox": [
                {
                    "name": "p",
                    "root": str(tmp_path / "spool"),
                    "callback_url": "http://127.0.0.1:9/cb",
                    "settle_seconds": 0.05,
                    "request_timeout_seconds": 0.2,
                    "rescan_seconds": 0.2,
                }
            ]
        }
    )
    daemon = Daemon(
        settings,
        SystemClock(),
        Notifier(),
        into(app, hang),
        liveness_grace=0.3,
        new_stager=lambda settings: InProcess(),
    )
    daemon.start()
    try:
        assert received(notify_socket)[-1] == "READY=1"
        daemon.tick()
        assert "WATCHDOG=1" in received(notify_socket)
        (tmp_path / "spool" / "inbox" / "a.json").write_bytes(orjson.dumps([{"a": 1}]))
        wait_until(lambda: "chunk 0/1" in daemon.status_line(), what="the chunk in flight")
        time.sleep(0.7)  # past request_timeout + grace: the worker broke its promise
        daemon.tick()
        messages = received(notify_socket)
        assert "WATCHDOG=1" not in messages
        assert any(m.startswith("STATUS=p: a.json 0% (chunk 0/1)") for m in messages)
        release.set()
        wait_until(lambda: list((tmp_path / "spool" / "done").glob("*/*/a.json")), what="done")
        daemon.tick()
        assert "WATCHDOG=1" in received(notify_socket)
    finally:
        release.set()
        daemon.shutdown()
        app.close()
    assert received(notify_socket)[0] == "STOPPING=1"


def test_status_says_what_each_file_is_doing():
    clock = FakeClock()
    progress = InboxProgress("products", clock)
    assert progress.describe() == "products: idle, 0 queued"
    progress.claimed("t1", "cat\nalog.json")
    assert progress.describe() == "products: cat\\x0aalog.json validating; 0 queued"
    from tests.core.test_journal import BEGIN  # 3 chunks, 5 records: 2 acknowledged are 40%

    progress.begun("t1", BEGIN, 0)
    progress.acked("t1", 2, 0.01)
    progress.waiting("t1", "HTTP 503", "http_503", 5.0)
    progress.queued = 4
    assert progress.describe() == (
        "products: cat\\x0aalog.json 40% (chunk 1/3), waiting for the receiver since "
        "08:00:00 UTC (HTTP 503); 4 queued"
    )


def test_a_removed_inbox_finishes_its_file_in_flight_before_it_stops(tmp_path):
    """Reload removing an inbox: no new claims, but the files it holds are still delivered."""
    release = threading.Event()
    app = ReceiverApp(tmp_path / "receiver")

    def hang(request: httpx.Request) -> None:
        release.wait(30)

    path = tmp_path / "config.toml"
    path.write_text(_inbox_config(tmp_path, "keep") + _inbox_config(tmp_path, "drop"))
    daemon = _reloadable(path, app, hang)
    daemon.start()
    try:
        (tmp_path / "drop" / "inbox" / "held.json").write_bytes(orjson.dumps([{"a": 1}]))
        (tmp_path / "drop" / "inbox" / "i-claimed.json").write_bytes(orjson.dumps([{"i": 1}]))
        wait_until(lambda: "held.json" in daemon.status_line(), what="the file in flight")
        wait_until(
            lambda: list((tmp_path / "drop" / "work").glob("*/i-claimed.json")),
            what="the next file claimed",
        )
        path.write_text(_inbox_config(tmp_path, "keep"))
        assert daemon.reload()
        assert sorted(daemon.inboxes) == ["keep"]
        (tmp_path / "drop" / "inbox" / "late.json").write_bytes(orjson.dumps([{"b": 2}]))
        release.set()
        wait_until(
            lambda: list((tmp_path / "drop" / "done").glob("*/*/held.json")), what="held done"
        )
        assert daemon.retiring() == ["drop"]

        _until_retired(daemon)
        assert (tmp_path / "drop" / "inbox" / "late.json").exists()
        assert list((tmp_path / "drop" / "done").glob("*/*/i-claimed.json"))  # claimed: delivered
    finally:
        release.set()
        daemon.shutdown()
        app.close()


def test_a_file_claimed_while_its_removed_inbox_retires_is_still_delivered(tmp_path):
    """The scout claims a file (renamed into work/) and the reload removing its inbox comes
    before the claim reaches the workers: the workers must not stop ahead of it."""
    app = ReceiverApp(tmp_path / "receiver")
    path = tmp_path / "config.toml"
    path.write_text(_inbox_config(tmp_path, "keep") + _inbox_config(tmp_path, "drop"))
    pause = PausingFailpoints("claim_renamed")  # between the rename and the hand-over
    daemon = _reloadable(path, app, failpoints=pause)
    daemon.start()
    try:
        (tmp_path / "drop" / "inbox" / "late-claim.json").write_bytes(orjson.dumps([{"a": 1}]))
        assert pause.reached_it.wait(30)
        path.write_text(_inbox_config(tmp_path, "keep"))
        assert daemon.reload()
        pause.go_on.set()

        _until_retired(daemon)
        assert list((tmp_path / "drop" / "done").glob("*/*/late-claim.json"))
        assert not list((tmp_path / "drop" / "work").iterdir())
    finally:
        pause.go_on.set()
        daemon.shutdown()
        app.close()


def test_a_removed_inbox_delivers_the_claims_it_was_still_resuming(tmp_path):
    """Claims left in work/ by an earlier run are handed to the workers as room allows (at
    most claim_limit at once); a reload removing the inbox while the scout still waits for room
    must not leave the rest of them behind."""
    release = threading.Event()
    app = ReceiverApp(tmp_path / "receiver")
    layout = Layout(tmp_path / "drop")
    layout.create(Disk())
    spool = Spool(layout, ["*.json"])
    leftovers = claim_limit(1) + 2  # more than the scout may hand over at once
    for n in range(leftovers):
        (layout.inbox / f"r{n}.json").write_bytes(orjson.dumps([{"n": n}]))
        assert spool.claim(f"r{n}.json", time.time()) is not None
    path = tmp_path / "config.toml"
    path.write_text(_inbox_config(tmp_path, "keep") + _inbox_config(tmp_path, "drop"))
    daemon = _reloadable(path, app, lambda request: release.wait(30) and None)
    daemon.start()
    try:
        wait_until(lambda: "r0.json" in daemon.status_line(), what="the first claim in flight")
        path.write_text(_inbox_config(tmp_path, "keep"))
        assert daemon.reload()  # r0 is held by the receiver: the scout cannot have them all
        release.set()

        _until_retired(daemon)
        done = sorted(p.name for p in layout.done.glob("*/*/r*.json"))
        assert done == [f"r{n}.json" for n in range(leftovers)]
        assert not list(layout.work.iterdir())
    finally:
        release.set()
        daemon.shutdown()
        app.close()


def _inbox_config(tmp_path, name: str, **extra: int) -> str:
    return (
        f'[[inbox]]\nname = "{name}"\nroot = "{tmp_path / name}"\n'
        'callback_url = "http://127.0.0.1:9/cb"\nsettle_seconds = 0.05\nrescan_seconds = 0.2\n'
        + "".join(f"{key} = {value}\n" for key, value in extra.items())
    )


def _reloadable(path, app, before=None, failpoints=None) -> Daemon:
    """A daemon on the config at `path`, sending into the receiver logic, that SIGHUP-style
    reloads may change."""
    return Daemon(
        load(path),
        SystemClock(),
        Notifier(RecordingNotifier()),
        into(app, before),
        config_path=path,
        failpoints=failpoints,
        new_stager=lambda settings: InProcess(),
    )


def _until_retired(daemon: Daemon) -> None:
    def retired() -> bool:
        daemon.tick()  # reaps a service whose threads have ended
        return not daemon.retiring()

    wait_until(retired, what="the removed inbox to stop")


def test_a_changed_inbox_leaves_files_claimed_ahead_to_its_next_service(tmp_path):
    """Reload changing an inbox: the old service finishes its file in flight only; a file it
    had claimed but not begun waits in work/ and is read with the new settings."""
    release = threading.Event()
    app = ReceiverApp(tmp_path / "receiver")

    def hang(request: httpx.Request) -> None:
        if orjson.loads(request.content)["source"]["file_name"] == "a-held.json":
            release.wait(30)

    path = tmp_path / "config.toml"
    path.write_text(_inbox_config(tmp_path, "p", chunk_records=2))
    daemon = _reloadable(path, app, hang)
    daemon.start()
    try:
        inbox, work = tmp_path / "p" / "inbox", tmp_path / "p" / "work"
        (inbox / "a-held.json").write_bytes(orjson.dumps([{"a": 1}]))
        (inbox / "b-next.json").write_bytes(orjson.dumps([{"b": n} for n in range(3)]))
        wait_until(lambda: "a-held.json" in daemon.status_line(), what="the file in flight")
        wait_until(lambda: list(work.glob("*/b-next.json")), what="the next file claimed")
        path.write_text(_inbox_config(tmp_path, "p", chunk_records=1))
        assert daemon.reload()
        release.set()

        def both_done() -> bool:
            daemon.tick()  # reaps the old service, starts the new one
            return len(list((tmp_path / "p" / "done").glob("*/*/*.json.journal"))) == 2

        wait_until(both_done, what="both files in done/")
        (journal,) = (tmp_path / "p" / "done").glob("*/*/b-next.json.journal")
        begin = orjson.loads(journal.read_bytes().splitlines()[0])
        assert begin["chunk_records"] == 1  # staged by the new service, with the new setting
        chunks = {i["file_name"]: (i["chunks"], i["duplicates"]) for i in app.store.summary()}
        assert chunks == {"a-held.json": (1, 0), "b-next.json": (3, 0)}
    finally:
        release.set()
        daemon.shutdown()
        app.close()
