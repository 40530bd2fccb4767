"""Wire protocol v1: the payloads ingestd sends and how it reads the receiver's answers.

See docs/protocol.md for the full contract. Every payload is serialized once with orjson; the
chunk's `records` are spliced in as pre-serialized canonical bytes (orjson.Fragment), so the
checksum and the Content-Digest cover exactly what is sent.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

import orjson

from ingestd.core.backpressure import HINTS
from ingestd.core.journal import Range
from ingestd.core.retry import parse_retry_after

PROTOCOL_VERSION = 1
TRANSIENT_STATUSES = frozenset({408, 425, 429})
CHECKSUM_MISMATCH = "Checksum mismatch"
OUT_OF_ORDER = "Out-of-order chunk"


@dataclass(frozen=True)
class Source:
    inbox: str
    file_name: str
    file_type: str
    sheet: str | None = None

    def as_dict(self) -> dict[str, str]:
        source = {"inbox": self.inbox, "file_name": self.file_name, "file_type": self.file_type}
        if self.sheet is not None:
            source["sheet"] = self.sheet
        return source


def ingestion_id(inbox: str, file_name: str, size: int, file_sha256: str, claim_token: str) -> str:
    """64 hex digits, the same for the same claim of the same file, new for every new claim."""
    identity = orjson.dumps([PROTOCOL_VERSION, inbox, file_name, size, file_sha256, claim_token])
    return hashlib.sha256(identity).hexdigest()


def chunk_id(ingestion: str, number: int) -> str:
    return f"{ingestion}:{number}"


def chunk_body(
    ingestion: str, number: int, sent: Range, records_json: bytes, is_last: bool, source: Source
) -> bytes:
    return orjson.dumps(
        {
            "type": "chunk",
            "ingestion_id": ingestion,
            "chunk_number": number,
            "chunk_id": chunk_id(ingestion, number),
            "checksum": sent.checksum,
            "records": orjson.Fragment(records_json),
            "is_last": is_last,
            "record_offset": sent.record_offset,
            "source": source.as_dict(),
        }
    )


def completion_body(
    ingestion: str, chunk_count: int, total_records: int, file_sha256: str, source: Source
) -> bytes:
    return orjson.dumps(
        {
            "type": "completion",
            "status": "COMPLETED",
            "ingestion_id": ingestion,
            "chunk_number": chunk_count - 1,
            "chunk_count": chunk_count,
            "total_records": total_records,
            "file_sha256": file_sha256,
            "source": source.as_dict(),
        }
    )


def content_digest(body: bytes) -> str:
    """RFC 9530 Content-Digest of the exact body bytes."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") + ":"


def request_headers(body: bytes, idempotency_key: str, user_agent: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "Content-Digest": content_digest(body),
        "Idempotency-Key": idempotency_key,
        "User-Agent": user_agent,
    }


# What an answer means for the chunk (or completion) that was sent.
@dataclass(frozen=True)
class Acknowledged:
    duplicate: bool = False
    hints: Mapping[str, Any] = field(default_factory=dict)  # max_records, max_bytes as answered


@dataclass(frozen=True)
class TooLarge:
    """HTTP 413: the chunk is sent again with fewer records."""

    status: int
    answer: str


@dataclass(frozen=True)
class RetryLater:
    """Not an acknowledgement, not a refusal: the same payload again, after a while. `label`
    names the kind with a bounded set of words, for the metrics."""

    reason: str
    label: str
    retry_after: float | None = None


@dataclass(frozen=True)
class ResendChecksum:
    reason: str
    label: str = "checksum_mismatch"


@dataclass(frozen=True)
class RewindTo:
    """Send again from `chunk_number`; `lost_state` when the receiver did not say where from
    (it lost what it knew of this ingestion), so the whole ingestion is sent again."""

    chunk_number: int
    lost_state: bool = False


@dataclass(frozen=True)
class Rejected:
    reason: str
    status: int
    answer: str


@dataclass(frozen=True)
class StateLost:
    """The receiver refused the first chunk (or an empty ingestion's completion) as out of
    order: there is nothing earlier to send again, so it cannot be satisfied."""

    status: int
    answer: str


Decision = Acknowledged | RetryLater | ResendChecksum | RewindTo | Rejected | StateLost | TooLarge


def classify(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    sent_ingestion_id: str,
    sent_chunk_number: int,
    now: float,
    completion: bool = False,
) -> Decision:
    """Read one HTTP answer; only an explicit `"ack": true` on a 2xx acknowledges.

    For a completion, `sent_chunk_number` is the last chunk's number, and a receiver that is
    missing that very chunk may ask for it. An `Out-of-order chunk` refusal without a usable
    `expected_chunk` (the earlier service's receivers never send one) means the receiver lost
    its state: everything is sent again from chunk 0, under the same ingestion.
    """
    retry_after = parse_retry_after(headers.get("retry-after"), now)
    if status in TRANSIENT_STATUSES or status >= 500:
        return RetryLater(f"HTTP {status}", f"http_{status}", retry_after)
    if status == 413 and not completion:
        return TooLarge(status, _excerpt(body))
    answer = _json_object(body)
    if 200 <= status < 300 and answer is None:
        reason = f"HTTP {status} with a body that is not a JSON object"
        return RetryLater(reason, "not_json", retry_after)
    if answer is not None and answer.get("ack") is False:
        rewind_limit = sent_chunk_number + 1 if completion else sent_chunk_number
        return _refusal(answer, status, body, rewind_limit)
    if not 200 <= status < 300:
        return Rejected(f"HTTP {status}", status, _excerpt(body))
    assert answer is not None
    if answer.get("ack") is not True:
        return Rejected('the answer has no "ack": true', status, _excerpt(body))
    if not _names_what_was_sent(answer, sent_ingestion_id, sent_chunk_number):
        return RetryLater("the answer names another ingestion or chunk", "wrong_answer")
    hints = {name: answer[name] for name in HINTS if name in answer}
    return Acknowledged(duplicate=answer.get("duplicate") is True, hints=hints)


def _refusal(answer: dict[str, Any], status: int, body: bytes, rewind_limit: int) -> Decision:
    error = answer.get("error")
    if error == CHECKSUM_MISMATCH:
        return ResendChecksum(CHECKSUM_MISMATCH)
    if error != OUT_OF_ORDER:
        return Rejected(f"refused: {error!r}", status, _excerpt(body))
    expected = answer.get("expected_chunk")
    if _is_int(expected) and 0 <= expected < rewind_limit:
        return RewindTo(expected)
    if rewind_limit == 0:
        return StateLost(status, _excerpt(body))
    return RewindTo(0, lost_state=True)  # no usable expected_chunk: it knows nothing of us


def _names_what_was_sent(answer: dict[str, Any], ingestion: str, chunk: int) -> bool:
    if "ingestion_id" in answer and answer["ingestion_id"] != ingestion:
        return False
    return "chunk_number" not in answer or (
        _is_int(answer["chunk_number"]) and answer["chunk_number"] == chunk
    )


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _excerpt(body: bytes, limit: int = 2000) -> str:
    return body[:limit].decode("utf-8", errors="replace")
