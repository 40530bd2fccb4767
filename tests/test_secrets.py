"""Callback tokens come from a file or a systemd credential, reach the receiver, and nothing else."""

from __future__ import annotations

import io

import httpx
import orjson
import pytest
import structlog

from ingestd import log
from ingestd.clock import SystemClock
from ingestd.errors import ConfigError
from ingestd.pipeline.staging import InProcess
from ingestd.runtime.daemon import Daemon
from ingestd.runtime.notify import Notifier
from ingestd.settings import InboxSettings, from_mapping
from tests.fakes import RecordingNotifier
from tests.integration.conftest import wait_until

TOKEN = "s3cr3t-t0ken-value"


def inbox(tmp_path, **extra) -> InboxSettings:
    return InboxSettings(
        name="p", root=tmp_path / "spool", callback_url="https://127.0.0.1:9/cb", **extra
    )


def test_token_from_a_file(tmp_path):
    (tmp_path / "token").write_text(TOKEN + "\n")
    assert inbox(tmp_path, callback_token_file=tmp_path / "token").auth_headers() == {
        "Authorization": f"Bearer {TOKEN}"
    }


def test_token_from_a_systemd_credential(tmp_path, monkeypatch):
    (tmp_path / "callback-token").write_text(TOKEN)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    settings = inbox(tmp_path, callback_token_credential="callback-token")
    assert settings.auth_headers() == {"Authorization": f"Bearer {TOKEN}"}
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    with pytest.raises(ConfigError, match="LoadCredential"):
        settings.auth_headers()


def test_a_token_must_be_one_line(tmp_path):
    (tmp_path / "token").write_text("a\nb\n")
    with pytest.raises(ConfigError, match="one non-empty line"):
        inbox(tmp_path, callback_token_file=tmp_path / "token").auth_headers()


def test_no_token_and_tls_verification_by_default(tmp_path):
    settings = inbox(tmp_path)
    assert settings.auth_headers() == {} and settings.httpx_verify() is True
    with pytest.raises(ConfigError, match="tls_ca_file"):
        inbox(tmp_path, tls_ca_file=tmp_path / "missing-ca.pem").httpx_verify()
    assert inbox(tmp_path, tls_verify=False).httpx_verify() is False


def test_the_token_reaches_the_receiver_and_never_the_logs_or_reports(tmp_path):
    (tmp_path / "token").write_text(TOKEN)
    seen: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization", ""))
        return httpx.Response(422, content=b'{"detail": "no"}')

    out = io.StringIO()
    log.setup("debug", "json", out)
    settings = from_mapping(
        {
            "inbox": [
                {
                    "name": "p",
                    "root": str(tmp_path / "spool"),
                    "callback_url": "http://127.0.0.1:9/cb",
                    "settle_seconds": 0.05,
                    "callback_token_file": str(tmp_path / "token"),
                }
            ]
        }
    )
    daemon = Daemon(
        settings,
        SystemClock(),
        Notifier(RecordingNotifier()),
        httpx.MockTransport(refuse),
        new_stager=lambda settings: InProcess(),
    )
    daemon.start()
    try:
        (tmp_path / "spool" / "inbox" / "a.json").write_bytes(orjson.dumps([{"a": 1}]))
        wait_until(lambda: list((tmp_path / "spool" / "failed").glob("*/*/a.json.error.json")))
    finally:
        daemon.shutdown()
        structlog.reset_defaults()
    assert seen == [f"Bearer {TOKEN}"]
    assert TOKEN not in out.getvalue()
    (report,) = (tmp_path / "spool" / "failed").glob("*/*/a.json.error.json")
    assert TOKEN not in report.read_text()
