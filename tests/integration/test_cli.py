"""The command line as a newcomer and an operator meet it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson

from tests.integration.conftest import wait_until

ROOT = Path(__file__).resolve().parents[2]


def ingestd(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ingestd", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        **kwargs,
    )


def test_run_without_config_shows_a_file_going_from_inbox_to_done(tmp_path):
    """The embedded default: a spool under ./spool/ and an in-process receiver."""
    env = {k: v for k, v in os.environ.items() if k != "INGESTD_CONFIG"}
    log = open(tmp_path / "demo.log", "wb")  # noqa: SIM115 (closed in finally)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingestd", "run"],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: b'"started"' in (tmp_path / "demo.log").read_bytes(), what="demo start")
        assert b"Excel workbook (.xlsx)" in (tmp_path / "demo.log").read_bytes()
        inbox = tmp_path / "spool" / "demo" / "inbox"
        (inbox / "products.json").write_bytes(orjson.dumps([{"sku": "A-1"}, {"sku": "A-2"}]))
        wait_until(
            lambda: list((tmp_path / "spool" / "demo" / "done").glob("*/*/products.json")),
            what="the demo file in done/",
        )
        (stored,) = (tmp_path / "spool" / "receiver").glob("*.ndjson")
        assert [orjson.loads(line) for line in stored.read_bytes().splitlines()] == [
            {"sku": "A-1"},
            {"sku": "A-2"},
        ]
        operator_commands_use_the_demo_default(tmp_path, env)
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def operator_commands_use_the_demo_default(cwd: Path, env: dict[str, str]) -> None:
    """With no config anywhere, status, check-config and reingest use the embedded default that
    `run` served, and say so; the README's re-ingest example works as written."""
    if Path("/etc/ingestd/config.toml").exists():
        return  # a system config wins, as it should; nothing to show here
    said = "embedded demo default"
    status = ingestd("status", "--json", cwd=cwd, env=env)
    assert status.returncode == 0 and said in status.stderr
    (inbox,) = orjson.loads(status.stdout)["inboxes"]
    assert inbox["name"] == "demo" and [f["file"] for f in inbox["recent_done"]] == [
        "products.json"
    ]
    check = ingestd("check-config", cwd=cwd, env=env)
    assert check.returncode == 0 and said in check.stderr and "OK" in check.stdout
    shell = "mv spool/demo/done/*/*/products.json spool/demo/inbox/"  # README's example, as is
    assert subprocess.run(shell, shell=True, cwd=cwd, check=False).returncode == 0
    wait_until(
        lambda: len(list((cwd / "spool" / "receiver").glob("*.ndjson"))) == 2, what="re-ingested"
    )
    finished = cwd / "spool" / "demo" / "done"
    wait_until(lambda: list(finished.glob("*/*/products.json")), what="the file in done/ again")
    done = next(finished.glob("*/*/products.json"))
    moved = ingestd("reingest", str(done.relative_to(cwd)), cwd=cwd, env=env)
    assert moved.returncode == 0 and said in moved.stderr, moved.stderr


def test_version():
    result = ingestd("--version")
    assert result.returncode == 0 and result.stdout.startswith("ingestd ")


def test_check_config_accepts_the_example_and_refuses_a_broken_one(tmp_path):
    assert ingestd("check-config", "--config", str(ROOT / "config.example.toml")).returncode == 0
    broken = tmp_path / "broken.toml"
    broken.write_text(
        '[[inbox]]\nname = "p"\nroot = "/x"\ncallback_url = "http://h/"\nchunk_bytes = 5\n'
    )
    result = ingestd("check-config", "--config", str(broken))
    assert result.returncode == 2
    assert "inbox.0.chunk_bytes" in result.stderr


def test_environment_overrides_the_file(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(
        'log_level = "info"\n[[inbox]]\nname = "p"\nroot = "/x"\ncallback_url = "http://h/"\n'
    )
    result = ingestd(
        "check-config", "--config", str(config), env={**os.environ, "INGESTD_LOG_LEVEL": "loud"}
    )
    assert result.returncode == 2 and "log_level" in result.stderr
