"""The Debian package: built in one command, with the expected contents, and runnable."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")


@pytest.fixture(scope="module")
def deb(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("deb")
    subprocess.run(
        [sys.executable, str(ROOT / "packaging/build_deb.py"), "--out", str(out)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (package,) = out.glob("ingestd_*.deb")
    return package


@pytest.fixture(scope="module")
def extracted(deb, tmp_path_factory) -> Path:
    tree = tmp_path_factory.mktemp("tree")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tree)], check=True)
    return tree


def dpkg_deb(*args: str) -> str:
    return subprocess.run(["dpkg-deb", *args], capture_output=True, text=True, check=True).stdout


@needs_dpkg
def test_metadata(deb):
    info = dpkg_deb("-I", str(deb))
    assert "Package: ingestd" in info and "Version: 0.1.0" in info
    assert "Depends: python3 (>= 3.11), python3 (<< 3.12), systemd" in info
    native = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    )
    assert dpkg_deb("-f", str(deb), "Architecture").strip() == native.stdout.strip()
    assert "Homepage" not in info


@needs_dpkg
def test_contents(deb, extracted):
    listing = dpkg_deb("-c", str(deb))
    for path in (
        "./usr/bin/ingestd",
        "./usr/lib/systemd/system/ingestd.service",
        "./usr/lib/systemd/system/ingestd@.service",
        "./usr/lib/sysusers.d/ingestd.conf",
        "./usr/lib/tmpfiles.d/ingestd.conf",
        "./etc/ingestd/config.toml",
        "./usr/share/doc/ingestd/README.md",
        "./usr/lib/ingestd/site-packages/ingestd/cli.py",
        "./usr/lib/ingestd/site-packages/ingestd/__pycache__/cli.cpython-311.pyc",
        "./usr/lib/ingestd/site-packages/orjson/",
        "./usr/lib/ingestd/site-packages/openpyxl/",
    ):
        assert path in listing, path
    subprocess.run(["dpkg-deb", "-e", str(deb), str(extracted / "DEBIAN")], check=True)
    assert (extracted / "DEBIAN/conffiles").read_text() == "/etc/ingestd/config.toml\n"
    postinst = (extracted / "DEBIAN/postinst").read_text()
    assert "systemd-sysusers ingestd.conf" in postinst and "systemd-tmpfiles --create" in postinst
    assert "daemon-reload" in postinst


@needs_dpkg
def test_the_extracted_package_runs_on_the_system_python(extracted):
    """/usr/bin/ingestd runs on /usr/bin/python3 with nothing but what the package carries."""
    launcher = extracted / "usr/bin/ingestd"
    assert launcher.read_text().startswith("#!/usr/bin/python3\n")
    version = subprocess.run(
        [str(launcher), "--version"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert version.stdout.strip() == "ingestd 0.1.0"
    check = subprocess.run(
        [str(launcher), "check-config", "--config", str(extracted / "etc/ingestd/config.toml")],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert check.returncode == 0, check.stderr
    assert "OK (1 inbox(es): products)" in check.stdout


def test_it_also_builds_as_a_plain_wheel(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("ingestd-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "ingestd/cli.py" in names and "ingestd/readers/excel/reference.py" in names
    assert "ingestd/readers/excel.py" not in names  # nothing stale from an earlier build
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "ingestd = ingestd.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


@needs_dpkg
def test_the_packaged_daemon_ingests_a_file(extracted, tmp_path):
    """The launcher runs the daemon, parser children included, on the system python3 alone."""
    import os
    import signal

    import orjson

    from tests.integration.conftest import free_port, wait_until

    launcher = str(extracted / "usr/bin/ingestd")
    env = {"PATH": "/usr/bin:/bin", "INGESTD_LOG_FORMAT": "json"}
    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text(
        f'[[inbox]]\nname = "p"\nroot = "{tmp_path / "spool"}"\n'
        f'callback_url = "http://127.0.0.1:{port}/callback"\nsettle_seconds = 0.1\n'
    )
    logs = [open(tmp_path / name, "wb") for name in ("receiver.log", "daemon.log")]  # noqa: SIM115
    receiver = subprocess.Popen(
        [launcher, "receiver", "--port", str(port), "--data", str(tmp_path / "r")],
        stdout=logs[0],
        stderr=subprocess.STDOUT,
        env=env,
    )
    daemon = subprocess.Popen(
        [launcher, "run", "--config", str(config)],
        stdout=logs[1],
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        wait_until(lambda: b'"started"' in (tmp_path / "daemon.log").read_bytes(), what="start")
        (tmp_path / "spool/inbox/p.json").write_bytes(orjson.dumps([{"sku": "A"}, {"sku": "B"}]))
        wait_until(
            lambda: list((tmp_path / "spool/done").glob("*/*/p.json")), what="the file in done/"
        )
        os.kill(daemon.pid, signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
        (stored,) = (tmp_path / "r").glob("*.ndjson")
        assert stored.read_bytes().splitlines() == [b'{"sku":"A"}', b'{"sku":"B"}']
    finally:
        for process in (daemon, receiver):
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
        for log in logs:
            log.close()
