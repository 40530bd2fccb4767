"""systemctl reload (SIGHUP): new inboxes start, removed ones stop, a bad config is refused."""

from __future__ import annotations

import os
import signal

import pytest

from tests.integration.conftest import Spool, inbox_config, wait_until
from tests.integration.test_daemon import catalog


def hup(daemon) -> None:
    os.kill(daemon.process.pid, signal.SIGHUP)


def events(daemon, name: str) -> list[dict]:
    return [line for line in daemon.log_lines() if line.get("event") == name]


@pytest.fixture
def spools(tmp_path):
    return Spool(tmp_path / "a"), Spool(tmp_path / "b")


def test_reload_adds_changes_and_removes_inboxes_and_refuses_a_bad_config(spools, receiver, daemon):
    a, b = spools
    daemon.configure([inbox_config(a.root, receiver, name="a")])
    daemon.start()

    daemon.configure(
        [inbox_config(a.root, receiver, name="a"), inbox_config(b.root, receiver, name="b")]
    )
    hup(daemon)
    wait_until(lambda: events(daemon, "reloaded"), what="the first reload")
    wait_until(b.inbox.exists, what="the new inbox's folders")
    b.drop("new.json", catalog(3))
    wait_until(lambda: b.data_files("done"), what="a file through the new inbox")

    daemon.config.write_text("[[inbox]]\nname = 'a'\nchunk_records = -1\n")
    hup(daemon)
    wait_until(lambda: events(daemon, "reload refused"), what="the refusal")
    assert "inbox.0.chunk_records" in events(daemon, "reload refused")[0]["error"]
    a.drop("still.json", catalog(2))
    wait_until(lambda: a.data_files("done"), what="the old config still serving")

    daemon.configure([inbox_config(a.root, receiver, name="a", patterns=["*.data"])])
    hup(daemon)
    wait_until(lambda: len(events(daemon, "reloaded")) == 2, what="the second reload")
    wait_until(
        lambda: any(e["inbox"] == "b" for e in events(daemon, "inbox stopped")),
        what="the removed inbox to stop",
    )
    a.drop("changed.data", catalog(4))
    wait_until(lambda: len(a.data_files("done")) == 2, what="the changed patterns in use")
    b.drop("ignored.json", catalog(1))
    assert daemon.process.terminate() == 0
    assert os.listdir(b.inbox) == ["ignored.json"]
    assert sorted((i["inbox"], i["records"]) for i in receiver.completed()) == [
        ("a", 2),
        ("a", 4),
        ("b", 3),
    ]
