"""The operator's command line: status, check-config, reingest, with the daemon up or down."""

from __future__ import annotations

import os
import subprocess

import orjson
import pytest

from tests.integration.conftest import Spool, inbox_config, wait_until
from tests.integration.test_cli import ingestd
from tests.integration.test_daemon import catalog


@pytest.fixture
def spools(tmp_path):
    return Spool(tmp_path / "live"), Spool(tmp_path / "stuck")


def test_status_reads_folders_and_journals_whether_or_not_the_daemon_runs(spools, receiver, daemon):
    live, stuck = spools
    daemon.configure(
        [
            inbox_config(live.root, receiver, name="live"),
            inbox_config(stuck.root, receiver, name="stuck", callback_url="http://127.0.0.1:9/cb"),
        ]
    )
    daemon.start()
    live.drop("good.json", catalog(12))
    live.drop("bad.json", b"[1]")
    stuck.drop("waiting.json", catalog(25))
    wait_until(lambda: live.data_files("done") and live.data_files("failed"), what="live inbox")
    wait_until(lambda: list(stuck.work.glob("*/*.retry.json")), what="a retry state")

    for phase in ("running", "stopped"):
        result = ingestd("status", "--json", "--config", str(daemon.config))
        assert result.returncode == 0, result.stderr
        by_name = {i["name"]: i for i in orjson.loads(result.stdout)["inboxes"]}
        assert [f["file"] for f in by_name["live"]["recent_done"]] == ["good.json"]
        (failed,) = by_name["live"]["recent_failed"]
        assert failed["file"] == "bad.json" and failed["reason"] == "invalid_input"
        (claimed,) = by_name["stuck"]["in_work"]
        assert claimed["file"] == "waiting.json" and claimed["state"] == "waiting for the receiver"
        assert claimed["chunks_acknowledged"] == 0 and claimed["chunk_count"] == 3
        assert claimed["total_records"] == 25 and len(claimed["ingestion_id"]) == 64
        assert "ConnectError" in claimed["retry"]["reason"] and claimed["retry"]["attempt"] >= 1
        if phase == "running":
            text = ingestd("status", "--config", str(daemon.config)).stdout
            assert "waiting.json" in text and "retrying since" in text and "0/3 chunks" in text
            assert daemon.process.terminate() == 0


def test_check_config_checks_the_folders(tmp_path, receiver):
    config = tmp_path / "c.toml"
    root = tmp_path / "spool"

    def check(**extra) -> subprocess.CompletedProcess:
        lines = ["[[inbox]]", 'name = "p"', f'root = "{root}"', f'callback_url = "{receiver.url}"']
        lines += [f"{k} = {orjson.dumps(v).decode()}" for k, v in extra.items()]
        config.write_text("\n".join(lines) + "\n")
        return ingestd("check-config", "--config", str(config))

    assert check().returncode == 0  # missing folders will be created
    root.mkdir()
    (root / "inbox").write_text("not a folder")
    result = check()
    assert result.returncode == 2 and "inbox is not a directory" in result.stderr
    (root / "inbox").unlink()
    result = check(callback_token_file=str(tmp_path / "missing-token"))
    assert result.returncode == 2 and "cannot read the callback token" in result.stderr
    if os.stat("/dev/shm").st_dev != os.stat(tmp_path).st_dev:
        elsewhere = f"/dev/shm/ingestd-check-{os.getpid()}"
        os.mkdir(elsewhere)
        try:
            os.symlink(elsewhere, root / "done")
            result = check()
            assert result.returncode == 2 and "one filesystem" in result.stderr
        finally:
            os.rmdir(elsewhere)


def test_reingest_moves_a_finished_file_back_and_it_is_ingested_again(tmp_path, receiver, daemon):
    spool = Spool(tmp_path / "spool")
    daemon.configure([inbox_config(spool.root, receiver)])
    daemon.start()
    spool.drop("daily.json", catalog(5))
    wait_until(lambda: spool.data_files("done"), what="first ingestion")
    (done,) = spool.data_files("done")
    journal = done.with_name("daily.json.journal")

    refused = ingestd("reingest", str(journal), "--config", str(daemon.config))
    assert refused.returncode == 2 and "is a journal" in refused.stderr
    refused = ingestd("reingest", str(tmp_path / "elsewhere.json"), "--config", str(daemon.config))
    assert refused.returncode == 2 and "not in the done/ or failed/" in refused.stderr

    moved = ingestd("reingest", str(done), "--config", str(daemon.config))
    assert moved.returncode == 0, moved.stderr
    wait_until(lambda: len(receiver.completed()) == 2, what="the second ingestion")
    assert journal.exists()  # the first receipt stays where it was
    first, second = receiver.completed()
    assert first["ingestion_id"] != second["ingestion_id"]


