"""The package and the unit as an admin runs them, under a real systemd booted by the test
(tests/systemd/machine.py): dpkg -i, systemctl start, status, reload, stop, the watchdog, a
crash, an upgrade with a file in flight, remove and purge, the journal, credentials and the
sandbox. Run alone with `pytest -m systemd`.

Each test boots a machine of its own (half a second) and installs the package built once for
the whole run. The reference receiver runs inside (its network namespace has only `lo`) and
keeps its data in the folder shared with the host, where the test reads it.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.systemd.machine import Machine, why_not

ROOT = Path(__file__).resolve().parents[2]
SPOOL = "/var/spool/ingestd/products"
CONFIG = "/etc/ingestd/config.toml"
UNIT_DROP_IN = "/etc/systemd/system/ingestd.service.d/test.conf"
WAIT = 60.0

REASON = why_not()
pytestmark = [
    pytest.mark.systemd,
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        REASON is not None and not os.environ.get("INGESTD_CI"), reason=f"no systemd: {REASON}"
    ),
]


def test_this_machine_can_boot_systemd():
    """In CI (INGESTD_CI is set) the module must run, not skip."""
    assert REASON is None, REASON


# -- fixtures and helpers -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def debs(tmp_path_factory) -> dict[str, Path]:
    """The package, built once, and the same package with a higher version for the upgrade."""
    out = tmp_path_factory.mktemp("debs")
    subprocess.run(
        [sys.executable, str(ROOT / "packaging/build_deb.py"), "--out", str(out)],
        check=True,
        capture_output=True,
        timeout=900,
    )
    (first,) = out.glob("ingestd_*.deb")
    return {"first": first, "newer": _with_version(first, "0.1.0+upgrade1", out / "newer")}


def _with_version(deb: Path, version: str, folder: Path) -> Path:
    tree = folder / "tree"
    folder.mkdir(parents=True)
    subprocess.run(["dpkg-deb", "-R", str(deb), str(tree)], check=True)
    control = tree / "DEBIAN/control"
    control.write_text(
        re.sub(r"^Version: .*$", f"Version: {version}", control.read_text(), flags=re.M)
    )
    target = folder / f"ingestd_{version}.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(tree), str(target)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return target


@pytest.fixture
def machine(tmp_path) -> Iterator[Machine]:
    booted = Machine(tmp_path / "share").boot()
    try:
        yield booted
    finally:
        booted.poweroff()


class Admin:
    """What an admin does on the machine, and what the test reads of it."""

    def __init__(self, machine: Machine) -> None:
        self.m = machine
        self.received = machine.share / "received"

    def install(self, deb: Path) -> str:
        (self.m.share / deb.name).write_bytes(deb.read_bytes())
        return self.m.run("dpkg", "-i", f"/mnt/share/{deb.name}").stdout

    def configure(self, **inbox: Any) -> None:
        settings = {
            "name": "products",
            "root": SPOOL,
            "callback_url": "http://127.0.0.1:9000/callback",
            "settle_seconds": 0.2,
            "chunk_records": 5,
            "retry_initial_delay_seconds": 0.1,
            "retry_max_delay_seconds": 0.5,
            "rescan_seconds": 2,
            **inbox,
        }
        self.m.write(CONFIG, _toml([settings]), 0o640)
        self.m.run("chown", "root:ingestd", CONFIG)

    def drop_in(self, text: str) -> None:
        self.m.write(UNIT_DROP_IN, "[Service]\n" + text)
        self.m.run("systemctl", "daemon-reload")

    def start_receiver(self, *extra: str) -> None:
        self.received.mkdir(exist_ok=True)
        self.m.run(
            "systemd-run", "--unit=receiver", "--property=Restart=no",
            "/usr/bin/ingestd", "receiver", "--port", "9000", "--data", "/mnt/share/received",
            *extra,
        )  # fmt: skip
        self.wait(self._healthy, "the receiver")

    def _healthy(self) -> bool:
        probe = "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9000/health')"
        return self.m.run("/usr/bin/python3", "-c", probe, check=False).returncode == 0

    def drop(self, name: str, content: bytes | list[Any], user: str = "root") -> None:
        """Upload as `user` under a temporary name, then rename into place, as SFTP does."""
        data = content if isinstance(content, bytes) else orjson.dumps(content)
        (self.m.share / name).write_bytes(data)
        self.m.run(
            "runuser", "-u", user, "--", "/bin/sh", "-c",
            f'cp "/mnt/share/{name}" "{SPOOL}/inbox/{name}.part" && '
            f'mv "{SPOOL}/inbox/{name}.part" "{SPOOL}/inbox/{name}"',
        )  # fmt: skip

    def done(self, name: str) -> bool:
        found = self.m.shell(f"ls {SPOOL}/done/*/*/ 2>/dev/null || true")
        return name in found.split()

    def ingestions(self) -> list[dict[str, Any]]:
        database = self.received / "receiver.sqlite3"
        if not database.exists():
            return []
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
            rows = db.execute(
                "SELECT ingestion_id, next_chunk, records, completed, file_name FROM ingestions"
            ).fetchall()
            duplicates = dict(
                db.execute(
                    "SELECT ingestion_id, COUNT(*) FROM deliveries WHERE outcome = 'duplicate' "
                    "GROUP BY ingestion_id"
                ).fetchall()
            )
        keys = ("ingestion_id", "chunks", "records", "completed", "file_name")
        return [
            dict(zip(keys, row, strict=True)) | {"duplicates": duplicates.get(row[0], 0)}
            for row in rows
        ]

    def records(self, file_name: str) -> list[dict[str, Any]]:
        (ingestion,) = [i for i in self.ingestions() if i["file_name"] == file_name]
        path = self.received / f"{ingestion['ingestion_id']}.ndjson"
        return [orjson.loads(line) for line in path.read_bytes().splitlines()]

    def chunks_received(self) -> int:
        return sum(i["chunks"] for i in self.ingestions())

    def show(self, prop: str, unit: str = "ingestd") -> str:
        return self.m.run("systemctl", "show", unit, "-p", prop, "--value").stdout.strip()

    def journal(self, *match: str) -> list[dict[str, Any]]:
        out = self.m.run("journalctl", "-u", "ingestd", "-o", "json", "--no-pager", *match).stdout
        return [orjson.loads(line) for line in out.splitlines() if line.strip()]

    def events(self) -> list[str]:
        return [entry.get("INGESTD_EVENT", "") for entry in self.journal()]

    def wait(self, predicate: Any, what: str, timeout: float = WAIT) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() > deadline:
                status = self.m.run("systemctl", "status", "ingestd", "--no-pager", check=False)
                raise AssertionError(f"timed out waiting for {what}\n{status.stdout}")
            time.sleep(0.1)


@pytest.fixture
def admin(machine, debs) -> Admin:
    admin = Admin(machine)
    admin.install(debs["first"])
    return admin


def catalog(n: int, tag: str = "") -> list[dict[str, Any]]:
    return [{"sku": f"{tag}S{i:05d}", "name": f"Prodüct {i}", "price": i + 0.5} for i in range(n)]


def _toml(inboxes: list[dict[str, Any]]) -> str:
    lines = []
    for inbox in inboxes:
        lines.append("[[inbox]]")
        for key, value in inbox.items():
            lines.append(f"{key} = {orjson.dumps(value).decode()}")
    return "\n".join(lines) + "\n"


def _running(admin: Admin) -> bool:
    return admin.show("ActiveState") == "active" and admin.show("SubState") == "running"


# -- the tests ----------------------------------------------------------------------------------


def test_the_package_installs_what_it_promises(admin):
    """User, groups, folders with their modes, the conffile and the units."""
    m = admin.m
    assert m.run("getent", "passwd", "ingestd").stdout.split(":")[5] == "/var/spool/ingestd"
    assert "ingestd" in m.run("getent", "group", "ingestd-inbox").stdout
    modes = m.shell(f"stat -c '%a %U %G %n' /var/spool/ingestd {SPOOL}/inbox {SPOOL}/work")
    assert modes.splitlines() == [
        "750 ingestd ingestd-inbox /var/spool/ingestd",
        f"2770 ingestd ingestd-inbox {SPOOL}/inbox",
        f"750 ingestd ingestd {SPOOL}/work",
    ]
    assert m.shell(f"stat -c '%a %U %G' {CONFIG}").split() == ["640", "root", "ingestd"]
    assert "/etc/ingestd/config.toml" in m.read("/var/lib/dpkg/info/ingestd.conffiles")
    assert admin.show("LoadState") == "loaded" and admin.show("Type") == "notify"
    assert m.run("ingestd", "check-config").returncode == 0


def test_start_reaches_running_only_after_ready_and_status_shows_progress(admin):
    """Type=notify: `systemctl start` returns once READY=1 came; while a large file is sent,
    `systemctl status` shows the inbox's progress line."""
    admin.configure(chunk_records=2)
    admin.start_receiver()
    admin.m.run("systemctl", "start", "ingestd")
    assert _running(admin)
    assert "started" in admin.events()
    admin.wait(lambda: admin.show("StatusText").startswith("products:"), "the first STATUS=")
    admin.drop("big.json", catalog(3000))
    line = admin.wait(
        lambda: re.search(r"products: big\.json \d+% \(chunk \d+/1500\)", admin.show("StatusText")),
        "a progress line",
    )
    assert line
    status = admin.m.run("systemctl", "status", "ingestd", "--no-pager", check=False).stdout
    assert 'Status: "products:' in status
    admin.wait(lambda: admin.done("big.json"), "big.json in done/", 120)
    assert admin.records("big.json") == catalog(3000)


