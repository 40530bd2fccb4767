"""The benchmark: every figure beside what people would otherwise use, measured in one run,
as cost (CPU seconds of all processes, memory) as well as wall time.

    python -m bench.run [--json-mb 100] [--large-mb 100] [--rows 200000] [--small-files 2000]
                        [--format-records 200000] [--repeat 5] [--repeat-slow 5]
                        [--workdir /tmp/ingestd-bench]

Use --large-mb 1024 for the resume figure on a 1 GB file. Prints the machine and a table of
figures, ratios and targets; every figure is a median of runs made round by round (ingestd, then
what it is compared with, minutes apart at most). ingestd's CPU seconds are those of the daemon
and every process it started (parser children included, read from /proc); the reference
receiver's are given apart, so that no figure is read as ingestd's when it is the receiver's.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from bench import formats, idle, producers
from bench.data import write_json_sized
from bench.stack import (
    PEAK_KB,
    MemorySampler,
    Stack,
    family_cpu_seconds,
    family_peak_mb,
    machine,
    median,
    print_rows,
    ratio,
    script_cost,
    timestamp,
)

_USAGE = """
usage = resource.getrusage(resource.RUSAGE_SELF)
print(count, time.perf_counter() - start, peak_kb(), usage.ru_utime + usage.ru_stime)
"""
IJSON_FLOOR = (
    PEAK_KB
    + """
import resource, sys, time, ijson
start = time.perf_counter()
with open(sys.argv[1], "rb") as f:
    count = sum(1 for _ in ijson.items(f, "item", use_float=True))
"""
    + _USAGE
)

PARTS = (
    PEAK_KB
    + """
import gc, hashlib, resource, sys, time, orjson
start = time.perf_counter()
gc.disable()  # as staging does
count, whole = 0, hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    pending = b""
    while True:
        block = f.read(1 << 20)
        whole.update(block)
        pending += block
        if not count and b"[" in pending:
            pending, count = pending[pending.index(b"[") + 1 :], -1
        cut = pending.rfind(b"},\\n{") if block else len(pending.rstrip()) - 2
        if cut >= 0:
            records = orjson.loads(b"[" + pending[: cut + 1] + b"]")
            pending = pending[cut + 2 :]
            array = orjson.dumps(records, option=orjson.OPT_SORT_KEYS)
            hashlib.sha256(array).hexdigest()  # the records' checksum
            hashlib.sha256(array).digest()  # the body's Content-Digest
            count += len(records)
        if not block:
            break
count += 1
whole.hexdigest()
"""
    + _USAGE
)
"""What no pipeline can skip, and nothing more: each record parsed (orjson, the fastest parser
here) and written in canonical form, the file's digest, each chunk's checksum and Content-Digest.
No staging, no HTTP, no journal. Written for bench/data.py's file: one record per line."""

NAIVE = (
    PEAK_KB
    + """
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
count = len(records)
"""
    + _USAGE
)


@dataclass(frozen=True)
class Run:
    """One file through the daemon: drop to acknowledged completion (minus settle time)."""

    seconds: float
    staging: float  # the validation pass, from the daemon's log
    cpu: float  # the daemon and all its processes
    receiver_cpu: float
    largest_mb: float  # the largest VmHWM among the daemon's processes
    together_mb: float  # the most they held together, as PSS
    at_rest_mb: float


def json_end_to_end(path: Path, workdir: Path) -> Run:
    with Stack(workdir, chunk_records=1000) as stack:
        assert stack.receiver is not None and stack.daemon is not None
        stack.warm_up()
        at_rest = family_peak_mb(stack.daemon.pid)
        cpu, receiver_cpu = family_cpu_seconds(stack.daemon.pid), stack.receiver_cpu()
        with MemorySampler(stack.daemon.pid) as memory:  # a long array's second half included
            dropped = stack.drop(path, "catalog.json")
            stack.wait_done(2)
        seconds = stack.last_completion() - dropped - stack.settle
        return Run(
            seconds=seconds,
            staging=float(stack.events("validated and staged")[-1]["seconds"]),
            cpu=family_cpu_seconds(stack.daemon.pid) - cpu,
            receiver_cpu=stack.receiver_cpu() - receiver_cpu,
            largest_mb=memory.largest_mb,
            together_mb=memory.together_mb,
            at_rest_mb=at_rest,
        )


