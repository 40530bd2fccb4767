"""An in-process inbox wired to the real receiver logic through httpx.MockTransport."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson

from ingestd.core.chunking import ChunkLimits
from ingestd.fs.spool import Claim, Layout, Spool
from ingestd.pipeline.inbox_runtime import InboxRuntime, RetryPolicy
from ingestd.pipeline.ingest import Ingestion
from ingestd.pipeline.sender import Sender
from ingestd.readers import chooser
from ingestd.readers.excel.reference import ExcelReader
from ingestd.readers.json.reference import JsonReader
from ingestd.receiver.app import ReceiverApp
from tests.fakes import FakeClock

TWO_PER_CHUNK = ChunkLimits(2, 1 << 20)
Fault = Callable[[httpx.Request, "Harness"], httpx.Response | None]


class Harness:
    def __init__(self, root: Path, limits: ChunkLimits = TWO_PER_CHUNK) -> None:
        self.root = root
        self.layout = Layout(root / "spool")
        self.layout.create()
        self.app = ReceiverApp(root / "receiver")
        self.sent: list[dict] = []
        self.faults: list[Fault] = []
        self.clock = FakeClock()
        self.stop = threading.Event()
        self.runtime = InboxRuntime(
            name="products",
            spool=Spool(self.layout, ["*.json", "*.xlsx", "*.xlsm"]),
            sender=Sender("http://127.0.0.1:9/callback", 5, httpx.MockTransport(self._handle)),
            reader_for=chooser(JsonReader(), ExcelReader()),
            limits=limits,
            retry=RetryPolicy(initial_delay=0.5, max_delay=60),
            clock=self.clock,
            stop=self.stop,
            rand=lambda: 0.5,
        )

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(orjson.loads(request.content))
        if self.faults:
            answer = self.faults.pop(0)(request, self)
            if answer is not None:
                return answer
        return self.deliver(request)

    def deliver(self, request: httpx.Request) -> httpx.Response:
        return deliver(self.app, request)

    def drop(self, name: str, content: bytes | list) -> Claim:
        data = content if isinstance(content, bytes) else orjson.dumps(content)
        (self.layout.inbox / name).write_bytes(data)
        claim = self.runtime.spool.claim(name, self.clock.now())
        assert claim is not None
        return claim

    def run(self, claim: Claim) -> str:
        return Ingestion(claim, self.runtime).run()

    def chunk_numbers(self) -> list[object]:
        return [b["chunk_number"] if b["type"] == "chunk" else "completion" for b in self.sent]

    def received(self, ingestion_id: str) -> list[dict]:
        path = self.app.store.ndjson_path(ingestion_id)
        return (
            [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []
        )

    def finished(self, outcome: str) -> list[Path]:
        base = self.layout.done if outcome == "done" else self.layout.failed
        return sorted(p for p in base.rglob("*") if p.is_file())

    def report(self) -> dict:
        (path,) = [p for p in self.finished("failed") if p.name.endswith(".error.json")]
        return orjson.loads(path.read_bytes())

    def close(self) -> None:
        self.runtime.sender.close()
        self.app.close()


def deliver(app: ReceiverApp, request: httpx.Request) -> httpx.Response:
    """Hand one request to the real receiver logic."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    status, body = app.handle("POST", "/callback", headers, request.content)
    return httpx.Response(status, content=body)


def into(
    app: ReceiverApp, before: Callable[[httpx.Request], httpx.Response | None] | None = None
) -> httpx.MockTransport:
    """An httpx transport straight into the receiver logic; `before` may hold a request back or
    answer it instead."""

    def handle(request: httpx.Request) -> httpx.Response:
        answer = before(request) if before is not None else None
        return answer if answer is not None else deliver(app, request)

    return httpx.MockTransport(handle)


def then_stop(request: httpx.Request, harness: Harness) -> httpx.Response:
    """Deliver, then ask the daemon to stop, as a SIGTERM arriving mid-ingestion would."""
    answer = harness.deliver(request)
    harness.stop.set()
    return answer


def lose_answer(request: httpx.Request, harness: Harness) -> httpx.Response:
    """The receiver stores the chunk, but its answer never arrives."""
    harness.deliver(request)
    raise httpx.ReadError("connection reset by peer", request=request)


def status(code: int, body: bytes = b"", **headers: str) -> Fault:
    def answer(request: httpx.Request, harness: Harness) -> httpx.Response:
        return httpx.Response(code, content=body, headers=headers)

    return answer


def raises(exc_type: type[Exception]) -> Fault:
    def answer(request: httpx.Request, harness: Harness) -> httpx.Response:
        raise exc_type("injected", request=request)  # type: ignore[call-arg]

    return answer


def passthrough(request: httpx.Request, harness: Harness) -> None:
    return None


def hard_link_count(path: Path) -> int:
    return os.lstat(path).st_nlink
