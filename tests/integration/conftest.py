"""Real processes on loopback: the daemon and the reference receiver, killed by PID at the end."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.contract import schemas
from tests.contract.schemas import request_problems

WAIT_SECONDS = 30.0


def wait_until(predicate: Callable[[], Any], timeout: float = WAIT_SECONDS, what: str = "") -> Any:
    """Poll until `predicate` returns something truthy; fail the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Process:
    """A child process whose output goes to a file; stopped by its own PID."""

    def __init__(
        self,
        args: list[str],
        log: Path,
        env: dict[str, str] | None = None,
        module: str = "ingestd",
        new_session: bool = False,
    ) -> None:
        self.log = log
        self._out = open(log, "ab")  # noqa: SIM115 (lives as long as the process)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdout=self._out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=new_session,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._out.close()

    def terminate(self, timeout: float = 20, signum: int = signal.SIGTERM) -> int:
        os.kill(self.proc.pid, signum)
        code = self.proc.wait(timeout=timeout)
        self._out.close()
        return code

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class Receiver:
    def __init__(self, root: Path, processes: list[Process]) -> None:
        self.port = free_port()
        self.data = root / "receiver-data"
        self.request_log = root / "receiver-requests.ndjson"
        self._root = root
        self._processes = processes
        self.process: Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/callback"

    def start(self, *options: str) -> Receiver:
        """(Re)start `ingestd receiver` with `options` (--signing-secret-file PATH,
        --max-records N, ...); every request it gets is logged, for requests()."""
        if self.process is not None:
            self.process.kill()
        self.process = Process(
            [
                "receiver",
                "--port",
                str(self.port),
                "--data",
                str(self.data),
                "--log-requests",
                str(self.request_log),
                *options,
            ],
            self._root / "receiver.log",
        )
        self._processes.append(self.process)
        wait_until(self._healthy, what="the receiver to listen")
        return self

    def _healthy(self) -> bool:
        try:
            return (
                httpx.get(
                    f"http://127.0.0.1:{self.port}/health", timeout=1, trust_env=False
                ).status_code
                == 200
            )
        except httpx.TransportError:
            if self.process is not None and self.process.proc.poll() is not None:
                raise AssertionError("receiver exited:\n" + self.process.output()) from None
            return False

    def ingestions(self) -> list[dict[str, Any]]:
        answer = httpx.get(f"http://127.0.0.1:{self.port}/ingestions", timeout=5, trust_env=False)
        return list(answer.json()["ingestions"])

    def completed(self) -> list[dict[str, Any]]:
        return [i for i in self.ingestions() if i["completed"]]

    def requests(self) -> list[dict[str, Any]]:
        """Every POST it got: headers (lower case), body and answer as text, status."""
        if not self.request_log.exists():
            return []
        return [orjson.loads(line) for line in self.request_log.read_bytes().splitlines()]

    def records(self, ingestion_id: str) -> list[dict[str, Any]]:
        path = self.data / f"{ingestion_id}.ndjson"
        if not path.exists():
            return []
        return [orjson.loads(line) for line in path.read_bytes().splitlines()]


class LegacyReceiver:
    """tests/legacy_receiver.py in a process of its own: state in memory, lost on restart."""

    def __init__(self, root: Path, processes: list[Process]) -> None:
        self.port = free_port()
        self._root = root
        self._processes = processes
        self.process: Process | None = None
        self.instances = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/callback"

    def start(self) -> LegacyReceiver:
        self.instances += 1
        self.process = Process(
            ["--port", str(self.port)],
            self._root / f"legacy-receiver-{self.instances}.log",
            module="tests.legacy_receiver",
        )
        self._processes.append(self.process)
        wait_until(lambda: self._get("/health") is not None, what="the legacy receiver")
        return self

    def records(self, ingestion_id: str) -> list[dict[str, Any]]:
        answer = self._get(f"/records/{ingestion_id}")
        assert answer is not None
        return list(answer["records"])

    def _get(self, path: str) -> dict[str, Any] | None:
        try:
            answer = httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=5, trust_env=False)
        except httpx.TransportError:
            assert self.process is not None and self.process.proc.poll() is None
            return None
        return dict(answer.json())


