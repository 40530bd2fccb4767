"""A receiver written the way the earlier service's mock Pimcore receiver is: chunk state in
memory only, deduplication by chunk_id, and an `Out-of-order chunk` refusal that names the
ingestion and the chunk but never an `expected_chunk`. A restart forgets everything.

Run: python -m tests.legacy_receiver --port N
GET /records/<ingestion_id> lists what this instance holds; GET /health answers when it is up.
"""

from __future__ import annotations

import argparse
import hashlib
import threading
from typing import Any

import orjson

from tests.jsonserver import Answer, Handler, serve


class LegacyState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.expected: dict[str, int] = {}
        self.checksums: dict[str, str] = {}  # chunk_id -> checksum
        self.records: dict[str, list[Any]] = {}
        self.completed: set[str] = set()

    def answer(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        ingestion = payload.get("ingestion_id")
        number = payload.get("chunk_number")
        if not isinstance(ingestion, str):
            return 422, {"detail": "ingestion_id missing"}
        base = {"ingestion_id": ingestion, "chunk_number": number}
        with self.lock:
            if payload.get("type") == "completion":
                return self._completion(ingestion, payload, base)
            return self._chunk(ingestion, payload, base)

    def _chunk(self, ingestion: str, payload: dict[str, Any], base: dict[str, Any]) -> Any:
        records = payload["records"]
        digest = hashlib.sha256(orjson.dumps(records, option=orjson.OPT_SORT_KEYS)).hexdigest()
        if digest != payload["checksum"]:
            return 200, {**base, "ack": False, "error": "Checksum mismatch"}
        chunk_id = payload["chunk_id"]
        if self.checksums.get(chunk_id) == digest:
            return 200, {**base, "ack": True, "duplicate": True}
        if payload["chunk_number"] != self.expected.get(ingestion, 0):
            return 200, {**base, "ack": False, "error": "Out-of-order chunk"}
        self.checksums[chunk_id] = digest
        self.records.setdefault(ingestion, []).extend(records)
        self.expected[ingestion] = payload["chunk_number"] + 1
        return 200, {**base, "ack": True}

    def _completion(self, ingestion: str, payload: dict[str, Any], base: dict[str, Any]) -> Any:
        if payload.get("chunk_count") != self.expected.get(ingestion, 0):
            return 200, {**base, "ack": False, "error": "Out-of-order chunk"}
        self.completed.add(ingestion)
        return 200, {**base, "ack": True}


def _handle(state: LegacyState) -> Handler:
    def handle(method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if method == "POST":
            return state.answer(orjson.loads(body))
        if path == "/health":
            return 200, {"ok": True}
        if path.startswith("/records/"):
            with state.lock:
                return 200, {"records": state.records.get(path.removeprefix("/records/"), [])}
        return 404, {"detail": "Not Found"}

    return handle


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    serve(args.port, _handle(LegacyState()))


if __name__ == "__main__":
    main()