def test_files_from_a_user_of_the_inbox_group_arrive_once(admin):
    """alice, in ingestd-inbox, uploads as x.part and renames; a file written in place too."""
    admin.configure()
    admin.start_receiver()
    m = admin.m
    m.run("useradd", "--create-home", "--groups", "ingestd-inbox", "alice")
    m.run("systemctl", "start", "ingestd")
    admin.drop("upload.json", catalog(12, "u"), user="alice")
    (m.share / "direct.json").write_bytes(orjson.dumps(catalog(7, "d")))
    m.run("runuser", "-u", "alice", "--", "cp", "/mnt/share/direct.json", f"{SPOOL}/inbox/")
    admin.wait(lambda: admin.done("upload.json") and admin.done("direct.json"), "both in done/")
    assert admin.records("upload.json") == catalog(12, "u")
    assert admin.records("direct.json") == catalog(7, "d")
    assert all(i["duplicates"] == 0 for i in admin.ingestions())


def test_reload_starts_a_new_inbox_and_refuses_a_broken_config(admin):
    admin.configure()
    admin.start_receiver()
    m = admin.m
    m.run("systemctl", "start", "ingestd")
    second = "/var/spool/ingestd/second"
    m.run("install", "-d", "-o", "ingestd", "-g", "ingestd", "-m", "750", second)
    config = m.read(CONFIG) + _toml(
        [{"name": "second", "root": second, "callback_url": "http://127.0.0.1:9000/callback",
          "settle_seconds": 0.2}]
    )  # fmt: skip
    m.write(CONFIG, config, 0o640)
    m.run("chown", "root:ingestd", CONFIG)
    m.run("systemctl", "reload", "ingestd")
    admin.wait(lambda: "reloaded" in admin.events(), "the reload")
    m.shell(f"echo '[{{\"a\": 1}}]' > {second}/inbox/new.json")
    admin.wait(lambda: m.shell(f"ls {second}/done/*/*/ 2>/dev/null || true").split(), "new.json")
    m.write(CONFIG, config + "\nthis is = not toml =\n", 0o640)
    m.run("systemctl", "reload", "ingestd")  # systemd 252 returns 0 anyway: the journal says
    refused = admin.wait(
        lambda: [e for e in admin.journal() if e.get("INGESTD_EVENT") == "reload refused"],
        "the refusal",
    )
    assert refused[0]["PRIORITY"] == "3"
    admin.drop("after.json", catalog(3))
    admin.wait(lambda: admin.done("after.json"), "the old config still serving")
    assert _running(admin)


