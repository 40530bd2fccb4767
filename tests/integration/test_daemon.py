"""The real daemon as a subprocess, the real receiver over loopback, real files and signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import orjson
import pytest

from bench import stack
from tests.integration.conftest import Spool, inbox_config, wait_until


def catalog(n: int, tag: str = "") -> list[dict]:
    return [
        {
            "sku": f"{tag}S{i:05d}",
            "name": f"Prodüct ñ {i}",
            "price": round(i * 1.01, 2),
            "stock": i,
            "active": i % 2 == 0,
            "note": None,
            "dims": {"w": 1.5, "h": i},
            "tags": ["a", "b"],
        }
        for i in range(n)
    ]


@pytest.fixture
def spool(tmp_path):
    return Spool(tmp_path / "spool" / "products")


def test_dropped_files_arrive_exactly_once_in_order_and_land_in_done(spool, receiver, daemon):
    """Every record exactly once, in order, checksums valid, completion received, file in done/."""
    daemon.configure([inbox_config(spool.root, receiver)])
    daemon.start()
    files = {f"products-{n}.json": catalog(25 + n, tag=str(n)) for n in range(3)}
    for name, records in files.items():
        spool.drop(name, records)
    wait_until(lambda: len(spool.data_files("done")) == 3, what="three files in done/")
    completed = receiver.completed()
    assert [i["file_name"] for i in completed] == sorted(files)
    for ingestion in completed:
        assert receiver.records(ingestion["ingestion_id"]) == files[ingestion["file_name"]]
        assert ingestion["duplicates"] == 0
    assert sorted(p.name for p in spool.data_files("done")) == sorted(files)
    assert len(list(spool.done.glob("*/*/*.journal"))) == 3
    assert spool.work_claims() == []
    assert daemon.process.terminate() == 0


def test_bad_files_fail_with_a_report_while_good_ones_keep_flowing(spool, receiver, daemon):
    daemon.configure([inbox_config(spool.root, receiver)])
    daemon.start()
    spool.drop("a-truncated.json", orjson.dumps(catalog(30))[:-40])
    spool.drop("b-numbers.json", b"[1, 2, 3]")
    spool.drop("c-empty-array.json", b"[]")
    spool.drop("d-zero-bytes.json", b"")
    spool.drop("e-good.json", catalog(12))
    spool.drop("f-object.json", b'{"products": []}')
    wait_until(
        lambda: len(spool.data_files("done")) + len(spool.data_files("failed")) == 6,
        what="all six files finished",
    )
    assert [p.name for p in spool.data_files("done")] == ["c-empty-array.json", "e-good.json"]
    reports = {r["file"]: r for r in spool.reports()}
    assert sorted(reports) == [
        "a-truncated.json",
        "b-numbers.json",
        "d-zero-bytes.json",
        "f-object.json",
    ]
    assert "malformed JSON" in reports["a-truncated.json"]["error"]
    assert reports["a-truncated.json"]["where"]["byte_offset"] > 0
    assert "not an object" in reports["b-numbers.json"]["error"]
    assert "empty" in reports["d-zero-bytes.json"]["error"]
    assert "not an array" in reports["f-object.json"]["error"]
    for report in reports.values():
        assert report["reason"] == "invalid_input" and report["chunks_acknowledged"] == 0
    by_name = {i["file_name"]: i for i in receiver.ingestions()}
    assert sorted(by_name) == [
        "c-empty-array.json",
        "e-good.json",
    ]  # nothing of the bad files arrived
    assert (
        by_name["c-empty-array.json"]["completed"] and by_name["c-empty-array.json"]["records"] == 0
    )


def test_files_waiting_at_start_up_are_ingested_in_name_order(spool, receiver, daemon):
    """Files that arrived while the daemon was down are found at start-up and taken by name."""
    spool.inbox.mkdir(parents=True)
    names = ["delta-003.json", "delta-002.json", "delta-001.json"]
    for name in names:
        spool.drop(name, catalog(5, tag=name))
    daemon.configure([inbox_config(spool.root, receiver)])
    daemon.start()
    wait_until(lambda: len(spool.data_files("done")) == 3, what="the early files in done/")
    assert [i["file_name"] for i in receiver.completed()] == sorted(names)


def test_moving_a_finished_file_back_into_the_inbox_reingests_it(spool, receiver, daemon):
    """Re-ingestion starts a new ingestion with a new ingestion_id, chunks from 0 again."""
    daemon.configure([inbox_config(spool.root, receiver)])
    daemon.start()
    spool.drop("daily.json", catalog(15))
    wait_until(lambda: spool.data_files("done"), what="first ingestion done")
    (done,) = spool.data_files("done")
    os.rename(done, spool.inbox / "daily.json")
    wait_until(
        lambda: len(list(spool.done.glob("*/*/*.journal"))) == 2 and spool.data_files("done"),
        what="second ingestion done",
    )
    first, second = receiver.completed()
    assert first["ingestion_id"] != second["ingestion_id"]
    assert (
        receiver.records(first["ingestion_id"])
        == receiver.records(second["ingestion_id"])
        == catalog(15)
    )
    assert second["chunks"] == 2 and second["duplicates"] == 0


def test_a_file_still_being_written_is_not_claimed_until_it_settles(spool, receiver, daemon):
    """A slow upload under its final name is claimed only once unchanged for settle_seconds."""
    daemon.configure([inbox_config(spool.root, receiver, settle_seconds=1.0)])
    daemon.start()
    data = orjson.dumps(catalog(40))
    pieces = [data[i : i + len(data) // 6 + 1] for i in range(0, len(data), len(data) // 6 + 1)]
    with open(spool.inbox / "slow.json", "wb") as f:
        for piece in pieces:
            f.write(piece)
            f.flush()
            time.sleep(0.3)  # a slow writer: pauses shorter than settle_seconds
            assert (spool.inbox / "slow.json").exists(), "claimed while still being written"
    wait_until(
        lambda: spool.data_files("done") or spool.data_files("failed"), what="slow file done"
    )
    assert spool.data_files("failed") == []
    (ingestion,) = receiver.completed()
    assert receiver.records(ingestion["ingestion_id"]) == catalog(40)


def test_writes_by_a_writer_the_daemon_never_saw_open_still_hold_the_file_back(
    spool, receiver, daemon
):
    """The watcher does not follow writes: a writer that opened the file before the daemon
    started leaves no open count, and only the look just before a claim sees it still writing."""
    daemon.configure([inbox_config(spool.root, receiver, settle_seconds=0.6)])
    spool.inbox.mkdir(parents=True)
    data = orjson.dumps(catalog(40))
    pieces = [data[i : i + len(data) // 8 + 1] for i in range(0, len(data), len(data) // 8 + 1)]
    with open(spool.inbox / "early.json", "wb") as f:
        f.write(pieces[0])
        f.flush()
        daemon.start()
        wait_until(lambda: any(line.get("event") == "started" for line in daemon.log_lines()))
        for piece in pieces[1:]:
            time.sleep(0.25)  # pauses shorter than settle_seconds, over twice its length
            assert (spool.inbox / "early.json").exists(), "claimed while still being written"
            f.write(piece)
            f.flush()
    wait_until(lambda: spool.data_files("done"), what="the file in done/ once written")
    (ingestion,) = receiver.completed()
    assert receiver.records(ingestion["ingestion_id"]) == catalog(40)


def test_a_file_is_not_claimed_while_its_writer_holds_it_open(spool, receiver, daemon):
    """An upload written in place is claimed only after its writer closes it."""
    daemon.configure([inbox_config(spool.root, receiver, settle_seconds=0.2)])
    daemon.start()
    with open(spool.inbox / "inplace.json", "wb") as f:
        f.write(orjson.dumps(catalog(5)))
        f.flush()
        wait_until(lambda: any(line.get("event") == "started" for line in daemon.log_lines()))
        deadline = time.monotonic() + 1.5  # well past settle_seconds, with no change
        while time.monotonic() < deadline:
            assert (spool.inbox / "inplace.json").exists(), "claimed while open for writing"
            time.sleep(0.05)
    wait_until(lambda: spool.data_files("done"), what="the file in done/ after its close")


def test_a_file_linked_into_place_without_any_close_event_is_claimed(spool, receiver, daemon):
    """OpenSSH's sftp-server renames by link+unlink: the final name appears only as a create."""
    daemon.configure([inbox_config(spool.root, receiver, rescan_seconds=3600)])
    daemon.start()
    staging = spool.root / "upload-area"
    staging.mkdir()
    (staging / "upload").write_bytes(orjson.dumps(catalog(7)))
    os.link(staging / "upload", spool.inbox / "linked-in.json")
    os.unlink(staging / "upload")
    wait_until(lambda: spool.data_files("done"), what="the linked-in file in done/")
    (ingestion,) = receiver.completed()
    assert receiver.records(ingestion["ingestion_id"]) == catalog(7)