def test_reingest_never_replaces_a_file_waiting_in_the_inbox(tmp_path, receiver):
    spool = Spool(tmp_path / "spool")
    finished = spool.done / "2026-11-26" / "20261126T000000.000000Z-00000000"
    finished.mkdir(parents=True)
    (finished / "p.json").write_bytes(b"[1]")
    spool.inbox.mkdir(parents=True)
    (spool.inbox / "p.json").write_bytes(b"[2]")
    config = tmp_path / "c.toml"
    config.write_text(
        f'[[inbox]]\nname = "p"\nroot = "{spool.root}"\ncallback_url = "{receiver.url}"\n'
    )
    result = ingestd("reingest", str(finished / "p.json"), "--config", str(config))
    assert result.returncode == 2 and "already exists" in result.stderr
    assert (spool.inbox / "p.json").read_bytes() == b"[2]"
    assert (finished / "p.json").read_bytes() == b"[1]"


def test_reingest_refuses_the_receipts_of_a_folder_whose_data_was_moved_out(tmp_path, receiver):
    """Only a data file goes back: a journal or report left behind is refused, exit 2, and
    nothing moves (it once went in, and came out as x.json.error.json.error.json)."""
    spool = Spool(tmp_path / "spool")
    finished = spool.failed / "2026-11-26" / "20261126T000000.000000Z-00000000"
    finished.mkdir(parents=True)
    spool.inbox.mkdir(parents=True)
    report = {"file": "x.json", "reason": "invalid_input", "error": "e", "what_to_do": "w"}
    (finished / "x.json.error.json").write_bytes(orjson.dumps(report))
    (finished / "x.json.journal").write_bytes(
        b'{"ingestion_id":"a","type":"begin","journal_version":1,"claim_token":"t"}\n'
    )
    config = tmp_path / "c.toml"
    config.write_text(
        f'[[inbox]]\nname = "p"\nroot = "{spool.root}"\ncallback_url = "{receiver.url}"\n'
    )
    for name, kind in (("x.json.error.json", "failure report"), ("x.json.journal", "journal")):
        result = ingestd("reingest", str(finished / name), "--config", str(config))
        assert result.returncode == 2, result.stderr
        assert f"is a {kind}" in result.stderr and "nothing was moved" in result.stderr
    assert sorted(os.listdir(finished)) == ["x.json.error.json", "x.json.journal"]
    assert os.listdir(spool.inbox) == []
    result = ingestd("reingest", str(finished / "x.json"), "--config", str(config))
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_receipts_moved_back_with_their_file_are_left_in_the_inbox(tmp_path, receiver, daemon):
    """An admin's `mv failed/<date>/<claim>/* inbox/` takes the report along: the file is
    ingested again, its journal and report are left where they are with one warning each, and
    `ingestd status` lists them."""
    spool = Spool(tmp_path / "spool")
    daemon.configure([inbox_config(spool.root, receiver, rescan_seconds=0.3)])
    daemon.start()
    spool.drop("good.json", catalog(5))
    spool.drop("bad.json", b"[1]")
    wait_until(lambda: spool.data_files("done") and spool.data_files("failed"), what="both")
    for folder in [*spool.done.glob("*/*"), *spool.failed.glob("*/*")]:
        for entry in folder.iterdir():
            os.rename(entry, spool.inbox / entry.name)
    wait_until(lambda: len(receiver.completed()) == 2, what="good.json again")
    wait_until(
        lambda: sum(line["event"] == "file failed" for line in daemon.log_lines()) == 2,
        what="bad.json again",
    )
    wait_until(
        lambda: sum("leaving a receipt" in line["event"] for line in daemon.log_lines()) == 2,
        what="a warning per receipt",
    )
    assert sorted(os.listdir(spool.inbox)) == ["bad.json.error.json", "good.json.journal"]
    assert not list(tmp_path.rglob("*.error.json.error.json"))
    status = orjson.loads(ingestd("status", "--json", "--config", str(daemon.config)).stdout)
    (inbox,) = status["inboxes"]
    assert inbox["waiting"] == []
    assert sorted(inbox["receipts_in_inbox"]) == sorted(os.listdir(spool.inbox))
    assert daemon.process.terminate() == 0
    warnings = [line for line in daemon.log_lines() if "leaving a receipt" in line["event"]]
    assert len(warnings) == len(os.listdir(spool.inbox))
