"""The format benchmark runs and prints its rows (figures come from real runs, here tiny ones)."""

from __future__ import annotations

import re
import subprocess
import sys


def test_the_format_benchmark_runs_end_to_end(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.formats",
            "--records",
            "300",
            "--repeat",
            "1",
            "--workdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    rows = re.findall(r"^ *(\S.*?)\s{2,}(\d+\.\d\d)  ", result.stdout, re.MULTILINE)
    names = [name for name, _ in rows]
    for kind in ("CSV", "NDJSON", "XML"):
        assert f"{kind} end to end (300 records, records/s)" in names
    assert len(rows) == 9 and all(float(value) > 0 for _, value in rows)
