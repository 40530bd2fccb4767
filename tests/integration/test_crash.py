"""kill -9 at many moments of an ingestion, and once the receiver too: nothing lost or doubled."""

from __future__ import annotations

import random
import time

import pytest

from tests import workbooks
from tests.integration.conftest import Spool, inbox_config, wait_until
from tests.integration.test_daemon import catalog

KILLS = 24


@pytest.fixture
def spool(tmp_path):
    return Spool(tmp_path / "spool" / "products")


def progress(receiver) -> tuple[int, int]:
    ingestions = receiver.ingestions()
    return sum(i["chunks"] for i in ingestions), sum(1 for i in ingestions if i["completed"])


def drop_batch(spool: Spool, rng: random.Random, batch: int) -> dict[str, list[dict]]:
    files = {f"b{batch}-big.json": catalog(1500, f"b{batch}")}
    files.update(
        {f"b{batch}-small-{n}.json": catalog(rng.randint(0, 30), f"b{batch}s{n}") for n in range(4)}
    )
    for name, records in files.items():
        spool.drop(name, records)
    return files


def test_sigkill_at_random_moments_loses_and_doubles_nothing(spool, receiver, daemon):
    """Every file arrives exactly once, whole and in order, however often the daemon dies."""
    rng = random.Random(20261126)
    spool.inbox.mkdir(parents=True)
    daemon.configure([inbox_config(spool.root, receiver, chunk_records=10, settle_seconds=0.05)])
    files: dict[str, list[dict]] = {}
    moments: set[tuple[int, int]] = set()
    for kill in range(KILLS):
        if len(spool.data_files("done")) == len(files):
            files.update(drop_batch(spool, rng, batch=kill))
        daemon.start()
        time.sleep(rng.uniform(0.1, 1.0))
        if kill == KILLS // 2:
            receiver.process.kill()
            time.sleep(rng.uniform(0.1, 0.4))
            receiver.start()
        daemon.process.kill()
        moments.add(progress(receiver))

    daemon.start()
    wait_until(
        lambda: len(spool.data_files("done")) == len(files), timeout=60, what="all files done"
    )
    assert spool.data_files("failed") == []
    assert spool.work_claims() == []
    completed = receiver.completed()
    assert sorted(i["file_name"] for i in completed) == sorted(files)
    assert len(receiver.ingestions()) == len(files), "a file was ingested under two ingestion ids"
    for ingestion in completed:
        assert receiver.records(ingestion["ingestion_id"]) == files[ingestion["file_name"]]
    resent = sum(i["duplicates"] for i in receiver.ingestions())
    assert resent <= KILLS + 1, (
        "acknowledged chunks were sent again beyond the one in flight per kill"
    )
    assert len(moments) >= KILLS * 2 // 3, f"kills hit too few distinct moments: {sorted(moments)}"


def test_a_100k_row_workbook_survives_sigkill_while_staging_and_sending(
    tmp_path, spool, receiver, daemon
):
    """The Excel path has the same guarantees: killed mid-validation and mid-send, it finishes
    with every row delivered exactly once, in order."""
    header = ["sku", "name", "price", "qty", "active"]
    rows = [
        [f"S{i:06d}", f"Prodüct {i}", round(i * 1.01, 2), i, i % 2 == 0] for i in range(100_000)
    ]
    workbook = workbooks.large(tmp_path / "catalog.xlsx", header, rows)
    daemon.configure([inbox_config(spool.root, receiver, chunk_records=500, settle_seconds=0.05)])
    spool.inbox.mkdir(parents=True)
    spool.drop("catalog.xlsx", workbook.read_bytes())

    daemon.start()
    wait_until(spool.work_claims, what="the workbook claimed")
    time.sleep(0.5)
    daemon.process.kill()  # in the validation pass: nothing may have been sent
    assert progress(receiver) == (0, 0)
    for chunks in (40, 120):
        daemon.start()
        wait_until(
            lambda chunks=chunks: progress(receiver)[0] >= chunks,
            timeout=120,
            what=f"{chunks} chunks at the receiver",
        )
        daemon.process.kill()
    daemon.start()
    wait_until(lambda: spool.data_files("done"), timeout=120, what="the workbook in done/")

    (ingestion,) = receiver.ingestions()
    assert ingestion["completed"] and ingestion["file_type"] == "excel"
    assert ingestion["duplicates"] <= 2
    expected = [dict(zip(header, row, strict=True)) for row in rows]
    assert receiver.records(ingestion["ingestion_id"]) == expected
