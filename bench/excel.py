"""Excel: the daemon end to end beside a plain openpyxl read-only loop and python-calamine.

python -m bench.excel [--rows 200000] [--repeat 1] [--workdir /tmp/ingestd-bench-excel]

With --repeat N, N rounds of the three readers one after the other: the figures are medians, and
the ratio to openpyxl is also given round by round, each from runs made minutes apart at most.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import orjson

from bench.data import write_xlsx
from bench.stack import PEAK_KB, MemorySampler, Stack, machine, median

OPENPYXL_LOOP = (
    PEAK_KB
    + """
import sys, time, openpyxl
start = time.perf_counter()
workbook = openpyxl.load_workbook(sys.argv[1], read_only=True, data_only=True)
rows = sum(1 for _ in workbook.worksheets[0].iter_rows(values_only=True))
print(rows, time.perf_counter() - start, peak_kb())
"""
)
CALAMINE = (
    PEAK_KB
    + """
import sys, time, python_calamine
start = time.perf_counter()
workbook = python_calamine.CalamineWorkbook.from_path(sys.argv[1])
rows = sum(1 for _ in workbook.get_sheet_by_index(0).to_python())
print(rows, time.perf_counter() - start, peak_kb())
"""
)


def baseline(script: str, path: Path) -> tuple[float, float] | None:
    """(seconds, peak MB) of a reading loop in a fresh interpreter; None if it cannot run here."""
    result = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        return None
    _, seconds, peak_kb = result.stdout.split()
    return float(seconds), int(peak_kb) / 1024


def end_to_end(path: Path, workdir: Path) -> tuple[float, float, float]:
    """(seconds from drop to acknowledged completion minus settle time, the largest VmHWM MB
    of the daemon's processes (the parser child, and the second process of a long sheet), the
    most they held together)."""
    with Stack(workdir, chunk_records=1000) as stack:
        assert stack.daemon is not None
        with MemorySampler(stack.daemon.pid) as memory:
            dropped = stack.drop(path, "catalog.xlsx")
            stack.wait_done(1)
        seconds = stack.last_completion() - dropped - stack.settle
        return seconds, memory.largest_mb, memory.together_mb


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ingestd-bench-excel"))
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    workbook = args.workdir / f"catalog-{args.rows}.xlsx"
    if not workbook.exists():
        write_xlsx(workbook, args.rows)

    # round by round, so that each ratio compares runs made within a minute of each other
    rounds = [
        (
            end_to_end(workbook, args.workdir / "stack"),
            baseline(OPENPYXL_LOOP, workbook),
            baseline(CALAMINE, workbook),
        )
        for _ in range(args.repeat)
    ]
    ingestd = (median([r[0][0] for r in rounds]), max(r[0][1] for r in rounds))
    together = max(r[0][2] for r in rounds)
    plain = median_figure([r[1] for r in rounds])
    calamine = median_figure([r[2] for r in rounds])
    paired = [r[1][0] / r[0][0] for r in rounds if r[1] is not None]

    rows = args.rows
    print(f"machine: {machine()}")
    print(
        f"workbook: {rows} rows x 20 columns, {workbook.stat().st_size / 1e6:.1f} MB, "
        f"{args.repeat} run(s), median"
    )
    print(f"{'reader':<34}{'seconds':>9}{'rows/s':>10}{'peak MB':>9}{'vs openpyxl':>13}")
    table = [
        ("ingestd end to end (daemon)", ingestd),
        ("openpyxl read-only loop", plain),
        ("python-calamine (whole sheet)", calamine),
    ]
    figures = {}
    for name, figure in table:
        if figure is None:
            print(f"{name:<34}{'not available':>28}")
            continue
        seconds, peak = figure
        ratio = plain[0] / seconds if plain else float("nan")
        figures[name] = {"seconds": seconds, "rows_per_second": rows / seconds, "peak_mb": peak}
        print(f"{name:<34}{seconds:>9.2f}{rows / seconds:>10.0f}{peak:>9.0f}{ratio:>12.2f}x")
    print(f"ingestd's processes together at most: {together:.0f} MB (proportional set size)")
    if paired:
        each = ", ".join(f"{ratio:.2f}x" for ratio in paired)
        print(f"ingestd vs openpyxl round by round: {each}; median {median(paired):.2f}x")
    (args.workdir / "results.json").write_bytes(
        orjson.dumps(
            {
                "rows": rows,
                "figures": figures,
                "together_mb": together,
                "paired": paired,
                "at": time.time(),
            }
        )
    )


def median_figure(
    figures: list[tuple[float, float] | None],
) -> tuple[float, float] | None:
    """The median seconds and the largest peak of a baseline's runs; None if it cannot run."""
    ran = [f for f in figures if f is not None]
    if not ran:
        return None
    return median([f[0] for f in ran]), max(f[1] for f in ran)


if __name__ == "__main__":
    main()
