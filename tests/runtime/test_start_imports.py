"""What a daemon imports before READY=1 it pays on every start; what only a file, a request or
a format needs is imported with the first one (docs/performance.md, READY)."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys, time
from pathlib import Path
from ingestd.readers.inbox import readers_for
from ingestd.runtime.daemon import Daemon
from ingestd.settings import from_mapping

LATER = ("multiprocessing", "urllib.request", "ingestd.core.protocol",
         "ingestd.pipeline.isolation", "ingestd.pipeline.staging", "ingestd.pipeline.ingest",
         "ingestd.pipeline.delivery", "ingestd.pipeline.sender", "httpx", "xmltodict",
         "ingestd.readers.json", "ingestd.readers.excel.streaming", "ingestd.readers.csv.reader",
         "ingestd.readers.ndjson.reader", "ingestd.readers.xml.reader")

def loaded(step):
    print("imported", step, *[name for name in LATER if name in sys.modules])

def wait_for(module):
    deadline = time.monotonic() + 60
    while module not in sys.modules and time.monotonic() < deadline:
        time.sleep(0.01)

settings = from_mapping({"inbox": [
    {"name": "p", "root": sys.argv[1], "callback_url": "http://127.0.0.1:9/cb",
     "settle_seconds": 0.05}]})
daemon = Daemon(settings)
daemon.start()
daemon.stop_event.set()
daemon.shutdown()
loaded("idle")
daemon = Daemon(settings)
daemon.start()
(Path(sys.argv[1]) / "inbox" / "a.json").write_bytes(b'[{"sku": "1"}]')
wait_for("httpx")  # its first request: nothing listens there, so it waits to try again
daemon.stop_event.set()
daemon.shutdown()
loaded("sent")
choose = readers_for(settings.inbox[0])
assert choose("a.xlsx") is choose("b.XLSM")
loaded("chose")
"""


def test_a_daemon_imports_what_files_requests_and_formats_need_with_the_first_one(tmp_path):
    found = subprocess.run(
        [sys.executable, "-c", CODE, str(tmp_path / "spool")],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    lines = [line.split()[1:] for line in found.stdout.splitlines() if line.startswith("imported ")]
    steps = {step: names for step, *names in lines}
    sent = [
        "multiprocessing", "urllib.request", "ingestd.core.protocol",
        "ingestd.pipeline.isolation", "ingestd.pipeline.staging", "ingestd.pipeline.ingest",
        "ingestd.pipeline.delivery", "ingestd.pipeline.sender", "httpx", "ingestd.readers.json",
    ]  # fmt: skip
    assert steps == {
        "idle": [],
        "sent": sent,
        "chose": [*sent, "ingestd.readers.excel.streaming"],
    }, found.stdout + found.stderr
