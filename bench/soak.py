"""Random SIGKILL soak: a mixed workload (many small files, one large file, JSON and Excel),
the daemon killed at random moments and restarted after each kill, the receiver killed now and
then too; at the end every record is counted at the receiver.

    python -m bench.soak [--kills 300] [--seed 1] [--workdir /tmp/ingestd-soak]

Prints the figures that go into docs/reliability.md: kills survived, files, records expected,
records lost, records stored twice, ingestions per file.
"""

from __future__ import annotations

import argparse
import random
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.data import flat, products, write_sheet
from bench.stack import Stack


@dataclass
class SoakResult:
    kills: int
    receiver_kills: int
    files: int
    records_expected: int
    records_lost: int
    records_doubled: int
    files_ingested_twice: int
    chunks_resent: int
    seconds: float

    def table(self) -> str:
        rows = [(k.replace("_", " "), v) for k, v in self.__dict__.items()]
        return "\n".join(f"{k:<22}{v:>12}" for k, v in rows)


def batch(stack: Stack, scratch: Path, rng: random.Random, number: int) -> dict[str, list[Any]]:
    """One big JSON file, one workbook and a handful of small JSON files."""
    files: dict[str, list[Any]] = {}
    big = list(products(rng.randint(1500, 2500), seed=number))
    files[f"b{number:03d}-big.json"] = big
    rows = [flat(r) for r in products(rng.randint(200, 400), seed=1000 + number)]
    header = list(rows[0])
    workbook = write_sheet(
        scratch / f"b{number}.xlsx", header, ([r[k] for k in header] for r in rows)
    )
    files[f"b{number:03d}-sheet.xlsx"] = [
        {k: v for k, v in r.items() if v is not None} | {k: None for k, v in r.items() if v is None}
        for r in rows
    ]
    for small in range(rng.randint(3, 6)):
        files[f"b{number:03d}-small-{small}.json"] = list(
            products(rng.randint(0, 25), seed=number * 100 + small)
        )
    for name, records in files.items():
        if name.endswith(".xlsx"):
            stack.drop(workbook, name)
        else:
            (scratch / name).write_bytes(orjson.dumps(records))
            stack.drop(scratch / name, name)
    return files


def soak(
    kills: int,
    seed: int,
    workdir: Path,
    window: tuple[float, float] = (0.1, 1.0),
    receiver_every: int = 25,
    workers: int = 1,
) -> SoakResult:
    rng = random.Random(seed)
    started = time.monotonic()
    scratch = workdir / "scratch"
    files: dict[str, list[Any]] = {}
    receiver_kills = 0
    with Stack(
        workdir / "stack",
        chunk_records=50,
        settle_seconds=0.05,
        retry_max_delay_seconds=0.3,
        retry_initial_delay_seconds=0.02,
        workers=workers,
    ) as stack:
        scratch.mkdir(parents=True, exist_ok=True)
        for kill in range(kills):
            if stack.finished() == len(files):
                files |= batch(stack, scratch, rng, kill)
            time.sleep(rng.uniform(*window))
            if receiver_every and kill % receiver_every == receiver_every - 1:
                stack.kill_receiver()
                receiver_kills += 1
                stack.start_receiver()
            stack.kill_daemon()
            stack.start_daemon()
        stack.wait_done(len(files), timeout=600)
        result = count(stack, files)
    return SoakResult(
        kills,
        receiver_kills,
        len(files),
        sum(len(r) for r in files.values()),
        *result,
        round(time.monotonic() - started, 1),
    )


def count(stack: Stack, files: dict[str, list[Any]]) -> tuple[int, int, int, int]:
    ingestions = stack.ingestions()
    by_file: dict[str, list[dict[str, Any]]] = {}
    for ingestion in ingestions:
        by_file.setdefault(ingestion["file_name"], []).append(ingestion)
    lost = doubled = twice = 0
    for name, expected in files.items():
        held = [r for i in by_file.get(name, []) for r in stack.received(i["ingestion_id"])]
        twice += len(by_file.get(name, [])) > 1
        keys = [orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for r in held]
        want = [orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for r in expected]
        lost += sum(1 for k in set(want) if keys.count(k) < want.count(k))
        doubled += max(0, len(keys) - len(want))
    resent = sum(i["duplicates"] for i in ingestions)
    return lost, doubled, twice, resent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kills", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ingestd-soak"))
    parser.add_argument("--workers", type=int, default=1, help="the inbox's workers setting")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    print(soak(args.kills, args.seed, args.workdir, workers=args.workers).table())


if __name__ == "__main__":
    main()
