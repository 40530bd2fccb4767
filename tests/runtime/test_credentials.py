"""An inbox's credentials (its bearer token, private CA, signing secrets) are read as the inbox
starts, although its sender is made with its first file: one that cannot be read stops the
start, with the reason, and never waits for a file to be found out."""

from __future__ import annotations

import base64

import pytest

from ingestd.errors import ConfigError
from ingestd.runtime.daemon import Daemon
from ingestd.settings import from_mapping


def started(tmp_path, **inbox):
    settings = from_mapping({"inbox": [
        {"name": "p", "root": str(tmp_path / "spool"), "callback_url": "http://127.0.0.1:9/cb",
         **inbox}]})  # fmt: skip
    daemon = Daemon(settings)
    try:
        daemon.start()
    finally:
        daemon.stop_event.set()
        daemon.shutdown()


def test_a_signing_secret_that_cannot_be_read_stops_the_start(tmp_path):
    short = tmp_path / "signing-secret"
    short.write_text("whsec_" + base64.b64encode(b"too short").decode() + "\n")
    with pytest.raises(ConfigError, match="signing secret"):
        started(tmp_path, signing_secret_file=str(short))


def test_a_private_ca_that_cannot_be_read_stops_the_start(tmp_path):
    not_a_ca = tmp_path / "ca.pem"
    not_a_ca.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match="tls_ca_file"):
        started(tmp_path, callback_url="https://127.0.0.1:9/cb", tls_ca_file=str(not_a_ca))


def test_readable_credentials_start(tmp_path):
    good = tmp_path / "signing-secret"
    good.write_text("whsec_" + base64.b64encode(b"k" * 32).decode() + "\n")
    started(tmp_path, signing_secret_file=str(good))
