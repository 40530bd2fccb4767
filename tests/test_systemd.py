"""The units, sysusers and tmpfiles entries, checked with systemd's own tools (no running systemd)."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SYSTEMD = ROOT / "systemd"
UNITS = ["ingestd.service", "ingestd@.service"]

pytestmark = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="needs systemd-analyze"
)


def verify(unit: Path, cwd: Path) -> str:
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )
    return (result.stdout + result.stderr).strip()


def runnable_copy(name: str, tmp_path: Path, text: str | None = None) -> Path:
    """The unit with /usr/bin/ingestd pointing at this checkout's ingestd, so verify can check
    that the command exists; every other line is the shipped one."""
    launcher = Path(sys.executable).with_name("ingestd")
    copy = tmp_path / name
    original = text if text is not None else (SYSTEMD / name).read_text()
    assert "ExecStart=/usr/bin/ingestd run --config /etc/ingestd/" in original
    copy.write_text(original.replace("/usr/bin/ingestd", str(launcher)))
    return copy


@pytest.mark.parametrize("name", UNITS)
def test_systemd_analyze_verify_prints_nothing(name, tmp_path):
    """verify exits 0 even on a misspelled key and only warns, so its output must be empty."""
    assert verify(runnable_copy(name, tmp_path), tmp_path) == ""


def test_verify_would_catch_a_misspelled_key(tmp_path):
    text = (SYSTEMD / "ingestd.service").read_text().replace("ProtectSystem=", "ProtectSystm=")
    assert "ProtectSystm" in verify(runnable_copy("ingestd.service", tmp_path, text), tmp_path)


@pytest.mark.parametrize("name", UNITS)
def test_the_sandbox_rates_ok_at_2_or_lower(name):
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(SYSTEMD / name)],
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(
        r"Overall exposure level for \S+: (\d+\.\d) (\w+)", result.stdout + result.stderr
    )
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= 2.0 and found.group(2) == "OK"


def test_the_unit_is_a_notify_service_with_watchdog_reload_and_credentials_documented():
    text = (SYSTEMD / "ingestd.service").read_text()
    for line in (
        "Type=notify",
        "WatchdogSec=",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "User=ingestd",
        "SupplementaryGroups=ingestd-inbox",
        "ReadWritePaths=/var/spool/ingestd",
        "LoadCredential=callback-token:",
    ):
        assert line in text


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("systemd-sysusers"), reason="needs root")
def test_sysusers_and_tmpfiles_create_the_user_group_and_spool(tmp_path):
    """In a scratch root: the user and inbox group exist, inbox/ is setgid and group-writable."""
    (tmp_path / "etc").mkdir()
    subprocess.run(
        ["systemd-sysusers", f"--root={tmp_path}", str(SYSTEMD / "ingestd.sysusers")],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["systemd-tmpfiles", f"--root={tmp_path}", "--create", str(SYSTEMD / "ingestd.tmpfiles")],
        check=True,
        capture_output=True,
    )
    users = {
        line.split(":")[0]: line.split(":")
        for line in (tmp_path / "etc/passwd").read_text().splitlines()
    }
    groups = {
        line.split(":")[0]: line.split(":")
        for line in (tmp_path / "etc/group").read_text().splitlines()
    }
    assert users["ingestd"][6] == "/usr/sbin/nologin"
    assert "ingestd" in groups["ingestd-inbox"][3].split(",")
    inbox = os.stat(tmp_path / "var/spool/ingestd/products/inbox")
    assert stat.S_IMODE(inbox.st_mode) == 0o2770
    assert inbox.st_uid == int(users["ingestd"][2]) and inbox.st_gid == int(
        groups["ingestd-inbox"][2]
    )
    work = os.stat(tmp_path / "var/spool/ingestd/products/work")
    assert stat.S_IMODE(work.st_mode) == 0o750 and work.st_gid == int(groups["ingestd"][2])
