"""Excel: ingestd against the plain openpyxl read-only loop on the same catalog written by five
programs, each as it writes workbooks by default:

- openpyxl `write_only`: inline strings, no `<dimension>`, `<sheetPr>`/`<sheetViews>` first;
- openpyxl normal mode: inline strings, with `<dimension>`;
- XlsxWriter: a shared-string table, `<dimension>`;
- LibreOffice Calc (`soffice --headless --convert-to xlsx`, Debian's libreoffice-calc-nogui):
  a shared-string table, styles, a real office suite's writer;
- the benchmark's own writer (bench/data.py): inline strings, no styles.

    python -m bench.producers [--rows 200000] [--repeat 5] [--workdir /tmp/ingestd-bench-xlsx]

Each figure is the median of --repeat rounds; within a round ingestd and the loop read the same
workbook one after the other. CPU seconds are those of all of ingestd's processes (the parser
children included) and of the loop's interpreter; the receiver's are given apart.
"""

from __future__ import annotations

import argparse
import csv
import random
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.data import flat, product, products, write_xlsx
from bench.stack import (
    PEAK_KB,
    MemorySampler,
    Stack,
    family_cpu_seconds,
    machine,
    median,
    print_rows,
    ratio,
    script_cost,
)

OPENPYXL_LOOP = (
    PEAK_KB
    + """
import sys, time, openpyxl
start, cpu = time.perf_counter(), time.process_time()
workbook = openpyxl.load_workbook(sys.argv[1], read_only=True, data_only=True)
rows = sum(1 for _ in workbook.worksheets[0].iter_rows(values_only=True))
print(rows, time.perf_counter() - start, peak_kb(), time.process_time() - cpu)
"""
)
# The loop's wall time and CPU seconds are both counted from after its imports, as ingestd's are
# from after its parser's first workbook (one_round): each side's steady state.


def _catalog(rows: int) -> tuple[list[str], Iterator[list[Any]]]:
    header = list(flat(product(0, random.Random(1))))

    def lines() -> Iterator[list[Any]]:
        for record in products(rows, 1):
            values = flat(record)
            yield [values[k] for k in header]

    return header, lines()


def openpyxl_write_only(path: Path, rows: int) -> None:
    _openpyxl(path, rows, write_only=True)


def openpyxl_normal(path: Path, rows: int) -> None:
    _openpyxl(path, rows, write_only=False)


def _openpyxl(path: Path, rows: int, write_only: bool) -> None:
    import openpyxl

    workbook = openpyxl.Workbook(write_only=write_only)
    if write_only:
        sheet = workbook.create_sheet("Products")
    else:
        sheet = workbook.active
        sheet.title = "Products"
    header, lines = _catalog(rows)
    sheet.append(header)
    for line in lines:
        sheet.append(line)
    workbook.save(path)


def xlsxwriter(path: Path, rows: int) -> None:
    import xlsxwriter as writer

    workbook = writer.Workbook(str(path))
    sheet = workbook.add_worksheet("Products")
    header, lines = _catalog(rows)
    sheet.write_row(0, 0, header)
    for number, line in enumerate(lines, start=1):
        sheet.write_row(number, 0, line)
    workbook.close()


def libreoffice(path: Path, rows: int) -> None:
    header, lines = _catalog(rows)
    calc_from_csv(path, header, lines)


def calc_from_csv(path: Path, header: list[str], lines: Iterable[list[Any]]) -> None:
    """The rows saved by LibreOffice Calc as .xlsx, from a CSV it reads as a user's would be
    (UTF-8, comma, US English dates), in a throwaway profile."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        raise Unavailable("LibreOffice is not installed (apt-get install libreoffice-calc-nogui)")
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "Products.csv"
        with open(source, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(header)
            writer.writerows(lines)
        subprocess.run(
            [soffice, f"-env:UserInstallation=file://{scratch}/profile", "--headless",
             "--convert-to", "xlsx:Calc MS Excel 2007 XML", "--infilter=CSV:44,34,76,1,,1033",
             "--outdir", scratch, str(source)],
            check=True, capture_output=True, timeout=1800,
        )  # fmt: skip
        shutil.move(Path(scratch) / "Products.xlsx", path)


def own_writer(path: Path, rows: int) -> None:
    write_xlsx(path, rows)


class Unavailable(Exception):
    """A producer that cannot run on this machine."""


PRODUCERS: dict[str, Callable[[Path, int], None]] = {
    "openpyxl write_only": openpyxl_write_only,
    "openpyxl normal": openpyxl_normal,
    "XlsxWriter": xlsxwriter,
    "LibreOffice Calc": libreoffice,
    "bench's own writer": own_writer,
}


def workbook(name: str, rows: int, workdir: Path) -> Path | None:
    """The producer's workbook, written once and kept in `workdir`; None if it cannot run."""
    path = workdir / f"{name.replace(' ', '-').replace(chr(39), '')}-{rows}.xlsx"
    if not path.exists():
        try:
            PRODUCERS[name](path.with_suffix(".tmp.xlsx"), rows)
        except Unavailable:
            return None
        path.with_suffix(".tmp.xlsx").rename(path)
    return path