def test_entries_that_are_not_for_ingestion_are_left_alone(spool, receiver, daemon, tmp_path):
    """Hidden files, upload temporaries, lock files, FIFOs, links and folders stay untouched."""
    spool.inbox.mkdir(parents=True)
    secret = tmp_path / "secret.json"
    secret.write_bytes(orjson.dumps([{"secret": True}]))
    leftovers = [
        ".hidden.json",
        "upload.json.part",
        "upload.json.filepart",
        "x.json.tmp",
        "y.json.partial",
        "z.json~",
        "~$sheet.json",
    ]
    for name in leftovers:
        (spool.inbox / name).write_bytes(b"[]")
    os.mkfifo(spool.inbox / "fifo.json")
    os.symlink(secret, spool.inbox / "link.json")
    (spool.inbox / "folder.json").mkdir()
    daemon.configure([inbox_config(spool.root, receiver)])
    daemon.start()
    spool.drop("good.json", catalog(3))
    wait_until(lambda: spool.data_files("done"), what="the good file in done/")
    remaining = sorted(os.listdir(spool.inbox))
    assert remaining == sorted([*leftovers, "fifo.json", "link.json", "folder.json"])
    assert [i["file_name"] for i in receiver.ingestions()] == ["good.json"]
    warnings = [
        line for line in daemon.log_lines() if "not a regular file" in line.get("event", "")
    ]
    assert sorted(w["file"] for w in warnings) == ["fifo.json", "folder.json", "link.json"]