class Spool:
    """One inbox's folders as a test sees them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.inbox, self.work = root / "inbox", root / "work"
        self.done, self.failed = root / "done", root / "failed"

    def drop(self, name: str, content: bytes | list[Any]) -> None:
        """Write under a temporary name and rename into place, as SFTP clients do."""
        data = content if isinstance(content, bytes) else orjson.dumps(content)
        temporary = self.inbox / (name + ".part")
        temporary.write_bytes(data)
        os.rename(temporary, self.inbox / name)

    def data_files(self, folder: str) -> list[Path]:
        base = self.done if folder == "done" else self.failed
        return sorted(
            p for p in base.glob("*/*/*") if not p.name.endswith((".journal", ".error.json"))
        )

    def reports(self) -> list[dict[str, Any]]:
        return [orjson.loads(p.read_bytes()) for p in sorted(self.failed.glob("*/*/*.error.json"))]

    def work_claims(self) -> list[Path]:
        return sorted(self.work.iterdir()) if self.work.exists() else []


class Daemon:
    def __init__(self, root: Path, processes: list[Process]) -> None:
        self.root = root
        self.config = root / "config.toml"
        self._processes = processes
        self.process: Process | None = None
        self.starts = 0

    def configure(self, inboxes: list[dict[str, Any]], **top: Any) -> None:
        lines = [f"{k} = {_toml(v)}" for k, v in top.items()]
        for inbox in inboxes:
            lines.append("[[inbox]]")
            lines.extend(f"{k} = {_toml(v)}" for k, v in inbox.items())
        self.config.write_text("\n".join(lines) + "\n")

    def start(self, new_session: bool = False, **env: str) -> Daemon:
        self.starts += 1
        self.process = Process(
            ["run", "--config", str(self.config)],
            self.root / "daemon.log",
            env={"INGESTD_LOG_FORMAT": "json", **env},
            new_session=new_session,
        )
        self._processes.append(self.process)
        wait_until(
            lambda: (
                self.process.output().count('"event":"started"') == self.starts
                or self.process.proc.poll() is not None
            ),
            what="the daemon to start",
        )
        if self.process.proc.poll() is not None:
            raise AssertionError("daemon exited:\n" + self.process.output())
        return self

    def log_lines(self) -> list[dict[str, Any]]:
        log = self.root / "daemon.log"
        return [orjson.loads(line) for line in log.read_bytes().splitlines() if line.strip()]


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    return orjson.dumps(str(value)).decode()


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        process.kill()


@pytest.fixture
def receiver(tmp_path: Path, processes: list[Process]) -> Iterator[Receiver]:
    """The reference receiver; afterwards, every request the sender made to it in the test, and
    every answer, is held to the protocol's JSON Schemas (ingestd/contract/)."""
    started = Receiver(tmp_path, processes).start()
    yield started
    for request in started.requests():
        assert not request_problems(request["body"].encode()), request["body"][:500]
        assert not schemas.problems("answer", orjson.loads(request["answer"])), request["answer"]


@pytest.fixture
def daemon(tmp_path: Path, processes: list[Process]) -> Daemon:
    return Daemon(tmp_path, processes)


def inbox_config(
    root: Path, receiver: Receiver | LegacyReceiver, **overrides: Any
) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "name": "products",
        "root": str(root),
        "callback_url": receiver.url,
        "settle_seconds": 0.2,
        "chunk_records": 10,
        "retry_max_delay_seconds": 0.5,
        "retry_initial_delay_seconds": 0.05,
        "rescan_seconds": 1.0,
    }
    settings.update(overrides)
    return settings
