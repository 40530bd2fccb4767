"""The real daemon and the reference receiver as processes on loopback, with their costs read
from /proc: wall time from drop to completion, peak memory (VmHWM) and CPU seconds."""

from __future__ import annotations

import compileall
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

import ingestd


def compile_ahead() -> None:
    """ingestd's byte-code written before a daemon starts, as its package ships it
    (packaging/build_deb.py) and as Python writes it on a first import unless told not to. A
    checkout run under PYTHONDONTWRITEBYTECODE=1 (this machine's environment) would otherwise
    compile all of ingestd's modules again at every start, which no installed daemon does.
    Quick once done: a module whose byte-code is current is skipped."""
    compileall.compile_dir(Path(ingestd.__file__).parent, quiet=1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_status(pid: int, key: str) -> int:
    """A kB figure from /proc/<pid>/status (VmHWM is the peak resident set)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def family(pid: int) -> list[int]:
    """The process and its descendants (the forkserver, the parsers' children and theirs)."""
    return [pid] + [member for child in children(pid) for member in family(child)]


def children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for listed in Path(f"/proc/{pid}/task").glob("*/children"):
            found += map(int, listed.read_text().split())
    return found


def family_peak_mb(pid: int) -> float:
    """The largest VmHWM among the daemon and its descendants (the parsers' children)."""
    peaks = [proc_status(pid, "VmHWM") / 1024]
    for member in family(pid)[1:]:
        with contextlib.suppress(FileNotFoundError, KeyError, ProcessLookupError):
            peaks.append(proc_status(member, "VmHWM") / 1024)
    return max(peaks)


class MemorySampler:
    """Samples the daemon's processes every `every` seconds while a run goes on, so that a
    process that ends before the run does (a long sheet's second half) is counted too: the
    largest VmHWM of any of them, and the largest sum of their proportional set sizes (each
    shared page counted once, in parts)."""

    def __init__(self, pid: int, every: float = 0.1) -> None:
        self._pid = pid
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.largest_mb = 0.0
        self.together_mb = 0.0

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self._sample()

    def _sample(self) -> None:
        together = 0.0
        for member in family(self._pid):
            with contextlib.suppress(FileNotFoundError, KeyError, ProcessLookupError):
                peak = proc_status(member, "VmHWM") / 1024
                self.largest_mb = max(self.largest_mb, peak)
                together += pss_kb(member) / 1024
        self.together_mb = max(self.together_mb, together)


def pss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    raise KeyError("Pss")


def cpu_seconds(pid: int, reaped: bool = False) -> float:
    """User + system CPU seconds of a live process; with `reaped`, also those of the children
    it has waited for (a forkserver's parser children, once they ended)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if reaped:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def family_cpu_seconds(pid: int) -> float:
    """CPU seconds of the daemon and every descendant, live or ended: each live member's own and
    its reaped children's (those are in no live member's own count, so nothing counts twice)."""
    total = 0.0
    for member in family(pid):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            total += cpu_seconds(member, reaped=True)
    return total


PEAK_KB = """
def peak_kb():
    # VmHWM, this process's own peak. ru_maxrss would report the benchmark's own when it is
    # larger: Linux keeps the peak of the address space a child had before its exec, and a
    # child started by vfork has had its parent's.
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
"""
"""Prepended to a script that reports its peak memory: it defines peak_kb()."""


def script_cost(code: str, *args: str) -> tuple[float, float, float]:
    """(seconds, peak MB, CPU seconds) of a script in a fresh interpreter that prints its count,
    seconds, peak kB (PEAK_KB) and user + system seconds."""
    result = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    )
    _, seconds, peak_kb, cpu = result.stdout.split()
    return float(seconds), int(peak_kb) / 1024, float(cpu)


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory = proc_status(os.getpid(), "VmHWM") and _meminfo_gb()
    return f"{model}, {os.cpu_count()} cores, {memory:.0f} GB RAM, Python {sys.version.split()[0]}"


def _meminfo_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


class Stack:
    """One receiver, one daemon with one inbox; everything under `root`, killed by PID."""

    def __init__(self, root: Path, **inbox: Any) -> None:
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        compile_ahead()
        self.root = root
        self.port = free_port()
        self.spool = root / "spool"
        self.settle = float(inbox.pop("settle_seconds", 0.05))
        self.inbox = {"chunk_records": 1000, "settle_seconds": self.settle, **inbox}
        self.receiver: subprocess.Popen[bytes] | None = None
        self.daemon: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Stack:
        self.start_receiver()
        self.start_daemon()  # a worker starts its parser process with its first file
        return self

    def start_receiver(self) -> None:
        self.receiver = self._spawn(
            ["receiver", "--port", str(self.port), "--data", str(self.root / "received")],
            "receiver.log",
        )
        self._wait(self._healthy, "the receiver")

    def kill_receiver(self) -> None:
        assert self.receiver is not None
        os.kill(self.receiver.pid, signal.SIGKILL)
        self.receiver.wait()

    def ingestions(self) -> list[dict[str, Any]]:
        return list(self._get("/ingestions", timeout=10).json()["ingestions"])

    def received(self, ingestion_id: str) -> list[dict[str, Any]]:
        path = self.root / "received" / f"{ingestion_id}.ndjson"
        if not path.exists():
            return []
        return [orjson.loads(line) for line in path.read_bytes().splitlines()]

    def __exit__(self, *exc: object) -> None:
        for process in (self.daemon, self.receiver):
            if process is not None and process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()

    def start_daemon(self) -> None:
        lines = [
            "[[inbox]]",
            'name = "bench"',
            f'root = "{self.spool}"',
            f'callback_url = "http://127.0.0.1:{self.port}/callback"',
        ]
        lines += [f"{k} = {orjson.dumps(v).decode()}" for k, v in self.inbox.items()]
        (self.root / "config.toml").write_text("\n".join(lines) + "\n")
        starts = self._log("daemon.log").count(b'"event":"started"')
        self.daemon = self._spawn(["run", "--config", str(self.root / "config.toml")], "daemon.log")
        self._wait(
            lambda: self._log("daemon.log").count(b'"event":"started"') > starts, "the daemon"
        )

    def warm_up(self) -> None:
        """One tiny file first, so that a figure is the steady state: the parsers' forkserver
        starts with the first file, and costs that file about half a second of CPU."""
        warm = self.root / "warm-up.json"
        warm.write_bytes(b'[{"sku": "warm-up"}]')
        self.drop(warm, warm.name)
        self.wait_done(self.finished() + 1)

    def receiver_cpu(self) -> float:
        assert self.receiver is not None
        return cpu_seconds(self.receiver.pid)

    def kill_daemon(self) -> None:
        assert self.daemon is not None
        os.kill(self.daemon.pid, signal.SIGKILL)
        self.daemon.wait()

    def drop(self, source: Path, name: str) -> float:
        """Copy in under a temporary name, rename into the inbox; returns the wall time of the drop."""
        temporary = self.spool / "inbox" / (name + ".part")
        shutil.copyfile(source, temporary)
        os.rename(temporary, self.spool / "inbox" / name)
        return time.time()

    def wait_done(self, count: int, timeout: float = 3600) -> None:
        """Every figure that follows is read from the daemon's log, so this polls slowly: at 10 ms,
        listing 2,000 finished folders took a tenth of a core from the daemon it was timing."""
        self._wait(lambda: self.finished() >= count, "files in done/", timeout, every=0.1)

    def finished(self) -> int:
        """Claim folders in done/<date>/: each arrives there by one rename, file and journal in it.
        One listing per date, not a glob into every folder: this is polled while the daemon runs,
        and a glob over 2,000 folders took 25 ms, most of a core at the poll interval."""
        done = self.spool / "done"
        return sum(len(os.listdir(day)) for day in done.iterdir()) if done.exists() else 0

    def events(self, name: str) -> list[dict[str, Any]]:
        """The log's complete lines: the daemon may be writing the last one while it is read."""
        lines = self._log("daemon.log").rpartition(b"\n")[0].splitlines()
        return [e for e in map(orjson.loads, lines) if e.get("event") == name]

    def last_completion(self) -> float:
        return max(timestamp(e) for e in self.events("completion acknowledged"))

    def receiver_chunks(self) -> int:
        return sum(i["chunks"] for i in self.ingestions())

    def _spawn(self, args: list[str], log: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, "INGESTD_LOG_FORMAT": "json"}
        with open(self.root / log, "ab") as out:  # the child has its own copy
            return subprocess.Popen(
                [sys.executable, "-m", "ingestd", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )

    def _log(self, name: str) -> bytes:
        path = self.root / name
        return path.read_bytes() if path.exists() else b""

    def _healthy(self) -> bool:
        try:
            return self._get("/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def _get(self, path: str, timeout: float) -> httpx.Response:
        """The receiver on loopback, whatever proxy the environment names."""
        return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=timeout, trust_env=False)

    @staticmethod
    def _wait(predicate: Any, what: str, timeout: float = 60, every: float = 0.01) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout}s for {what}")
            time.sleep(every)


def timestamp(event: dict[str, Any]) -> float:
    """A log event's time, in seconds since the epoch."""
    return datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN when the denominator is 0 (a CPU figure under one clock tick
    of /proc's 10 ms, on a tiny file)."""
    return numerator / denominator if denominator else float("nan")


def print_rows(rows: list[tuple[str, float, str]], width: int = 52) -> None:
    """The benchmark's table: a figure's name, its value, and what it is compared with."""
    for name, value, note in rows:
        print(f"{name:<{width}}{value:>12.2f}  {note}")


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