def test_the_watchdog_restarts_a_stopped_daemon_and_the_file_finishes_once(admin):
    admin.configure(chunk_records=2)
    admin.drop_in("WatchdogSec=3s\nRestartSec=1s\n")
    admin.start_receiver()
    m = admin.m
    m.run("systemctl", "start", "ingestd")
    admin.drop("big.json", catalog(3000))
    admin.wait(lambda: admin.chunks_received() >= 100, "chunks flowing")
    pid = admin.show("MainPID")
    m.run("kill", "-STOP", pid)
    admin.wait(lambda: admin.show("NRestarts") == "1", "the watchdog's restart", 30)
    assert any("Watchdog timeout" in e.get("MESSAGE", "") for e in m_journal(m))
    admin.wait(lambda: admin.done("big.json"), "big.json in done/", 120)
    assert admin.records("big.json") == catalog(3000)
    (ingestion,) = admin.ingestions()
    assert ingestion["duplicates"] <= 1


def m_journal(m: Machine) -> list[dict[str, Any]]:
    """systemd's own lines about the unit (not the daemon's)."""
    out = m.run("journalctl", "-o", "json", "--no-pager", "_PID=1").stdout
    return [orjson.loads(line) for line in out.splitlines() if line.strip()]


def test_stop_and_start_mid_file_and_a_kill_of_the_main_pid_both_resume(admin):
    admin.configure(chunk_records=2)
    admin.drop_in("RestartSec=1s\n")
    admin.start_receiver()
    m = admin.m
    m.run("systemctl", "start", "ingestd")
    admin.drop("big.json", catalog(3000))
    admin.wait(lambda: admin.chunks_received() >= 100, "chunks flowing")
    m.run("systemctl", "stop", "ingestd")
    assert admin.show("ActiveState") == "inactive" and admin.show("Result") == "success"
    stopped_at = admin.chunks_received()
    assert stopped_at < 1500
    m.run("systemctl", "start", "ingestd")
    admin.wait(lambda: admin.chunks_received() >= stopped_at + 100, "the resumed file")
    m.run("kill", "-9", admin.show("MainPID"))
    admin.wait(lambda: admin.show("NRestarts") == "1" and _running(admin), "Restart=on-failure")
    admin.wait(lambda: admin.done("big.json"), "big.json in done/", 120)
    assert admin.records("big.json") == catalog(3000)
    (ingestion,) = admin.ingestions()
    assert ingestion["duplicates"] <= 2


