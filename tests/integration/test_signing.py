"""Signed chunks through the real daemon to the reference receiver: accepted with the right
secret (also mid-rotation), refused for good with the wrong one, and no secret ever shown."""

from __future__ import annotations

import base64

from standardwebhooks.webhooks import Webhook

from tests.integration.conftest import Spool, inbox_config, wait_until
from tests.integration.test_cli import ingestd

OLD = "whsec_" + base64.b64encode(b"old-secret-bytes-0123456789").decode()
NEW = "whsec_" + base64.b64encode(b"new-secret-bytes-abcdefghijklmnop").decode()
RECORDS = [{"sku": f"S{i}", "n": i} for i in range(25)]


def secrets_file(tmp_path, name: str, *secrets: str):
    path = tmp_path / name
    path.write_text("\n".join(secrets) + "\n")
    path.chmod(0o600)
    return path


def test_signed_chunks_are_accepted_during_a_key_rotation(tmp_path, receiver, daemon):
    """The sender signs with both secrets; a receiver that knows only the new one accepts."""
    receiver.start("--signing-secret-file", str(secrets_file(tmp_path, "receiver", NEW)))
    spool = Spool(tmp_path / "spool" / "products")
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    secrets_file(credentials, "signing", OLD, NEW)
    daemon.configure([inbox_config(spool.root, receiver, signing_secret_credential="signing")])
    daemon.start(CREDENTIALS_DIRECTORY=str(credentials))
    spool.drop("p.json", RECORDS)
    wait_until(lambda: spool.data_files("done"), what="the file in done/")
    (ingestion,) = receiver.completed()
    requests = receiver.requests()
    assert len(requests) == 4  # three chunks of 10, 10 and 5 records, and the completion
    ids = [r["headers"]["webhook-id"] for r in requests]
    expected = [f"{ingestion['ingestion_id']}:{n}" for n in range(3)]
    assert ids == [*expected, f"{ingestion['ingestion_id']}:completion"]
    for request in requests:
        assert request["status"] == 200
        assert len(request["headers"]["webhook-signature"].split(" ")) == 2
        for secret in (OLD, NEW):
            Webhook(secret).verify(request["body"].encode(), request["headers"])


def test_a_wrong_secret_fails_the_file_and_no_secret_is_ever_shown(tmp_path, receiver, daemon):
    receiver.start("--signing-secret-file", str(secrets_file(tmp_path, "receiver", NEW)))
    spool = Spool(tmp_path / "spool" / "products")
    config_secret = secrets_file(tmp_path, "daemon", OLD)
    inbox = inbox_config(spool.root, receiver, signing_secret_file=str(config_secret))
    daemon.configure([inbox])
    daemon.start()
    spool.drop("p.json", RECORDS)
    wait_until(lambda: spool.data_files("failed"), what="the file in failed/")
    (report,) = spool.reports()
    assert report["reason"] == "receiver_unauthorized"
    assert "Bad signature" in report["where"]["receiver_answer"]
    assert report["where"]["http_status"] == 401
    assert "signing secret" in report["what_to_do"] and "token" in report["what_to_do"]
    assert receiver.ingestions() == []
    shown = [
        daemon.process.output(),
        *(p.read_text() for p in spool.failed.rglob("*.error.json")),
        ingestd("status", "--json", "--config", str(daemon.config)).stdout,
        ingestd("check-config", "--config", str(daemon.config)).stdout,
    ]
    for text in shown:
        for secret in (OLD, NEW):
            assert secret not in text and secret.removeprefix("whsec_") not in text


def test_check_config_refuses_a_bad_secrets_file_without_showing_it(tmp_path, receiver, daemon):
    spool = Spool(tmp_path / "spool" / "products")
    short = "whsec_" + base64.b64encode(b"too short").decode()
    bad = secrets_file(tmp_path, "bad", short)
    daemon.configure([inbox_config(spool.root, receiver, signing_secret_file=str(bad))])
    result = ingestd("check-config", "--config", str(daemon.config))
    assert result.returncode == 2
    assert (
        "signing secret" in result.stderr + result.stdout
        and "at least 24" in result.stderr + result.stdout
    )
    assert short not in result.stderr + result.stdout