def test_names_with_newlines_and_bad_bytes_are_escaped_everywhere(spool, receiver, daemon):
    """A hostile name never breaks a log line or the protocol; it is shown escaped."""
    daemon.configure([inbox_config(spool.root, receiver)])
    daemon.start()
    name = os.fsdecode(b"evil\nname\xff.json")
    spool.drop(name, catalog(3))
    wait_until(lambda: spool.data_files("done"), what="the oddly named file in done/")
    (ingestion,) = receiver.completed()
    assert ingestion["file_name"] == "evil\\x0aname\\xff.json"
    assert spool.data_files("done")[0].name == name  # the file itself keeps its real name
    lines = (daemon.root / "daemon.log").read_bytes().splitlines()
    assert all(line.startswith(b"{") for line in lines if line.strip())
    assert any(b"evil\\\\x0aname\\\\xff.json" in line for line in lines)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_mid_ingestion_exits_cleanly_and_the_file_resumes(
    spool, receiver, daemon, signum
):
    """SIGTERM/SIGINT: stop claiming, leave the journal consistent, exit 0; a restart finishes."""
    dead_end = inbox_config(spool.root, receiver, callback_url="http://127.0.0.1:9/callback")
    daemon.configure([dead_end])
    daemon.start()
    spool.drop("p.json", catalog(30))
    wait_until(
        lambda: any("will retry" in line.get("event", "") for line in daemon.log_lines()),
        what="the daemon retrying an unreachable receiver",
    )
    assert daemon.process.terminate(timeout=10, signum=signum) == 0
    (claim,) = spool.work_claims()
    assert (claim / "p.json.journal").exists()
    daemon.configure([inbox_config(spool.root, receiver)])
    daemon.start()
    wait_until(lambda: spool.data_files("done"), what="the resumed file in done/")
    (ingestion,) = receiver.completed()
    assert receiver.records(ingestion["ingestion_id"]) == catalog(30)


