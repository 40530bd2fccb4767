"""What a daemon imports before READY=1 it pays on every start; what only a request or a
file of some format needs is imported with the first one (docs/performance.md, READY)."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
from ingestd.errors import ReceiverUnavailable
from ingestd.pipeline.sender import Sender
from ingestd.readers.inbox import readers_for
from ingestd.runtime.daemon import Daemon
from ingestd.settings import from_mapping

LATER = ("httpx", "xmltodict", "ingestd.readers.json.reference",
         "ingestd.readers.excel.streaming", "ingestd.readers.csv.reader",
         "ingestd.readers.ndjson.reader", "ingestd.readers.xml.reader")

def loaded(step):
    print("imported", step, *[name for name in LATER if name in sys.modules])

settings = from_mapping({"inbox": [
    {"name": "p", "root": sys.argv[1], "callback_url": "http://127.0.0.1:9/cb"}]})
daemon = Daemon(settings)
daemon.start()
loaded("started")
daemon.stop_event.set()
daemon.shutdown()
try:
    Sender("http://127.0.0.1:9/cb", 1).post(b"{}", "k")
except ReceiverUnavailable:
    pass
loaded("posted")
choose = readers_for(settings.inbox[0])
assert choose("a.xlsx") is choose("b.XLSM")
loaded("chose")
"""


def test_a_started_daemon_imports_what_requests_and_formats_need_with_the_first_one(tmp_path):
    found = subprocess.run(
        [sys.executable, "-c", CODE, str(tmp_path / "spool")],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    lines = [line.split()[1:] for line in found.stdout.splitlines() if line.startswith("imported ")]
    steps = {step: names for step, *names in lines}
    assert steps == {
        "started": [],
        "posted": ["httpx"],
        "chose": ["httpx", "ingestd.readers.excel.streaming"],
    }, found.stdout + found.stderr
