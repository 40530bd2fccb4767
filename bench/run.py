"""The benchmark: every figure beside what people would otherwise use, measured in one run.

    python -m bench.run [--json-mb 50] [--large-mb 100] [--rows 200000] [--small-files 2000]
                        [--format-records 200000] [--repeat 3] [--workdir /tmp/ingestd-bench]

Use --large-mb 1024 for the 1 GB runs. Prints a table of figures and ratios and the machine.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from bench import excel, formats
from bench.data import write_json_sized
from bench.stack import MemorySampler, Stack, cpu_seconds, family_peak_mb, machine, median

IJSON_FLOOR = """
import resource, sys, time, ijson
start = time.perf_counter()
with open(sys.argv[1], "rb") as f:
    count = sum(1 for _ in ijson.items(f, "item", use_float=True))
print(count, time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

NAIVE = """
import base64, hashlib, json, resource, sys, time, httpx, orjson
start = time.perf_counter()
with open(sys.argv[1]) as f:
    records = json.load(f)
ingestion = hashlib.sha256(sys.argv[1].encode() + str(start).encode()).hexdigest()
with httpx.Client() as client:
    for number, offset in enumerate(range(0, len(records), 1000)):
        chunk = records[offset : offset + 1000]
        body = json.dumps({"type": "chunk", "ingestion_id": ingestion, "chunk_number": number,
                           "chunk_id": f"{ingestion}:{number}", "record_offset": offset,
                           "checksum": hashlib.sha256(orjson.dumps(chunk, option=orjson.OPT_SORT_KEYS)).hexdigest(),
                           "records": chunk, "is_last": offset + 1000 >= len(records),
                           "source": {"inbox": "naive", "file_name": "x.json", "file_type": "json"}}).encode()
        digest = "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"
        answer = client.post(sys.argv[2], content=body, headers={"Content-Type": "application/json", "Content-Digest": digest})
        assert answer.json().get("ack") is True, answer.text
print(len(records), time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def script(code: str, *args: str) -> tuple[float, float]:
    """(seconds, peak MB) of a script in a fresh interpreter."""
    result = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    )
    _, seconds, peak_kb = result.stdout.split()
    return float(seconds), int(peak_kb) / 1024


def json_end_to_end(path: Path, workdir: Path) -> dict[str, float]:
    with Stack(workdir, chunk_records=1000) as stack:
        assert stack.receiver is not None and stack.daemon is not None
        at_rest = family_peak_mb(stack.daemon.pid)
        receiver_cpu = cpu_seconds(stack.receiver.pid)
        with MemorySampler(stack.daemon.pid) as memory:  # a long array's second half included
            dropped = stack.drop(path, "catalog.json")
            stack.wait_done(1)
        seconds = stack.last_completion() - dropped - stack.settle
        staged = stack.events("validated and staged")[0]
        sending = stack.last_completion() - _ts(staged)
        return {
            "seconds": seconds,
            "staging": float(staged["seconds"]),
            "sending": sending,
            "receiver_busy": (cpu_seconds(stack.receiver.pid) - receiver_cpu) / sending,
            "family_mb": memory.largest_mb,  # its last sample is taken once the file is done
            "together_mb": memory.together_mb,
            "at_rest_mb": at_rest,
            "receiver_share": (cpu_seconds(stack.receiver.pid) - receiver_cpu)
            / (seconds + stack.settle),
        }


def naive(path: Path, workdir: Path) -> tuple[float, float]:
    with Stack(workdir, chunk_records=1000) as stack:
        return script(NAIVE, str(path), f"http://127.0.0.1:{stack.port}/callback")


def resume(path: Path, workdir: Path) -> float:
    """Kill -9 when 90% of the file is acknowledged; seconds from restart to the next chunk."""
    with Stack(workdir, chunk_records=1000) as stack:
        stack.drop(path, "large.json")
        total = None
        while total is None:
            begun = stack.events("validated and staged")
            total = begun[0]["chunks"] if begun else None
            time.sleep(0.05)
        stack._wait(lambda: stack.receiver_chunks() >= int(total * 0.9), "90% acknowledged", 3600)
        stack.kill_daemon()
        if stack.finished():
            return float("nan")  # a file this small was done before the kill: nothing to resume
        before = stack.receiver_chunks()
        restarted = time.monotonic()
        stack.start_daemon()
        stack._wait(lambda: stack.receiver_chunks() > before, "the next chunk", 600)
        return time.monotonic() - restarted


LATENCY_SAMPLES = 7


def small_files(count: int, workdir: Path, workers: int = 1) -> tuple[float, float]:
    """(files per second, the median over LATENCY_SAMPLES one-record files dropped one at a time
    of the seconds from a file's last write to its first chunk, minus settle_seconds)."""
    scratch = workdir / "small"
    scratch.mkdir(parents=True, exist_ok=True)
    with Stack(workdir / "stack", chunk_records=1000, workers=workers) as stack:
        latencies = []
        for n in range(LATENCY_SAMPLES):
            latency_file = scratch / f"latency{n}.json"
            latency_file.write_bytes(orjson.dumps([{"sku": f"L{n}", "n": 1}]))
            dropped = stack.drop(latency_file, latency_file.name)
            stack.wait_done(n + 1)
            acks = [
                _ts(e)
                for e in stack.events("chunk acknowledged")
                if e.get("file") == latency_file.name
            ]
            latencies.append(min(acks) - dropped - stack.settle)
        latency = median(latencies)
        files = []
        for n in range(count):
            path = scratch / f"s{n:05d}.json"
            path.write_bytes(orjson.dumps([{"sku": f"S{n}-{i}", "i": i} for i in range(10)]))
            files.append(path)
        start = time.time()
        for path in files:
            stack.drop(path, path.name)
        stack.wait_done(count + LATENCY_SAMPLES, timeout=3600)
        return count / (stack.last_completion() - start), latency


def _ts(event: dict[str, Any]) -> float:
    from datetime import datetime

    return datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json-mb", type=int, default=50)
    parser.add_argument("--large-mb", type=int, default=100)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--small-files", type=int, default=2000)
    parser.add_argument("--format-records", type=int, default=200_000, help="CSV, NDJSON, XML")
    parser.add_argument("--repeat", type=int, default=3, help="runs per median")
    parser.add_argument(
        "--repeat-slow",
        type=int,
        default=1,
        help="runs per median of the slow figures (large file, resume, small files, Excel); "
        "3 takes about 25 minutes",
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ingestd-bench"))
    args = parser.parse_args(argv)
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    data = {mb: work / f"catalog-{mb}mb.json" for mb in (10, args.json_mb, args.large_mb)}
    for mb, path in data.items():
        if not path.exists():
            write_json_sized(path, mb * 1_000_000)
    main_file = data[args.json_mb]
    size_mb = main_file.stat().st_size / 1e6
    with open(main_file, "rb") as lines:
        records = sum(1 for _ in lines) - 2  # one record per line between "[" and "]"

    # round by round, so that each ratio compares runs made within a minute of each other
    rounds = [
        (
            json_end_to_end(main_file, work / "e2e"),
            script(IJSON_FLOOR, str(main_file))[0],
            naive(main_file, work / "naive"),
        )
        for _ in range(args.repeat)
    ]
    runs = [r[0] for r in rounds]
    e2e = median([r["seconds"] for r in runs])
    floor = median([r[1] for r in rounds])
    naive_s, naive_mb = median([r[2][0] for r in rounds]), max(r[2][1] for r in rounds)
    vs_floor = median([r[1] / r[0]["seconds"] for r in rounds])
    vs_naive = median([r[2][0] / r[0]["seconds"] for r in rounds])
    daemon_mb = median([r["family_mb"] for r in runs])
    slow = range(args.repeat_slow)
    small_mb = median(
        [json_end_to_end(data[10], work / "mem10")["family_mb"] for _ in range(args.repeat)]
    )
    large_mb = median(
        [json_end_to_end(data[args.large_mb], work / "memlarge")["family_mb"] for _ in slow]
    )
    naive_large_mb = max(naive(data[args.large_mb], work / "naive")[1] for _ in slow)
    resume_s = median([resume(data[args.large_mb], work / "resume") for _ in slow])
    small = [small_files(args.small_files, work / "small") for _ in slow]
    files_per_s, latency = median([r[0] for r in small]), median([r[1] for r in small])
    files_per_s_4 = median(
        [small_files(args.small_files, work / "small4", workers=4)[0] for _ in slow]
    )
    workbook = excel_file(args.rows, work)
    excel_runs = [excel.end_to_end(workbook, work / "excel") for _ in slow]
    excel_s, excel_mb = median([r[0] for r in excel_runs]), median([r[1] for r in excel_runs])
    excel_together_mb = median([r[2] for r in excel_runs])
    openpyxl = _median_baseline(excel.OPENPYXL_LOOP, workbook, slow)
    calamine = _median_baseline(excel.CALAMINE, workbook, slow)
    format_rows = formats.rows(args.format_records, args.repeat_slow, work / "formats")

    print(f"machine: {machine()}")
    print(
        f"JSON: {records} records, {size_mb:.0f} MB; medians of {args.repeat} runs, "
        f"of {args.repeat_slow} for the large file, resume, small files and Excel\n"
    )
    rows = [
        ("JSON end to end (records/s)", records / e2e, ""),
        ("JSON end to end (MB/s)", size_mb / e2e, ""),
        ("  vs ijson streaming-parse floor", vs_floor, "target >= 0.8x; median of the rounds"),
        (
            "  vs naive json.load + POST per 1000",
            vs_naive,
            f"target >= 2x; median of the rounds; naive {naive_s:.2f} s",
        ),
        (
            "  peak memory vs naive (MB)",
            daemon_mb,
            f"naive {naive_mb:.0f} MB; target <= 1/10; all processes together "
            f"{median([r['together_mb'] for r in runs]):.0f} MB (PSS)",
        ),
        (
            "  the daemon at rest, before the file (MB)",
            median([r["at_rest_mb"] for r in runs]),
            "interpreter and libraries: the floor of the figure above",
        ),
        (
            "  of which staging (s)",
            median([r["staging"] for r in runs]),
            f"ijson floor alone {floor:.2f} s",
        ),
        ("  of which sending 1000-record chunks (s)", median([r["sending"] for r in runs]), ""),
        (
            "receiver CPU share during e2e",
            median([r["receiver_share"] for r in runs]),
            "of one core",
        ),
        (
            "receiver CPU share while chunks are sent",
            median([r["receiver_busy"] for r in runs]),
            "of one core: the bottleneck of the sending phase",
        ),
        ("peak memory, 10 MB JSON (MB)", small_mb, ""),
        (
            f"peak memory, {args.large_mb} MB JSON (MB)",
            large_mb,
            f"{large_mb / small_mb:.2f}x of 10 MB; target <= 1.5x, < 100 MB",
        ),
        (
            f"  naive script on the {args.large_mb} MB JSON (MB)",
            naive_large_mb,
            f"the daemon's peak is 1/{naive_large_mb / large_mb:.1f} of it",
        ),
        (
            "resume at 90%: restart to next chunk (s)",
            resume_s,
            "the file was done before the kill" if math.isnan(resume_s) else "target < 1 s",
        ),
        (
            f"many small files ({args.small_files} x 10 records, files/s)",
            files_per_s,
            "target >= 100; workers = 1, in name order",
        ),
        ("  the same with workers = 4 (files/s)", files_per_s_4, "order not kept"),
        ("latency beyond settle_seconds (ms)", latency * 1000, "target < 300 ms"),
        (
            f"Excel end to end ({args.rows} rows, rows/s)",
            args.rows / excel_s,
            f"peak {excel_mb:.0f} MB; all processes together {excel_together_mb:.0f} MB (PSS)",
        ),
        (
            "  vs openpyxl read-only loop",
            openpyxl[0] / excel_s if openpyxl else float("nan"),
            "target >= 5x",
        ),
        (
            "  vs python-calamine",
            calamine[0] / excel_s if calamine else float("nan"),
            f"calamine peak {calamine[1]:.0f} MB" if calamine else "not installed",
        ),
        *format_rows,
    ]
    for name, value, note in rows:
        print(f"{name:<52}{value:>12.2f}  {note}")


def _median_baseline(code: str, workbook: Path, runs: range) -> tuple[float, float] | None:
    return excel.median_figure([excel.baseline(code, workbook) for _ in runs])


def excel_file(rows: int, work: Path) -> Path:
    path = work / f"catalog-{rows}.xlsx"
    if not path.exists():
        excel.write_xlsx(path, rows)
    return path


if __name__ == "__main__":
    main()