@pytest.mark.parametrize("moment", ["idle", "staging", "sending"])
def test_a_stop_sent_to_the_whole_process_group_is_clean_and_silent(
    tmp_path, spool, receiver, daemon, moment
):
    """Ctrl-C in a terminal and systemd's KillMode=control-group signal every process of the
    daemon at once, its parser processes and their forkserver included: it still exits 0, with
    no traceback, and leaves no process behind."""
    from bench import data

    daemon.configure([inbox_config(spool.root, receiver, chunk_records=50, workers=2)])
    daemon.start(new_session=True)
    if moment != "idle":
        spool.drop("big.json", data.write_json_sized(tmp_path / "big.json", 30 << 20).read_bytes())
        event = "claimed" if moment == "staging" else "chunk acknowledged"
        wait_until(lambda: any(line["event"] == event for line in daemon.log_lines()), what=event)
        wait_until(lambda: len(stack.children(daemon.process.pid)) >= 2, what="the parsers")
    else:  # helper processes start with the first file: at rest the daemon is one process
        assert stack.children(daemon.process.pid) == []
    group = os.getpgid(daemon.process.pid)
    os.killpg(group, signal.SIGTERM)
    assert daemon.process.proc.wait(timeout=30) == 0
    output = daemon.process.output()
    assert "Traceback" not in output and "Error" not in output.replace('"error"', ""), output[
        -3000:
    ]
    wait_until(lambda: not _group_alive(group), what="every process of the group to end")


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def test_several_inboxes_run_side_by_side(tmp_path, receiver, daemon):
    first, second = Spool(tmp_path / "a"), Spool(tmp_path / "b")
    daemon.configure(
        [
            inbox_config(first.root, receiver, name="first"),
            inbox_config(second.root, receiver, name="second", patterns=["*.data"]),
        ]
    )
    daemon.start()
    first.drop("one.json", catalog(4))
    second.drop("two.data", catalog(6))
    second.drop("ignored.json", catalog(1))
    wait_until(lambda: first.data_files("done") and second.data_files("done"), what="both inboxes")
    assert sorted((i["inbox"], i["records"]) for i in receiver.completed()) == [
        ("first", 4),
        ("second", 6),
    ]
    assert os.listdir(second.inbox) == ["ignored.json"]


@pytest.mark.parametrize(
    "config,needle",
    [
        (
            '[[inbox]]\nname = "p"\nroot = "/tmp/x"\ncallback_url = "http://127.0.0.1:1/"\nchunk_records = 0\n',
            "inbox.0.chunk_records",
        ),
        ('[[inbox]]\nname = "p"\nroot = "/tmp/x"\n', "inbox.0.callback_url"),
        (
            '[[inbox]]\nname = "p"\nroot = "/tmp/x"\ncallback_url = "ftp://x"\n',
            "http:// or https://",
        ),
        (
            '[[inbox]]\nname = "p"\nroot = "/tmp/x"\ncallback_url = "http://h/"\nsettle = 2\n',
            "inbox.0.settle",
        ),
        ("inbox = [\n", "not valid TOML"),
        (
            'log_level = "loud"\n[[inbox]]\nname = "p"\nroot = "/tmp/x"\ncallback_url = "http://h/"\n',
            "log_level",
        ),
    ],
)
def test_an_invalid_config_is_refused_with_exit_status_2(tmp_path, config, needle):
    path = tmp_path / "bad.toml"
    path.write_text(config)
    result = subprocess.run(
        [sys.executable, "-m", "ingestd", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert needle in result.stderr


def test_a_file_the_fast_reader_declines_is_logged_once_and_counted(tmp_path, receiver, daemon):
    """The slow path is visible in production: one warning with the reason, and the metric
    ingestd_reference_reads_total{inbox, format}."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    from tests.integration.conftest import free_port

    port = free_port()
    spool = Spool(tmp_path / "spool" / "products")
    daemon.configure([inbox_config(spool.root, receiver)], metrics_listen=f"127.0.0.1:{port}")
    daemon.start()
    # A 19-digit integer: the fast JSON reader cannot be sure of it and declines.
    spool.drop("big.json", b'[{"id": 1234567890123456789}, {"id": 2}]')
    spool.drop("plain.json", [{"id": 3}])
    wait_until(lambda: len(spool.data_files("done")) == 2, what="both files done")

    declined = [
        line for line in daemon.log_lines() if line["event"].startswith("the fast reader declined")
    ]
    assert [(d["level"], d["reason"]) for d in declined] == [
        ("warning", "an integer of 19 or more digits")
    ]
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5, trust_env=False).text
    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    key = ("ingestd_reference_reads_total", (("format", "json"), ("inbox", "products")))
    assert values[key] == 1
