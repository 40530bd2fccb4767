"""An in-process inbox's parts wired to the real receiver logic through httpx.MockTransport."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson

from ingestd.core.chunking import ChunkLimits
from ingestd.core.outcome import Outcome
from ingestd.core.retry import RetryPolicy
from ingestd.failpoints import Failpoints
from ingestd.fs.claim import ClaimFolder
from ingestd.fs.durable import Disk, Fault
from ingestd.fs.spool import Layout, Spool
from ingestd.pipeline.delivery import Delivery
from ingestd.pipeline.ingest import Ingestion
from ingestd.pipeline.sender import Sender
from ingestd.pipeline.staging import InProcess, Stager
from ingestd.readers import Reader
from ingestd.readers.inbox import readers_for
from ingestd.receiver.app import ReceiverApp
from ingestd.runtime.metrics import Metrics
from ingestd.runtime.progress import InboxProgress
from ingestd.settings import DEFAULT_PATTERNS, InboxSettings
from tests.fakes import FakeClock

TWO_PER_CHUNK = ChunkLimits(2, 1 << 20)
INBOX = InboxSettings(
    name="products",
    root=Path("/nonexistent"),
    callback_url="http://127.0.0.1:9/callback",
    patterns=[*DEFAULT_PATTERNS, "*.xml"],
    xml_record_path="/catalog/product",
)
"""The settings the harness reads files by, unless a test gives its own readers."""
HttpFault = Callable[[httpx.Request, "Harness"], httpx.Response | None]


class Harness:
    """One inbox's parts, in this process: the test drives one ingestion at a time."""

    def __init__(
        self,
        root: Path,
        limits: ChunkLimits = TWO_PER_CHUNK,
        fault: Fault | None = None,
        stager: Stager | None = None,
        reader_for: Callable[[str], Reader] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.root = root
        self.disk = Disk(fault)
        self.layout = Layout(root / "spool")
        self.layout.create(Disk())
        self.app = ReceiverApp(root / "receiver")
        self.sent: list[dict] = []
        self.faults: list[HttpFault] = []
        self.clock = FakeClock()
        self.stop = threading.Event()
        self.limits = limits
        self.stager = stager or InProcess()  # a stager given is the caller's to close
        self.reader_for = reader_for or readers_for(INBOX)
        self.progress = InboxProgress("products", self.clock, metrics)
        self.spool = Spool(self.layout, INBOX.patterns, "products", self.disk)
        self.sender = Sender("http://127.0.0.1:9/callback", 5, httpx.MockTransport(self._handle))
        self.delivery = Delivery(
            self.sender,
            RetryPolicy(initial_delay=0.5, max_delay=60),
            self.clock,
            self.stop,
            self.progress,
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

    def drop(self, name: str, content: bytes | list) -> ClaimFolder:
        data = content if isinstance(content, bytes) else orjson.dumps(content)
        (self.layout.inbox / name).write_bytes(data)
        claim = self.spool.claim(name, self.clock.now())
        assert claim is not None
        return claim

    def ingestion(self, claim: ClaimFolder, failpoints: Failpoints | None = None) -> Ingestion:
        return Ingestion(
            claim,
            "products",
            self.reader_for(claim.name),
            self.limits,
            self.stager,
            self.delivery,
            self.spool,
            self.progress,
            self.clock,
            self.stop,
            failpoints or Failpoints(),
        )

    def run(self, claim: ClaimFolder) -> Outcome:
        with self.ingestion(claim) as ingestion:
            return ingestion.run()

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
        self.sender.close()
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


def status(code: int, body: bytes = b"", **headers: str) -> HttpFault:
    def answer(request: httpx.Request, harness: Harness) -> httpx.Response:
        return httpx.Response(code, content=body, headers=headers)

    return answer


def raises(exc_type: type[Exception]) -> HttpFault:
    def answer(request: httpx.Request, harness: Harness) -> httpx.Response:
        raise exc_type("injected", request=request)  # type: ignore[call-arg]

    return answer


def passthrough(request: httpx.Request, harness: Harness) -> None:
    return None


def hard_link_count(path: Path) -> int:
    return os.lstat(path).st_nlink


def stage_bytes(folder: Path, name: str, data: bytes, reader: Reader, limits: ChunkLimits):  # type: ignore[no-untyped-def]
    """Stage `data` as the claimed file `name` in `folder`, as a worker's parser would; the
    staged records land in `folder/<name>.staged`."""
    from ingestd.pipeline.staging import StageRequest, stage

    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return stage(StageRequest(ClaimFolder(folder, name), reader, limits))


def staged_records(folder: Path, name: str, data: bytes, reader: Reader) -> list[dict]:  # type: ignore[type-arg]
    """The records staging makes of `data` read by `reader`, as the receiver will see them."""
    stage_bytes(folder, name, data, reader, ChunkLimits(1000, 1 << 20))
    return [orjson.loads(line) for line in (folder / f"{name}.staged").read_bytes().splitlines()]