def test_a_token_from_load_credential_is_sent_and_never_logged(admin):
    """As docs/operating.md says: the token in /etc/ingestd/callback-token, LoadCredential=,
    callback_token_credential; the receiver demands it."""
    token = "s3cret-T0ken-for-pimcore"
    m = admin.m
    m.write("/etc/ingestd/callback-token", token + "\n", 0o600)
    admin.drop_in("LoadCredential=callback-token:/etc/ingestd/callback-token\n")
    admin.configure(callback_token_credential="callback-token")
    m.write("/root/receiver-token", token + "\n", 0o600)
    admin.start_receiver("--token-file", "/root/receiver-token")
    m.run("systemctl", "start", "ingestd")
    admin.drop("a.json", catalog(10))
    admin.wait(lambda: admin.done("a.json"), "a.json in done/")
    assert admin.records("a.json") == catalog(10)
    everything = m.run("journalctl", "--no-pager", "-o", "json", check=False).stdout
    assert token not in everything
    assert token not in m.run("systemctl", "status", "ingestd", "--no-pager", check=False).stdout


def test_the_sandbox_holds_and_the_syscall_filter_lets_both_formats_through(admin, tmp_path):
    from tests import workbooks

    admin.configure()
    admin.start_receiver()
    m = admin.m
    m.run("systemctl", "start", "ingestd")
    pid = admin.show("MainPID")
    status = m.read(f"/proc/{pid}/status")
    for capabilities in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert re.search(rf"^{capabilities}:\s+0+$", status, re.M), capabilities
    assert re.search(r"^NoNewPrivs:\s+1$", status, re.M)
    assert re.search(r"^Seccomp:\s+2$", status, re.M)
    uid, gid = (m.run("id", flag, "ingestd").stdout.strip() for flag in ("-u", "-g"))
    as_service = ["nsenter", "-t", pid, "-m", "-S", uid, "-G", gid, "--"]
    for outside in ("/etc/ingestd/x", "/usr/lib/ingestd/x", "/root/x", "/var/lib/x"):
        assert m.run(*as_service, "touch", outside, check=False).returncode != 0, outside
    assert m.run(*as_service, "touch", f"{SPOOL}/work/probe", check=False).returncode == 0
    m.run("rm", "-f", f"{SPOOL}/work/probe")
    workbook = workbooks.write(tmp_path / "w.xlsx", {"S": [["sku", "n"], ["A", 1], ["B", 2]]})
    admin.drop("sheet.xlsx", workbook.read_bytes())
    admin.drop("list.json", catalog(20))
    admin.wait(lambda: admin.done("sheet.xlsx") and admin.done("list.json"), "both in done/")
    assert admin.records("sheet.xlsx") == [{"sku": "A", "n": 1}, {"sku": "B", "n": 2}]
    journal = m.run("journalctl", "--no-pager", check=False).stdout
    assert "SIGSYS" not in journal and "Operation not permitted" not in journal
    assert admin.show("NRestarts") == "0"


