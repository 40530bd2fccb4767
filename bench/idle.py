"""The daemon at rest: seconds from `ingestd run` to READY=1 (read from a notify socket of our
own, as systemd would), then its memory once idle: every process's proportional set size added
up (pages shared between the parent and its forked children counted once), the main process's
RSS, and how many processes there are. ingestd's byte-code is compiled first, as its package
ships it (bench/stack.py, compile_ahead).

    python -m bench.idle [--repeat 5] [--workdir /tmp/ingestd-bench-idle]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.stack import (
    compile_ahead,
    family,
    machine,
    median,
    print_rows,
    proc_status,
    pss_kb,
)

LIBRARIES = ("orjson", "pydantic_settings", "sdnotify", "structlog", "watchdog.observers.inotify_c")
"""The libraries a daemon imports before READY=1 (tests/test_bench.py holds them to what a
started daemon has imported)."""


@dataclass(frozen=True)
class Idle:
    ready_seconds: float
    pss_mb: float
    main_rss_mb: float
    processes: int
    libraries_seconds: float


def libraries_seconds() -> float:
    """From starting a fresh interpreter to its having imported LIBRARIES (as READY=1 is read:
    its exit is not counted): what no start with them can go below."""
    code = "import " + ", ".join(LIBRARIES) + "; print(flush=True)"
    started = time.monotonic()
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE) as child:
        assert child.stdout is not None
        child.stdout.readline()
        imported = time.monotonic() - started
    if child.returncode != 0:
        raise RuntimeError(f"python -c {code!r} failed")
    return imported


def measure(workdir: Path, settle: float = 2.0) -> Idle:
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    compile_ahead()
    libraries = libraries_seconds()
    config = workdir / "config.toml"
    config.write_text(
        "[[inbox]]\n"
        'name = "idle"\n'
        f'root = "{workdir / "spool"}"\n'
        'callback_url = "http://127.0.0.1:9/callback"\n'
    )
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    address = str(workdir / "notify.sock")
    notify.bind(address)
    notify.settimeout(60)
    env = {**os.environ, "NOTIFY_SOCKET": address}
    started = time.monotonic()
    daemon = subprocess.Popen(
        [sys.executable, "-m", "ingestd", "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        while b"READY=1" not in notify.recv(4096):
            pass
        ready = time.monotonic() - started
        time.sleep(settle)  # whatever it starts after READY has started
        members = family(daemon.pid)
        pss = sum(pss_kb(pid) for pid in members) / 1024
        rss = proc_status(daemon.pid, "VmRSS") / 1024
        return Idle(ready, pss, rss, len(members), libraries)
    finally:
        os.kill(daemon.pid, signal.SIGKILL)
        daemon.wait()
        notify.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ingestd-bench-idle"))
    args = parser.parse_args(argv)
    runs = [measure(args.workdir) for _ in range(args.repeat)]
    print(f"machine: {machine()}")
    print(f"idle daemon, medians of {args.repeat} runs")
    print_rows(rows(runs))


def rows(runs: list[Idle]) -> list[tuple[str, float, str]]:
    return [
        ("start to READY=1 (s)", median([r.ready_seconds for r in runs]), "target <= 0.3 s"),
        (
            "  its libraries alone: start and import (s)",
            median([r.libraries_seconds for r in runs]),
            "python -c 'import " + ", ".join(LIBRARIES) + "'",
        ),
        (
            "idle, all processes together (MB PSS)",
            median([r.pss_mb for r in runs]),
            f"target <= 50; {median([float(r.processes) for r in runs]):.0f} process(es)",
        ),
        ("idle, main process (MB RSS)", median([r.main_rss_mb for r in runs]), ""),
    ]


if __name__ == "__main__":
    main()
