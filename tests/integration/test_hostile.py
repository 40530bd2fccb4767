"""The whole hostile corpus, and what an uploader can do to the folder itself, dropped at once
into one running daemon: it never dies, never follows a link out of its spool, never blocks on
a FIFO, and keeps ingesting the good files beside the bad ones."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from tests.corpus.make_corpus import FILES
from tests.harness import INBOX
from tests.integration.conftest import Spool, inbox_config, wait_until

EXPECTED = json.loads((FILES.parent / "expected.json").read_text())
VALID = (FILES / "valid.json").read_bytes()


def vmhwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise KeyError("VmHWM")


def test_the_hostile_campaign(tmp_path, receiver, daemon):
    spool = Spool(tmp_path / "spool")
    spool.inbox.mkdir(parents=True)
    daemon.configure(
        [
            inbox_config(
                spool.root,
                receiver,
                settle_seconds=0.2,
                patterns=INBOX.patterns,  # the defaults and *.xml
                xml_record_path=INBOX.xml_record_path,
            )
        ]
    )
    daemon.start()
    pid = daemon.process.pid
    outside = tmp_path / "outside.json"
    outside.write_bytes(b'[{"secret": "do not send"}]')

    for name, expected in EXPECTED.items():
        content = (FILES / name).read_bytes()
        if expected["outcome"] == "ignored":
            (spool.inbox / name).write_bytes(content)
        else:
            spool.drop(name, content)
    os.symlink(outside, spool.inbox / "symlink.json")
    os.link(outside, spool.inbox / "hardlink.json")
    os.mkfifo(spool.inbox / "fifo.json")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(spool.inbox / "socket.json"))
    (spool.inbox / "directory.json").mkdir()
    odd_names = [
        "with spaces.json",
        "new\nline.json",
        os.fsdecode(b"bad\xffbyte.json"),
        "tab\tname.xlsx",
    ]
    for name in odd_names[:3]:
        spool.drop(name, VALID)
    spool.drop(odd_names[3], (FILES / "valid.xlsx").read_bytes())

    claimed = (
        {n for n, e in EXPECTED.items() if e["outcome"] != "ignored"}
        | set(odd_names)
        | {"hardlink.json"}
    )
    finished = lambda: {p.name for p in spool.data_files("done") + spool.data_files("failed")}  # noqa: E731
    wait_until(lambda: finished() >= claimed, timeout=120, what="every claimable file finished")

    spool.drop("valid.json", VALID)  # the same name again: a second ingestion, nothing overwritten
    wait_until(
        lambda: [p.name for p in spool.data_files("done")].count("valid.json") == 2,
        what="the second valid.json",
    )

    assert daemon.process.proc.poll() is None and daemon.process.pid == pid, "the daemon died"
    assert vmhwm_mb(pid) < 400, "the daemon's memory grew with hostile input"
    reports = {r["file"]: r for r in spool.reports()}
    delivered = {i["file_name"]: i for i in receiver.completed()}
    for name, expected in EXPECTED.items():
        if expected["outcome"] == "delivered":
            assert delivered[name]["records"] == expected["records"], name
        elif expected["outcome"] == "failed":
            assert reports[name]["reason"] == expected["reason"], name
            assert expected["error"] in reports[name]["error"], name
            assert name not in delivered
    assert reports["hardlink.json"]["reason"] == "unsafe_file"
    for shown in (
        "with spaces.json",
        "new\\x0aline.json",
        "bad\\xffbyte.json",
        "tab\\x09name.xlsx",
    ):
        assert delivered[shown]["completed"], shown
    left = set(os.listdir(spool.inbox))
    assert left == {n for n, e in EXPECTED.items() if e["outcome"] == "ignored"} | {
        "symlink.json",
        "fifo.json",
        "socket.json",
        "directory.json",
    }
    assert outside.read_bytes() == b'[{"secret": "do not send"}]' and os.stat(outside).st_nlink == 2
    assert not any(b"do not send" in p.read_bytes() for p in receiver.data.glob("*.ndjson"))
    events = [line.get("event") for line in daemon.log_lines()]
    assert "unexpected error; the file stays in work/ and is retried" not in events
