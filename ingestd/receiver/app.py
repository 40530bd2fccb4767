"""The receiver's protocol logic, independent of any HTTP server: request in, answer out."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ingestd.core import signing
from ingestd.core.chunking import array_checksum, canonical_lines
from ingestd.core.protocol import CHECKSUM_MISMATCH, OUT_OF_ORDER
from ingestd.gcpause import gc_paused
from ingestd.receiver.store import Store

Response = tuple[int, bytes]
_DIGEST = re.compile(r"sha-256=:([A-Za-z0-9+/=]+):")


@dataclass(frozen=True)
class Policy:
    """What a receiver demands and asks of the sender, beyond the protocol's rules."""

    token: str | None = None  # require Authorization: Bearer <token>
    signing_keys: tuple[bytes, ...] = ()  # require a Standard Webhooks signature
    max_records: int | None = None  # hints on every acknowledgement
    max_bytes: int | None = None
    reject_over: int | None = None  # answer 413 to a body larger than this


class ReceiverApp:
    """Accepts chunks strictly in order, recognises resends by chunk number, stores durably."""

    def __init__(
        self,
        data: Path,
        store: Store | None = None,
        policy: Policy | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.store = store or Store(data)
        self._policy = policy or Policy()
        self._now = now
        self._lock = threading.Lock()

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Response:
        if method == "GET" and path == "/health":
            return _json(200, {"ok": True})
        if method == "GET" and path == "/ingestions":
            with self._lock:
                return _json(200, {"ingestions": self.store.summary()})
        if method != "POST":
            return _json(405, {"ack": False, "error": "Method not allowed"})
        return self._post(headers, body)

    @gc_paused()
    def _post(self, headers: Mapping[str, str], body: bytes) -> Response:
        policy = self._policy
        if policy.reject_over is not None and len(body) > policy.reject_over:
            return _json(413, {"ack": False, "error": "Payload too large"})
        if policy.token is not None and not hmac.compare_digest(
            headers.get("authorization", "").encode(), f"Bearer {policy.token}".encode()
        ):
            return _json(401, {"ack": False, "error": "Bad token"})
        if policy.signing_keys and signing.verify(policy.signing_keys, headers, body, self._now()):
            return _json(401, {"ack": False, "error": "Bad signature"})
        if not _digest_matches(headers, body):
            return _refuse(CHECKSUM_MISMATCH, detail="Content-Digest does not match the body")
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _json(400, {"ack": False, "error": "Body is not JSON"})
        if not isinstance(payload, dict) or not isinstance(payload.get("ingestion_id"), str):
            return _json(400, {"ack": False, "error": "Not a chunk or completion"})
        with self._lock:
            if payload.get("type") == "chunk":
                return self._chunk(payload)
            if payload.get("type") == "completion":
                return self._completion(payload)
        return _json(400, {"ack": False, "error": f"Unknown type {payload.get('type')!r}"})

    def _chunk(self, payload: dict[str, Any]) -> Response:
        ingestion, number = payload["ingestion_id"], payload.get("chunk_number")
        records = payload.get("records")
        if not isinstance(number, int) or not isinstance(records, list):
            return _json(400, {"ack": False, "error": "chunk_number or records missing"})
        lines = canonical_lines(records)
        if array_checksum(lines) != payload.get("checksum"):
            return _refuse(CHECKSUM_MISMATCH)
        row = self.store.ingestion(ingestion)
        if row.completed:
            return _refuse("Ingestion already completed")
        if number < row.next_chunk:
            return self._resent(ingestion, number, payload["checksum"])
        if number > row.next_chunk:
            self.store.note(ingestion, number, "out_of_order")
            return _refuse(OUT_OF_ORDER, expected_chunk=row.next_chunk)
        if payload.get("record_offset") != row.records:
            return _refuse(f"record_offset should be {row.records}")
        ndjson = b"\n".join(lines) + b"\n" if lines else b""
        self.store.accept_chunk(
            row, number, payload["checksum"], row.records, ndjson, len(records), _source(payload)
        )
        return self._ack(ingestion, number)

    def _resent(self, ingestion: str, number: int, checksum: str) -> Response:
        if self.store.checksum_of(ingestion, number) != checksum:
            return _refuse("Chunk differs from the one already accepted")
        self.store.note(ingestion, number, "duplicate")
        return self._ack(ingestion, number, duplicate=True)

    def _completion(self, payload: dict[str, Any]) -> Response:
        ingestion = payload["ingestion_id"]
        row = self.store.ingestion(ingestion)
        chunk_count, total = payload.get("chunk_count"), payload.get("total_records")
        if not isinstance(chunk_count, int) or not isinstance(total, int):
            return _json(400, {"ack": False, "error": "chunk_count or total_records missing"})
        if row.completed:
            self.store.note(ingestion, -1, "duplicate")
            return self._ack(ingestion, payload.get("chunk_number"), duplicate=True)
        if chunk_count > row.next_chunk:
            return _refuse(OUT_OF_ORDER, expected_chunk=row.next_chunk)
        if chunk_count != row.next_chunk or total != row.records:
            return _refuse(
                f"Completion does not match: received {row.next_chunk} chunks and "
                f"{row.records} records"
            )
        self.store.complete(row, str(payload.get("file_sha256")), _source(payload))
        return self._ack(ingestion, payload.get("chunk_number"))

    def _ack(self, ingestion: str, number: object, duplicate: bool = False) -> Response:
        answer: dict[str, Any] = {"ack": True, "ingestion_id": ingestion, "chunk_number": number}
        if duplicate:
            answer["duplicate"] = True
        if self._policy.max_records is not None:
            answer["max_records"] = self._policy.max_records
        if self._policy.max_bytes is not None:
            answer["max_bytes"] = self._policy.max_bytes
        return _json(200, answer)

    def close(self) -> None:
        self.store.close()


def _source(payload: dict[str, Any]) -> dict[str, str]:
    source = payload.get("source")
    if not isinstance(source, dict):
        return {}
    return {k: str(v) for k, v in source.items() if isinstance(k, str)}


def _digest_matches(headers: Mapping[str, str], body: bytes) -> bool:
    found = _DIGEST.search(headers.get("content-digest", ""))
    if found is None:
        return False
    try:
        return base64.b64decode(found.group(1), validate=True) == hashlib.sha256(body).digest()
    except ValueError:
        return False


def _refuse(error: str, **extra: Any) -> Response:
    return _json(200, {"ack": False, "error": error, **extra})


def _json(status: int, value: Any) -> Response:
    return status, orjson.dumps(value)