@dataclass(frozen=True)
class Round:
    seconds: float  # drop to acknowledged completion, minus settle time
    cpu: float  # all of ingestd's processes
    receiver_cpu: float
    together_mb: float  # the most all of ingestd's processes held at once (PSS)
    loop_seconds: float
    loop_cpu: float
    read_twice: bool  # the fast reader declined the workbook
    first_workbook_cpu: float  # what the parser's first workbook cost more than its second


def one_round(path: Path, workdir: Path) -> Round:
    """The steady state: a tiny JSON file starts the parsers' forkserver, then two tiny
    workbooks go through, the first of which pays for the parser's import of openpyxl (its
    styles' date formats); what it cost more than the second is kept apart."""
    with Stack(workdir, chunk_records=1000) as stack:
        assert stack.daemon is not None and stack.receiver is not None
        stack.warm_up()
        tiny = _tiny_workbook(workdir)
        first, second = (_cpu_of(stack, tiny, f"warm-up-{n}.xlsx") for n in (1, 2))
        before, receiver_before = family_cpu_seconds(stack.daemon.pid), stack.receiver_cpu()
        with MemorySampler(stack.daemon.pid) as memory:
            dropped = stack.drop(path, "catalog.xlsx")
            stack.wait_done(4)
        cpu = family_cpu_seconds(stack.daemon.pid) - before
        receiver_cpu = stack.receiver_cpu() - receiver_before
        seconds = stack.last_completion() - dropped - stack.settle
        read_twice = any("read_twice" in e for e in stack.events("validated and staged"))
    loop = script_cost(OPENPYXL_LOOP, str(path))
    return Round(
        seconds, cpu, receiver_cpu, memory.together_mb, loop[0], loop[2], read_twice, first - second
    )


def _tiny_workbook(workdir: Path) -> Path:
    """Three rows by openpyxl, with its styles part: the parser reads date styles from it."""
    path = workdir.parent / "tiny-openpyxl.xlsx"
    if not path.exists():
        _openpyxl(path, 3, write_only=False)
    return path


def _cpu_of(stack: Stack, path: Path, name: str) -> float:
    assert stack.daemon is not None
    before = family_cpu_seconds(stack.daemon.pid)
    stack.drop(path, name)
    stack.wait_done(stack.finished() + 1)
    return family_cpu_seconds(stack.daemon.pid) - before


def rows_for(name: str, rounds: list[Round], count: int) -> list[tuple[str, float, str]]:
    seconds = median([r.seconds for r in rounds])
    speed = median([r.loop_seconds / r.seconds for r in rounds])
    cost = median([ratio(r.loop_cpu, r.cpu) for r in rounds])
    together = max(r.together_mb for r in rounds)
    receiver = median([r.receiver_cpu for r in rounds])
    declined = " (the fast reader declined it)" if any(r.read_twice for r in rounds) else ""
    return [
        (f"Excel, {name} (rows/s)", count / seconds, f"{together:.0f} MB all processes (PSS){declined}"),
        ("  vs openpyxl loop, wall time", speed, "target >= 5x"),
        (
            "  vs openpyxl loop, CPU seconds",
            cost,
            f"ingestd {median([r.cpu for r in rounds]):.2f} s, loop "
            f"{median([r.loop_cpu for r in rounds]):.2f} s; receiver {receiver:.2f} s apart",
        ),
    ]  # fmt: skip


def table(rows: int, repeat: int, workdir: Path) -> list[tuple[str, float, str]]:
    workdir.mkdir(parents=True, exist_ok=True)
    found: list[tuple[str, float, str]] = []
    first: list[float] = []
    for name in PRODUCERS:
        path = workbook(name, rows, workdir)
        if path is None:
            found.append((f"Excel, {name}", float("nan"), "not installed here"))
            continue
        rounds = [one_round(path, workdir / "stack") for _ in range(repeat)]
        found += rows_for(name, rounds, rows)
        first += [r.first_workbook_cpu for r in rounds]
    if first:
        found.append(
            (
                "Excel, a parser's first workbook: CPU s more",
                median(first),
                "openpyxl's import, once per parser process; not in the figures above",
            )
        )
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ingestd-bench-xlsx"))
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    print(f"{args.rows} rows x 20 columns; medians of {args.repeat} rounds")
    print_rows(table(args.rows, args.repeat, args.workdir))


if __name__ == "__main__":
    main()
