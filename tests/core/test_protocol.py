import base64
import hashlib

import orjson
import pytest

from ingestd.core import protocol
from ingestd.core.journal import Range
from ingestd.core.protocol import (
    Acknowledged,
    Rejected,
    ResendChecksum,
    RetryLater,
    RewindTo,
    Source,
    StateLost,
    TooLarge,
    classify,
)

ID = "a" * 64
SOURCE = Source("products", "p.json", "json")


def test_ingestion_id_is_stable_per_claim_and_new_per_claim():
    """Same claim -> same id after a restart; a new claim of the same file -> a new id."""
    first = protocol.ingestion_id("products", "p.json", 10, "b" * 64, "claim-1")
    assert first == protocol.ingestion_id("products", "p.json", 10, "b" * 64, "claim-1")
    assert first != protocol.ingestion_id("products", "p.json", 10, "b" * 64, "claim-2")
    assert len(first) == 64 and int(first, 16) >= 0


def test_chunk_body_carries_the_v1_fields_and_checksum_of_its_records():
    """The body has every v1 field; its checksum is sha256 of orjson.dumps(records, SORT_KEYS)."""
    records = [{"b": 1, "a": 2}]
    records_json = orjson.dumps(records, option=orjson.OPT_SORT_KEYS)
    sent = Range(2000, 1, hashlib.sha256(records_json).hexdigest())
    body = orjson.loads(protocol.chunk_body(ID, 4, sent, records_json, True, SOURCE))
    assert body == {
        "type": "chunk",
        "ingestion_id": ID,
        "chunk_number": 4,
        "chunk_id": f"{ID}:4",
        "checksum": hashlib.sha256(
            orjson.dumps(body["records"], option=orjson.OPT_SORT_KEYS)
        ).hexdigest(),
        "records": [{"a": 2, "b": 1}],
        "is_last": True,
        "record_offset": 2000,
        "source": {"inbox": "products", "file_name": "p.json", "file_type": "json"},
    }


def test_completion_body_fields():
    body = orjson.loads(protocol.completion_body(ID, 0, 0, "c" * 64, SOURCE))
    assert body["type"] == "completion" and body["status"] == "COMPLETED"
    assert body["chunk_number"] == -1 and body["chunk_count"] == 0 and body["total_records"] == 0
    assert body["file_sha256"] == "c" * 64


def test_content_digest_is_rfc9530_sha256_of_the_exact_bytes():
    body = b'{"x":1}'
    expected = base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert protocol.content_digest(body) == f"sha-256=:{expected}:"
    headers = protocol.request_headers(body, f"{ID}:0", "ingestd/1")
    assert headers["Idempotency-Key"] == f"{ID}:0"
    assert headers["User-Agent"] == "ingestd/1"


def answer(
    status: int, body: object, headers: dict | None = None, chunk: int = 3, completion=False
):
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return classify(
        status,
        headers or {},
        raw,
        sent_ingestion_id=ID,
        sent_chunk_number=chunk,
        now=1_800_000_000.0,
        completion=completion,
    )


