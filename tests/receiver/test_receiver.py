"""The reference receiver applies the protocol strictly: digest, checksum, order, duplicates."""

import hashlib

import orjson
import pytest

from ingestd.core import protocol
from ingestd.core.journal import Range
from ingestd.receiver.app import Policy, ReceiverApp

ID = "d" * 64
SOURCE = protocol.Source("products", "p.json", "json")


@pytest.fixture
def app(tmp_path):
    receiver = ReceiverApp(tmp_path / "receiver")
    yield receiver
    receiver.close()


def chunk(
    number: int, records: list, offset: int, is_last: bool = False, ingestion: str = ID
) -> bytes:
    records_json = orjson.dumps(records, option=orjson.OPT_SORT_KEYS)
    sent = Range(offset, len(records), hashlib.sha256(records_json).hexdigest())
    return protocol.chunk_body(ingestion, number, sent, records_json, is_last, SOURCE)


def post(app: ReceiverApp, body: bytes, digest: str | None = None) -> tuple[int, dict]:
    headers = {"content-digest": protocol.content_digest(body) if digest is None else digest}
    status, answer = app.handle("POST", "/callback", headers, body)
    return status, orjson.loads(answer)


def completion(chunks: int, records: int) -> bytes:
    return protocol.completion_body(ID, chunks, records, "e" * 64, SOURCE)


def test_chunks_in_order_then_completion_are_stored(app):
    assert post(app, chunk(0, [{"a": 1}, {"a": 2}], 0))[1]["ack"] is True
    assert post(app, chunk(1, [{"a": 3}], 2, True))[1] == {
        "ack": True,
        "ingestion_id": ID,
        "chunk_number": 1,
    }
    assert post(app, completion(2, 3))[1]["ack"] is True
    lines = app.store.ndjson_path(ID).read_bytes().splitlines()
    assert [orjson.loads(line) for line in lines] == [{"a": 1}, {"a": 2}, {"a": 3}]
    (summary,) = app.store.summary()
    assert summary["completed"] and summary["records"] == 3 and summary["duplicates"] == 0


def test_a_resent_chunk_is_acknowledged_once_and_not_stored_twice(app):
    body = chunk(0, [{"a": 1}], 0)
    post(app, body)
    assert post(app, body)[1] == {
        "ack": True,
        "ingestion_id": ID,
        "chunk_number": 0,
        "duplicate": True,
    }
    assert len(app.store.ndjson_path(ID).read_bytes().splitlines()) == 1
    assert app.store.summary()[0]["duplicates"] == 1


def test_a_chunk_ahead_of_the_expected_one_is_refused_with_expected_chunk(app):
    answer = post(app, chunk(2, [{"a": 1}], 0))[1]
    assert answer == {"ack": False, "error": "Out-of-order chunk", "expected_chunk": 0}


def test_a_wrong_checksum_or_digest_is_a_checksum_mismatch(app):
    body = chunk(0, [{"a": 1}], 0).replace(b'"checksum":"', b'"checksum":"0')
    assert post(app, body)[1] == {"ack": False, "error": "Checksum mismatch"}
    good = chunk(0, [{"a": 1}], 0)
    assert post(app, good, digest="sha-256=:AAAA:")[1]["error"] == "Checksum mismatch"
    assert post(app, good, digest="")[1]["error"] == "Checksum mismatch"


def test_a_completion_that_does_not_match_what_arrived_is_refused(app):
    post(app, chunk(0, [{"a": 1}], 0))
    assert post(app, completion(3, 1))[1] == {
        "ack": False,
        "error": "Out-of-order chunk",
        "expected_chunk": 1,
    }
    assert "does not match" in post(app, completion(1, 5))[1]["error"]


def test_an_empty_ingestion_completes_with_no_chunks(app):
    assert post(app, completion(0, 0))[1]["ack"] is True
    assert app.store.summary()[0]["completed"] is True


def test_state_survives_a_restart_of_the_receiver(tmp_path):
    """The receiver's own restart does not break an ingestion in progress."""
    first = ReceiverApp(tmp_path / "r")
    post(first, chunk(0, [{"a": 1}], 0))
    first.close()
    second = ReceiverApp(tmp_path / "r")
    assert post(second, chunk(0, [{"a": 1}], 0))[1].get("duplicate") is True
    assert post(second, chunk(1, [{"a": 2}], 1))[1]["ack"] is True
    second.close()


def test_ndjson_is_cut_back_to_what_the_database_vouches_for(app):
    """Records written before a crash but never committed are not kept twice."""
    post(app, chunk(0, [{"a": 1}], 0))
    with open(app.store.ndjson_path(ID), "ab") as f:
        f.write(b'{"a":2}\n')  # as if the receiver died before committing chunk 1
    post(app, chunk(1, [{"a": 2}], 1))
    assert app.store.ndjson_path(ID).read_bytes() == b'{"a":1}\n{"a":2}\n'


def test_a_new_ndjson_file_is_durable_by_name_before_its_chunk_is_committed(tmp_path):
    """Acknowledged means stored durably: after a power loss the records file must still be
    there, not just the database row that vouches for its length."""
    import os

    from ingestd.receiver.store import Store

    synced: list[str] = []

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        os.fsync(fd)

    app = ReceiverApp(tmp_path, Store(tmp_path, fsync=recording_fsync))
    post(app, chunk(0, [{"a": 1}], 0))
    ndjson, folder = str(app.store.ndjson_path(ID)), str(app.store.folder)
    assert synced[:2] == [ndjson, folder]
    synced.clear()
    post(app, chunk(1, [{"a": 2}], 1))
    assert folder not in synced  # the file exists already: its contents alone are synced
    app.close()


def test_a_receiver_given_a_token_refuses_a_request_without_it(tmp_path):
    """--token-file: 401 and "Bad token" unless Authorization: Bearer <token> comes along."""
    app = ReceiverApp(tmp_path, policy=Policy(token="t0ken"))
    body = chunk(0, [{"a": 1}], 0)
    headers = {"content-digest": protocol.content_digest(body)}
    assert app.handle("POST", "/cb", headers, body)[0] == 401
    wrong = {**headers, "authorization": "Bearer other"}
    assert orjson.loads(app.handle("POST", "/cb", wrong, body)[1])["error"] == "Bad token"
    right = {**headers, "authorization": "Bearer t0ken"}
    assert orjson.loads(app.handle("POST", "/cb", right, body)[1])["ack"] is True
    app.close()


def test_a_body_cut_short_by_the_sender_going_away_is_no_request(tmp_path):
    """A sender killed mid-upload leaves part of a body: the server neither handles nor logs
    it (it had answered 400 and logged an empty body), and then serves the next sender."""
    import socket

    import httpx

    from ingestd.receiver.server import ReceiverServer

    log = tmp_path / "requests.ndjson"
    server = ReceiverServer(tmp_path / "data", port=0, request_log=log)
    server.start()
    try:
        host, port = server.url.removeprefix("http://").split("/")[0].split(":")
        with socket.create_connection((host, int(port))) as sender:
            sender.sendall(
                b"POST /callback HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1000\r\n\r\n" + b'{"type": "chunk"'
            )
            sender.shutdown(socket.SHUT_WR)
            assert sender.recv(1024) == b""  # closed, no answer
        health = httpx.get(server.url.replace("/callback", "/health"), trust_env=False)
        assert health.status_code == 200
    finally:
        server.stop()
    assert not log.exists() or log.read_bytes() == b""