def naive(path: Path, workdir: Path) -> tuple[float, float, float, float]:
    """(seconds, peak MB, CPU seconds) of the naive script, and the receiver's CPU seconds."""
    with Stack(workdir, chunk_records=1000) as stack:
        before = stack.receiver_cpu()
        seconds, peak, cpu = script_cost(
            NAIVE, str(path), f"http://127.0.0.1:{stack.port}/callback"
        )
        return seconds, peak, cpu, stack.receiver_cpu() - before


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


def fsync_seconds(folder: Path, count: int = 200) -> float:
    """The median time of one durable step on this disk, as the daemon takes them: a small
    write and its fsync, then the folder's fsync (half of the pair each)."""
    folder.mkdir(parents=True, exist_ok=True)
    times = []
    directory = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for n in range(count):
            started = time.perf_counter()
            fd = os.open(folder / f"f{n}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.write(fd, b"x" * 200)
            os.fsync(fd)
            os.close(fd)
            os.fsync(directory)
            times.append((time.perf_counter() - started) / 2)
    finally:
        os.close(directory)
        shutil.rmtree(folder)
    return median(times)


def small_files(count: int, workdir: Path, workers: int = 1) -> tuple[float, float, float]:
    """(files per second, the median over LATENCY_SAMPLES one-record files dropped one at a time
    of the seconds from a file's last write to its first chunk, minus settle_seconds, and the
    disk's fsync time just before)."""
    scratch = workdir / "small"
    scratch.mkdir(parents=True, exist_ok=True)
    fsync = fsync_seconds(workdir / "fsync")
    with Stack(workdir / "stack", chunk_records=1000, workers=workers) as stack:
        stack.warm_up()
        latencies = []
        for n in range(LATENCY_SAMPLES):
            latency_file = scratch / f"latency{n}.json"
            latency_file.write_bytes(orjson.dumps([{"sku": f"L{n}", "n": 1}]))
            dropped = stack.drop(latency_file, latency_file.name)
            stack.wait_done(n + 2)
            acks = [
                timestamp(e)
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
        stack.wait_done(count + LATENCY_SAMPLES + 1, timeout=3600)
        return count / (stack.last_completion() - start), latency, fsync


def json_rows(path: Path, repeat: int, work: Path) -> list[tuple[str, float, str]]:
    with open(path, "rb") as lines:
        records = sum(1 for _ in lines) - 2  # one record per line between "[" and "]"
    rounds = [
        (
            json_end_to_end(path, work / "e2e"),
            script_cost(IJSON_FLOOR, str(path)),
            naive(path, work / "naive"),
            script_cost(PARTS, str(path)),
        )
        for _ in range(repeat)
    ]
    runs = [r[0] for r in rounds]
    seconds, cpu = median([r.seconds for r in runs]), median([r.cpu for r in runs])
    floor_cpu = median([r[1][2] for r in rounds])
    naive_s, naive_cpu = median([r[2][0] for r in rounds]), median([r[2][2] for r in rounds])
    size = path.stat().st_size / 1e6
    return [
        (f"JSON, {size:.0f} MB, {records} records: end to end (records/s)", records / seconds,
         f"{size / seconds:.1f} MB/s; chunks of 1000 records"),
        ("  CPU seconds, all of ingestd's processes", cpu,
         f"staging {median([r.staging for r in runs]):.2f} s of wall time"),
        ("  vs the ijson floor's CPU seconds (ratio)", median([ratio(r[0].cpu, r[1][2]) for r in rounds]),
         f"target <= 1.0x; the floor: {floor_cpu:.2f} s, parsing only"),
        ("  the unavoidable parts alone vs the floor (ratio)", median([ratio(r[3][2], r[1][2]) for r in rounds]),
         f"{median([r[3][2] for r in rounds]):.2f} s: orjson parse + canonical dumps + 3 digests"),
        ("  vs the naive script's CPU seconds (ratio)", median([ratio(r[0].cpu, r[2][2]) for r in rounds]),
         f"target <= 0.33x; naive {naive_cpu:.2f} s (json.load + one POST per 1000); the parts "
         f"alone {median([ratio(r[3][2], r[2][2]) for r in rounds]):.2f}"),
        ("  wall time vs the naive script (speed ratio)", median([r[2][0] / r[0].seconds for r in rounds]),
         f"target >= 3x; naive {naive_s:.2f} s, same receiver"),
        ("  largest process (MB RSS)", median([r.largest_mb for r in runs]),
         f"target <= 60; naive {median([r[2][1] for r in rounds]):.0f} MB"),
        ("  all processes together (MB PSS)", median([r.together_mb for r in runs]),
         f"target <= 100; the daemon at rest {median([r.at_rest_mb for r in runs]):.0f} MB"),
        ("  receiver CPU seconds, apart", median([r.receiver_cpu for r in runs]),
         f"{median([r.receiver_cpu / r.seconds for r in runs]):.2f} of a core; the naive "
         f"script's receiver {median([r[2][3] for r in rounds]):.2f} s"),
    ]  # fmt: skip


def small_file_rows(count: int, repeat: int, work: Path) -> list[tuple[str, float, str]]:
    runs = [small_files(count, work / "small") for _ in range(repeat)]
    return [
        (
            f"many small files ({count} x 10 records, files/s)",
            median([r[0] for r in runs]),
            "target >= 150; workers = 1, in name order",
        ),
        (
            "  latency beyond settle_seconds (ms)",
            median([r[1] for r in runs]) * 1000,
            "a lone one-record file: drop to first acknowledgement",
        ),
        (
            "  this disk's fsync, before each round (ms)",
            median([r[2] for r in runs]) * 1000,
            f"{min(r[2] for r in runs) * 1000:.2f} to {max(r[2] for r in runs) * 1000:.2f}; "
            "a file waits for 4 in the worker and 4 at the receiver",
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json-mb", type=int, default=100)
    parser.add_argument("--large-mb", type=int, default=100)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--small-files", type=int, default=2000)
    parser.add_argument("--format-records", type=int, default=200_000, help="CSV, NDJSON, XML")
    parser.add_argument("--repeat", type=int, default=5, help="runs per median")
    parser.add_argument(
        "--repeat-slow", type=int, default=5, help="runs per median of Excel, resume, formats"
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ingestd-bench"))
    args = parser.parse_args(argv)
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    data = {mb: work / f"catalog-{mb}mb.json" for mb in (10, args.json_mb, args.large_mb)}
    for mb, path in data.items():
        if not path.exists():
            write_json_sized(path, mb * 1_000_000)
    started = time.monotonic()
    rows = json_rows(data[args.json_mb], args.repeat, work)
    small_mb = median(
        [json_end_to_end(data[10], work / "mem10").largest_mb for _ in range(args.repeat)]
    )
    large_mb = median(
        [json_end_to_end(data[args.large_mb], work / "memlarge").largest_mb for _ in range(1)]
    )
    resume_s = median(
        [resume(data[args.large_mb], work / "resume") for _ in range(args.repeat_slow)]
    )
    rows += [
        ("peak memory, 10 MB JSON (MB, largest process)", small_mb, ""),
        (
            f"peak memory, {args.large_mb} MB JSON (MB, largest process)",
            large_mb,
            f"{large_mb / small_mb:.2f}x of 10 MB: memory does not grow with the file",
        ),
        (
            f"resume at 90% of {args.large_mb} MB: restart to next chunk (s)",
            resume_s,
            "the file was done before the kill" if math.isnan(resume_s) else "target <= 0.5 s",
        ),
    ]
    rows += idle.rows([idle.measure(work / "idle") for _ in range(args.repeat)])
    rows += small_file_rows(args.small_files, args.repeat, work)
    rows += producers.table(args.rows, args.repeat_slow, work / "xlsx")
    rows += formats.rows(args.format_records, args.repeat_slow, work / "formats")

    print(f"machine: {machine()}")
    print(
        f"medians of {args.repeat} runs ({args.repeat_slow} for Excel, resume and the formats); "
        f"the whole run took {(time.monotonic() - started) / 60:.0f} minutes\n"
    )
    print_rows(rows, 56)


if __name__ == "__main__":
    main()
