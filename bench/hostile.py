"""What each hostile corpus file costs before it fails: time and peak memory of the validation
pass, run as the daemon runs it (a child with the default 1024 MB address-space limit).

    python -m bench.hostile
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.stack import PEAK_KB

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "corpus"

PROBE = (
    PEAK_KB
    + """
import resource, sys, time, tempfile, pathlib
resource.setrlimit(resource.RLIMIT_AS, (1024 << 20, 1024 << 20))
from ingestd.core.chunking import ChunkLimits
from ingestd.errors import InvalidInput
from ingestd.readers.inbox import readers_for
from ingestd.settings import InboxSettings
from ingestd.fs.claim import ClaimFolder
from ingestd.pipeline.staging import StageRequest, stage
path = pathlib.Path(sys.argv[1])
inbox = InboxSettings(name="b", root="/b", callback_url="http://127.0.0.1/", patterns=["*"],
                      xml_record_path="/catalog/product")
reader = readers_for(inbox)(path.name)
out = pathlib.Path(tempfile.mkdtemp())
(out / path.name).write_bytes(path.read_bytes())
start = time.perf_counter()
try:
    stage(StageRequest(ClaimFolder(out, path.name), reader, ChunkLimits(500, 1 << 20)))
    outcome = "delivered"
except InvalidInput as exc:
    outcome = "failed: " + exc.message[:60]
except MemoryError:
    outcome = "failed: memory limit"
print(round(time.perf_counter() - start, 3), peak_kb() // 1024, outcome)
"""
)


def main() -> None:
    expected = json.loads((CORPUS / "expected.json").read_text())
    print(f"{'file':<34}{'seconds':>8}{'peak MB':>9}  outcome")
    worst_time = worst_memory = 0.0
    for name in sorted(n for n, e in expected.items() if e["outcome"] != "ignored"):
        result = subprocess.run(
            [sys.executable, "-c", PROBE, str(CORPUS / "files" / name)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            print(f"{name:<34}  died: {result.returncode} {result.stderr[-200:]}")
            continue
        seconds, peak, outcome = result.stdout.strip().split(" ", 2)
        worst_time, worst_memory = max(worst_time, float(seconds)), max(worst_memory, float(peak))
        print(f"{name:<34}{float(seconds):>8.3f}{int(peak):>9}  {outcome}")
    print(f"worst: {worst_time:.3f} s, {worst_memory:.0f} MB peak, over {len(expected)} files")


if __name__ == "__main__":
    main()
