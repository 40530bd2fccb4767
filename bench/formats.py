"""CSV, NDJSON and XML: the daemon end to end beside the plain standard-library loop for each.

    python -m bench.formats [--records 200000] [--repeat 3] [--workdir /tmp/ingestd-bench-formats]

The loops only read (no checks, no staging, no sending): they are the floor of what reading the
format costs in Python, run in a fresh interpreter each. Peak memory is the largest VmHWM of the
daemon's processes during the file (bench/stack.py's MemorySampler).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench import data
from bench.excel import baseline
from bench.stack import PEAK_KB, MemorySampler, Stack, machine, median, print_rows

LOOPS = {
    "csv": PEAK_KB
    + """
import csv, sys, time
start = time.perf_counter()
with open(sys.argv[1], encoding="utf-8", newline="") as f:
    count = sum(1 for _ in csv.DictReader(f))
print(count, time.perf_counter() - start, peak_kb())
""",
    "ndjson": PEAK_KB
    + """
import orjson, sys, time
start = time.perf_counter()
with open(sys.argv[1], "rb") as f:
    count = sum(1 for line in f if line.strip() and orjson.loads(line) is not None)
print(count, time.perf_counter() - start, peak_kb())
""",
    "xml": PEAK_KB
    + """
import sys, time, xmltodict
start = time.perf_counter()
count = 0
def item(path, record):
    global count
    count += 1
    return True
with open(sys.argv[1], "rb") as f:
    xmltodict.parse(f, item_depth=2, item_callback=item)
print(count, time.perf_counter() - start, peak_kb())
""",
}
LOOP_NAMES = {
    "csv": "csv.DictReader",
    "ndjson": "orjson.loads line loop",
    "xml": "xmltodict streaming",
}
SETTINGS = {
    "csv": {},
    "ndjson": {},
    "xml": {"patterns": ["*.xml", "*.json"], "xml_record_path": "/catalog/product"},
}
SUFFIX = {"csv": ".csv", "ndjson": ".ndjson", "xml": ".xml"}


def end_to_end(path: Path, workdir: Path, settings: dict) -> tuple[float, float, float]:
    """(seconds from drop to acknowledged completion minus settle time, of which the validation
    pass, the largest peak MB of the daemon's processes)."""
    with Stack(workdir, chunk_records=1000, **settings) as stack:
        assert stack.daemon is not None
        stack.warm_up()
        with MemorySampler(stack.daemon.pid) as memory:
            dropped = stack.drop(path, path.name)
            stack.wait_done(2)
        staging = float(stack.events("validated and staged")[-1]["seconds"])
        return stack.last_completion() - dropped - stack.settle, staging, memory.largest_mb


def rows(records: int, repeat: int, work: Path) -> list[tuple[str, float, str]]:
    """The benchmark's rows for the three formats, each measured `repeat` times."""
    table = []
    for kind in ("csv", "ndjson", "xml"):
        path = work / f"catalog-{records}{SUFFIX[kind]}"
        if not path.exists():
            work.mkdir(parents=True, exist_ok=True)
            data.write_format(path, records)
        runs = [end_to_end(path, work / f"stack-{kind}", SETTINGS[kind]) for _ in range(repeat)]
        loops = [baseline(LOOPS[kind], path) for _ in range(repeat)]
        seconds, staging = median([r[0] for r in runs]), median([r[1] for r in runs])
        peak = median([r[2] for r in runs])
        loop_s = median([loop[0] for loop in loops if loop])
        loop_mb = median([loop[1] for loop in loops if loop])
        size = path.stat().st_size / 1e6
        table += [
            (
                f"{kind.upper()} end to end ({records} records, records/s)",
                records / seconds,
                f"{size:.0f} MB file; peak {peak:.0f} MB",
            ),
            (
                f"  vs {LOOP_NAMES[kind]} (reading only)",
                loop_s / seconds,
                f"the loop: {records / loop_s:,.0f} records/s, peak {loop_mb:.0f} MB",
            ),
            (
                "  validation pass alone vs the loop",
                loop_s / staging,
                f"{records / staging:,.0f} records/s: read, checked, staged, fsynced",
            ),
        ]
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ingestd-bench-formats"))
    args = parser.parse_args(argv)
    table = rows(args.records, args.repeat, args.workdir)
    print(f"machine: {machine()}\nmedians of {args.repeat} runs\n")
    print_rows(table)


if __name__ == "__main__":
    main()
