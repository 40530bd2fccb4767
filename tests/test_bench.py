"""The format benchmark runs and prints its rows (figures come from real runs, here tiny ones)."""

from __future__ import annotations

import math
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


def test_the_excel_producers_and_idle_benchmarks_run(tmp_path):
    """Every producer's workbook is written and read (LibreOffice where it is installed), and
    the idle figures come from a real daemon's READY=1 and /proc."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.producers", "--rows", "60", "--repeat", "1",
         "--workdir", str(tmp_path / "xlsx")],
        capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    rows = dict(re.findall(r"^(Excel, .*?)\s{2,}(\S+)  ", result.stdout, re.MULTILINE))
    # How much the first workbook costs more is a timing: the benchmark prints it, this only
    # requires the row (two workbooks measured apart from the catalog in every round).
    first = float(rows.pop("Excel, a parser's first workbook: CPU s more"))
    assert math.isfinite(first), result.stdout
    assert len(rows) == 5, result.stdout
    for name, value in rows.items():
        assert (
            value == "nan"
            if "LibreOffice" in name and "not installed" in result.stdout
            else (float(value) > 0)
        ), (name, value)
    idle = subprocess.run(
        [sys.executable, "-m", "bench.idle", "--repeat", "1", "--workdir", str(tmp_path / "idle")],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    figures = dict(re.findall(r"^(\S.*?)\s{2,}(\d+\.\d\d)", idle.stdout, re.MULTILINE))
    assert 0 < float(figures["start to READY=1 (s)"]) < 30
    assert 0 < float(figures["idle, all processes together (MB PSS)"]) < 500


def test_the_json_rows_compare_ingestd_with_the_floor_the_parts_and_the_naive_script(tmp_path):
    """On a small catalog, one round: each script reads every record (they print their count),
    and the unavoidable parts cost something but less than ingestd's whole pipeline does."""
    from bench.data import write_json
    from bench.run import IJSON_FLOOR, PARTS, json_rows

    path = write_json(tmp_path / "catalog.json", 3000)
    for script in (IJSON_FLOOR, PARTS):
        counted = subprocess.run(
            [sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True
        )
        assert counted.stdout.split()[0] == "3000"
    rows = {name.strip(): value for name, value, _ in json_rows(path, 1, tmp_path / "work")}
    assert rows["the unavoidable parts alone vs the floor (ratio)"] > 0
    assert rows["CPU seconds, all of ingestd's processes"] > 0
    assert len(rows) == 9


def test_a_script_reports_its_own_peak_memory_not_the_benchmarks():
    """A child started by vfork and exec keeps its parent's peak in ru_maxrss, so the loops'
    figures showed the benchmark's own size (1495 MB once it had written openpyxl's workbooks).
    The scripts read VmHWM: a benchmark holding 300 MB does not show in a loop's figure."""
    from bench.stack import PEAK_KB, script_cost

    held = bytearray(300 << 20)
    held[::4096] = b"\x01" * len(range(0, len(held), 4096))  # written to: resident
    _, peak_mb, _ = script_cost(PEAK_KB + "print(1, 0.0, peak_kb(), 0.0)\n")
    assert 0 < peak_mb < 100, peak_mb
    assert held[4096] == 1


STARTED_DAEMON_LIBRARIES = """
import sys
from ingestd.runtime.daemon import Daemon
from ingestd.settings import from_mapping
import ingestd.cli

settings = from_mapping({"inbox": [
    {"name": "p", "root": sys.argv[1], "callback_url": "http://127.0.0.1:9/cb"}]})
daemon = Daemon(settings)
daemon.start()
daemon.stop_event.set()
daemon.shutdown()
"""

THIRD_PARTY = """
import sys
own = ("ingestd", "__main__", "__editable__", "_sysconfigdata")
print("third party:", *sorted({name.split(".")[0] for name in sys.modules} - set(sys.stdlib_module_names)
              - {name for name in sys.modules if name.startswith(own)}))
"""


def test_the_ready_floor_imports_what_a_started_daemon_imports_of_other_projects(tmp_path):
    """bench.idle prints beside READY the time a fresh interpreter takes to import
    idle.LIBRARIES: that floor means something only if they are what a daemon imports from
    other projects before READY, no more and no fewer."""
    from bench.idle import LIBRARIES

    def third_party(code: str) -> list[str]:
        found = subprocess.run(
            [sys.executable, "-c", code + THIRD_PARTY, str(tmp_path / "spool")],
            capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        line = [n for n in found.stdout.splitlines() if n.startswith("third party:")]
        return line[0].split()[2:]

    daemon = third_party(STARTED_DAEMON_LIBRARIES)
    assert "pydantic_settings" in daemon
    assert third_party("import " + ", ".join(LIBRARIES) + "\n") == daemon
