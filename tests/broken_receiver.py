"""A receiver written from the protocol's text, in memory, that can break one rule at a time:
`check-receiver` must find exactly that rule broken.

Run: python -m tests.broken_receiver --port N [--break RULE] [--signing-secret-file PATH]
RULE: canonical (checksums from json.dumps with ASCII escapes, as a careless port would),
duplicate (refuses a chunk it has), checksum (never checks it), digest (never checks
Content-Digest), order (accepts any chunk number), expected_chunk (refuses out of order without
naming the next chunk), signature (never checks it), total (accepts a completion whatever its
total_records), completion (never acknowledges a completion), answers (names the next chunk in
its acknowledgements), slow (takes SLOW_SECONDS to answer a completion).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from ingestd.core import signing
from tests.jsonserver import Answer, Handler, serve

RULES = (
    "canonical",
    "duplicate",
    "checksum",
    "digest",
    "order",
    "expected_chunk",
    "signature",
    "total",
    "completion",
    "answers",
    "slow",
)
SLOW_SECONDS = 1.5


class Receiver:
    def __init__(self, broken: str | None, keys: tuple[bytes, ...]) -> None:
        self.broken = broken
        self.keys = keys
        self.lock = threading.Lock()
        self.next: dict[str, int] = {}
        self.records: dict[str, int] = {}
        self.checksums: dict[tuple[str, int], str] = {}

    def answer(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        checks_signature = self.keys and self.broken != "signature"
        if checks_signature and signing.verify(self.keys, headers, body, time.time()):
            return 401, {"ack": False, "error": "Bad signature"}
        if self.broken != "digest" and not _digest_ok(headers, body):
            return 400, {"ack": False, "error": "Content-Digest mismatch"}
        payload = orjson.loads(body)
        with self.lock:
            if payload["type"] == "completion":
                return self._completion(payload)
            return self._chunk(payload)

    def _chunk(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        ingestion, number = payload["ingestion_id"], payload["chunk_number"]
        if self.broken != "checksum" and self._checksum(payload["records"]) != payload["checksum"]:
            return 200, {"ack": False, "error": "Checksum mismatch"}
        expected = self.next.get(ingestion, 0)
        if number < expected:
            if self.broken == "duplicate":
                return 200, {"ack": False, "error": "Chunk already received"}
            return 200, self._ack(ingestion, number, duplicate=True)
        if number > expected and self.broken != "order":
            refusal = {"ack": False, "error": "Out-of-order chunk"}
            if self.broken != "expected_chunk":
                refusal["expected_chunk"] = expected
            return 200, refusal
        self.next[ingestion] = number + 1
        self.records[ingestion] = self.records.get(ingestion, 0) + len(payload["records"])
        return 200, self._ack(ingestion, number)

    def _completion(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.broken == "slow":
            time.sleep(SLOW_SECONDS)
        if self.broken == "completion":
            return 200, {"ack": False, "error": "Completions are not supported"}
        ingestion = payload["ingestion_id"]
        chunks, total = self.next.get(ingestion, 0), self.records.get(ingestion, 0)
        if payload["chunk_count"] != chunks:
            return 200, {"ack": False, "error": "Out-of-order chunk", "expected_chunk": chunks}
        if payload["total_records"] != total and self.broken != "total":
            return 200, {"ack": False, "error": f"Expected {total} records"}
        return 200, self._ack(ingestion, payload["chunk_number"])

    def _checksum(self, records: list[Any]) -> str:
        if self.broken == "canonical":
            text = json.dumps(records, sort_keys=True, separators=(",", ":")).encode()
        else:
            text = orjson.dumps(records, option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(text).hexdigest()

    def _ack(self, ingestion: str, number: int, duplicate: bool = False) -> dict[str, Any]:
        named = number + 1 if self.broken == "answers" else number
        answer: dict[str, Any] = {"ack": True, "ingestion_id": ingestion, "chunk_number": named}
        if duplicate:
            answer["duplicate"] = True
        return answer


def _digest_ok(headers: dict[str, str], body: bytes) -> bool:
    expected = "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"
    return headers.get("content-digest") == expected


def _handle(receiver: Receiver) -> Handler:
    def handle(method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        return receiver.answer(headers, body) if method == "POST" else (200, {"ok": True})

    return handle


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--break", dest="broken", choices=RULES)
    parser.add_argument("--signing-secret-file", type=Path)
    args = parser.parse_args()
    keys = ()
    if args.signing_secret_file:
        keys = signing.parse_secrets(args.signing_secret_file.read_text())
    serve(args.port, _handle(Receiver(args.broken, keys)))


if __name__ == "__main__":
    main()