@pytest.mark.parametrize(
    "status,body,expected",
    [
        (200, {"ack": True}, Acknowledged()),
        (201, {"ack": True, "ingestion_id": ID, "chunk_number": 3}, Acknowledged()),
        (200, {"ack": True, "duplicate": True}, Acknowledged(duplicate=True)),
        (
            202,
            {"ack": True, "chunk_number": 3.0},
            RetryLater("the answer names another ingestion or chunk", "wrong_answer"),
        ),
        (
            200,
            {"ack": True, "chunk_number": 2},
            RetryLater("the answer names another ingestion or chunk", "wrong_answer"),
        ),
        (
            200,
            {"ack": True, "ingestion_id": "b" * 64},
            RetryLater("the answer names another ingestion or chunk", "wrong_answer"),
        ),
        (500, {"ack": True}, RetryLater("HTTP 500", "http_500")),
        (503, b"", RetryLater("HTTP 503", "http_503")),
        (408, b"", RetryLater("HTTP 408", "http_408")),
        (425, b"", RetryLater("HTTP 425", "http_425")),
        (429, b"", RetryLater("HTTP 429", "http_429")),
        (
            200,
            b"<html>proxy error</html>",
            RetryLater("HTTP 200 with a body that is not a JSON object", "not_json"),
        ),
        (200, [1, 2], RetryLater("HTTP 200 with a body that is not a JSON object", "not_json")),
        (200, {"ack": False, "error": "Checksum mismatch"}, ResendChecksum("Checksum mismatch")),
        (200, {"ack": False, "error": "Out-of-order chunk", "expected_chunk": 1}, RewindTo(1)),
        (409, {"ack": False, "error": "Out-of-order chunk", "expected_chunk": 0}, RewindTo(0)),
        (200, {"ack": False, "error": "Out-of-order chunk"}, RewindTo(0, lost_state=True)),
        (
            200,
            {"ack": False, "error": "Out-of-order chunk", "expected_chunk": None},
            RewindTo(0, lost_state=True),
        ),
        (
            200,
            {"ack": False, "error": "Out-of-order chunk", "expected_chunk": 3},
            RewindTo(0, lost_state=True),
        ),
        (
            200,
            {"ack": False, "error": "Out-of-order chunk", "expected_chunk": 7},
            RewindTo(0, lost_state=True),
        ),
        (
            200,
            {"ack": False, "error": "Out-of-order chunk", "expected_chunk": True},
            RewindTo(0, lost_state=True),
        ),
    ],
)
def test_classification(status, body, expected):
    """Only a 2xx with the JSON value true acknowledges; transient answers are retried."""
    assert answer(status, body) == expected


@pytest.mark.parametrize(
    "status,body",
    [
        (200, {"ack": "true"}),
        (200, {"ack": 1}),
        (200, {}),
        (200, {"ack": False, "error": "Unknown product class"}),
        (400, {"detail": "bad"}),
        (404, b"not found"),
        (401, {"ack": False, "error": "Bad signature"}),
    ],
)
def test_refusals_and_other_4xx_fail_the_file(status, body):
    """Anything not an explicit ack, not transient and not a known refusal is a rejection."""
    decision = answer(status, body)
    assert isinstance(decision, Rejected)
    assert decision.status == status


def test_413_asks_for_a_smaller_chunk_but_refuses_a_completion():
    assert answer(413, b"<html>Request Entity Too Large</html>") == TooLarge(
        413, "<html>Request Entity Too Large</html>"
    )
    assert isinstance(answer(413, b"too large", chunk=3, completion=True), Rejected)


def test_an_acknowledgement_passes_on_the_hints_it_carries():
    ack = {"ack": True, "max_records": 50, "max_bytes": None, "other": 1}
    assert answer(200, ack) == Acknowledged(hints={"max_records": 50, "max_bytes": None})
    assert answer(200, {"ack": True}) == Acknowledged()


def test_retry_after_is_passed_on():
    decision = answer(429, b"", {"retry-after": "17"})
    assert decision == RetryLater("HTTP 429", "http_429", 17.0)


def test_a_completion_may_be_rewound_to_its_last_chunk():
    """A receiver missing the last chunk may ask for it in answer to the completion."""
    refusal = {"ack": False, "error": "Out-of-order chunk", "expected_chunk": 3}
    assert answer(200, refusal, chunk=3, completion=True) == RewindTo(3)
    assert answer(200, refusal, chunk=3, completion=False) == RewindTo(0, lost_state=True)


@pytest.mark.parametrize("body", [{}, {"expected_chunk": 0}, {"expected_chunk": 2}])
def test_the_first_chunk_refused_as_out_of_order_cannot_be_rewound(body):
    """Nothing comes before chunk 0, nor before an empty ingestion's completion."""
    refusal = {"ack": False, "error": "Out-of-order chunk", **body}
    assert isinstance(answer(200, refusal, chunk=0), StateLost)
    assert isinstance(answer(200, refusal, chunk=-1, completion=True), StateLost)