def test_the_journal_gets_one_entry_a_line_at_its_priority_and_an_ingestion_is_found_by_id(
    admin,
):
    admin.configure()
    m = admin.m
    m.run("systemctl", "start", "ingestd")
    admin.drop("broken.json", b'[{"a": 1}, {"b": ')
    admin.drop("waits.json", catalog(4))  # no receiver yet: retries
    admin.wait(lambda: "receiver not ready, will retry" in admin.events(), "a retry")
    admin.start_receiver()
    admin.wait(lambda: admin.done("waits.json"), "waits.json in done/")
    entries = admin.journal()
    failed = [e for e in entries if e.get("INGESTD_EVENT") == "file failed"]
    retries = [e for e in entries if e.get("INGESTD_EVENT") == "receiver not ready, will retry"]
    assert failed and all(e["PRIORITY"] == "3" for e in failed)
    assert retries and all(e["PRIORITY"] == "4" for e in retries)
    assert failed[0]["REASON"] == "invalid_input" and failed[0]["FILE"] == "broken.json"
    (ingestion,) = admin.ingestions()
    mine = admin.journal(f"INGESTION_ID={ingestion['ingestion_id']}")
    assert mine and all(e["INGESTION_ID"] == ingestion["ingestion_id"] for e in mine)
    assert {"validated and staged", "completion acknowledged"} <= {e["INGESTD_EVENT"] for e in mine}
    assert all("\n" not in e["MESSAGE"] for e in entries if isinstance(e["MESSAGE"], str))


def test_an_upgrade_with_a_file_in_flight_restarts_and_the_file_completes_once(admin, debs):
    admin.configure(chunk_records=2)
    admin.start_receiver()
    m = admin.m
    m.run("systemctl", "start", "ingestd")
    edited = m.read(CONFIG)
    admin.drop("big.json", catalog(3000))
    admin.wait(lambda: admin.chunks_received() >= 100, "chunks flowing")
    before = admin.show("MainPID")
    admin.install(debs["newer"])
    assert m.shell("dpkg-query -W -f '${Version}' ingestd") == "0.1.0+upgrade1"
    admin.wait(lambda: _running(admin) and admin.show("MainPID") != before, "the restart")
    admin.wait(lambda: admin.done("big.json"), "big.json in done/", 120)
    assert admin.records("big.json") == catalog(3000)
    (ingestion,) = admin.ingestions()
    assert ingestion["duplicates"] <= 1
    assert m.read(CONFIG) == edited  # the admin's conffile kept


def test_remove_stops_the_service_and_purge_takes_what_the_docs_say(admin):
    """docs/operating.md: a purge removes the package's files and /etc/ingestd; it leaves the
    user, the groups and the spool. `ingestd status` run as root first must not leave byte-code
    behind in /usr/lib/ingestd."""
    admin.configure()
    m = admin.m
    m.run("systemctl", "start", "ingestd")
    m.run("ingestd", "status")  # as root, from a shell
    assert not m.shell("find /usr/lib/ingestd -newer /var/lib/dpkg/info/ingestd.list -name '*.pyc'")
    m.run("dpkg", "--remove", "ingestd")
    assert admin.show("ActiveState") in ("inactive", "")
    assert m.shell("test -e /etc/ingestd/config.toml && echo kept").strip() == "kept"
    m.run("dpkg", "--purge", "ingestd")
    for gone in ("/usr/lib/ingestd", "/etc/ingestd", "/usr/bin/ingestd"):
        assert m.run("test", "-e", gone, check=False).returncode != 0, gone
    assert m.run("getent", "passwd", "ingestd").returncode == 0
    assert m.run("getent", "group", "ingestd-inbox").returncode == 0
    assert m.run("test", "-d", f"{SPOOL}/inbox").returncode == 0
