"""TLS to the receiver: verified by default, and a private CA can be named."""

from __future__ import annotations

import shutil
import subprocess

import orjson
import pytest

from ingestd.clock import SystemClock
from ingestd.receiver import ReceiverServer
from ingestd.runtime.daemon import Daemon
from ingestd.runtime.notify import Notifier
from ingestd.settings import from_mapping
from tests.fakes import RecordingNotifier
from tests.integration.conftest import wait_until

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


@pytest.fixture
def https_receiver(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    server = ReceiverServer(tmp_path / "received", port=0, tls=(cert, key))
    server.start()
    yield server, cert
    server.stop()


def run_daemon(tmp_path, url: str, **extra):
    settings = from_mapping(
        {
            "inbox": [
                {
                    "name": "p",
                    "root": str(tmp_path / "spool"),
                    "callback_url": url,
                    "settle_seconds": 0.05,
                    "retry_initial_delay_seconds": 0.05,
                    "retry_max_delay_seconds": 0.2,
                    **extra,
                }
            ]
        }
    )
    daemon = Daemon(settings, SystemClock(), Notifier(RecordingNotifier()))
    daemon.start()
    (tmp_path / "spool" / "inbox" / "a.json").write_bytes(orjson.dumps([{"a": 1}]))
    return daemon


def test_an_unknown_certificate_is_refused_by_default(tmp_path, https_receiver):
    server, _ = https_receiver
    daemon = run_daemon(tmp_path, server.url)
    try:
        wait_until(
            lambda: list((tmp_path / "spool" / "work").glob("*/a.json.retry.json")),
            what="a retry for the unverifiable receiver",
        )
        retry = orjson.loads(
            next((tmp_path / "spool" / "work").glob("*/a.json.retry.json")).read_bytes()
        )
        assert "CERTIFICATE_VERIFY_FAILED" in retry["reason"]
        assert server.app.store.summary() == []
    finally:
        daemon.shutdown()


def test_a_private_ca_can_be_trusted(tmp_path, https_receiver):
    server, cert = https_receiver
    daemon = run_daemon(tmp_path, server.url, tls_ca_file=str(cert))
    try:
        wait_until(
            lambda: list((tmp_path / "spool" / "done").glob("*/*/a.json")), what="delivery over TLS"
        )
        assert server.app.store.summary()[0]["records"] == 1
    finally:
        daemon.shutdown()
