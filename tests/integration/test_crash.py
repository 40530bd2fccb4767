"""kill -9 at many moments of an ingestion, and once the receiver too: nothing lost or doubled."""

from __future__ import annotations

import orjson
import pytest

from bench import data
from bench.soak import soak
from ingestd.readers.inbox import readers_for
from ingestd.readers.json.batched import BatchedJsonReader
from tests import workbooks
from tests.differential import outcome
from tests.harness import INBOX, staged_records
from tests.integration.conftest import Spool, inbox_config, wait_until

KILLS = 24


@pytest.fixture
def spool(tmp_path):
    return Spool(tmp_path / "spool" / "products")


def progress(receiver) -> tuple[int, int]:
    ingestions = receiver.ingestions()
    return sum(i["chunks"] for i in ingestions), sum(1 for i in ingestions if i["completed"])


def kill_while_staging(source, spool, receiver, daemon, chunk_records, **settings) -> None:
    """Start the daemon on `source` and kill it once the validation pass has staged part of it,
    before anything was sent."""
    daemon.configure(
        [
            inbox_config(
                spool.root, receiver, chunk_records=chunk_records, settle_seconds=0.05, **settings
            )
        ]
    )
    spool.inbox.mkdir(parents=True)
    spool.drop(f"catalog{source.suffix}", source.read_bytes())
    daemon.start()
    wait_until(lambda: staged_bytes(spool) > 0, what="part of the file staged")
    daemon.process.kill()  # in the validation pass: nothing may have been sent
    assert progress(receiver) == (0, 0)
    assert [j for claim in spool.work_claims() for j in claim.glob("*.journal")] == []


def kill_while_sending_then_finish(spool, receiver, daemon, at_chunks) -> dict:
    """Start the daemon and kill it once the receiver has each number of chunks in turn, then
    let it finish; the one ingestion the receiver saw."""
    for chunks in at_chunks:
        daemon.start()
        wait_until(
            lambda chunks=chunks: progress(receiver)[0] >= chunks,
            timeout=120,
            what=f"{chunks} chunks at the receiver",
        )
        daemon.process.kill()
    daemon.start()
    wait_until(lambda: spool.data_files("done"), timeout=180, what="the file in done/")
    (ingestion,) = receiver.ingestions()
    return ingestion


def staged_bytes(spool) -> int:
    return sum(p.stat().st_size for c in spool.work_claims() for p in c.glob("*.staged"))


def test_sigkill_at_random_moments_loses_and_doubles_nothing(tmp_path):
    """The soak (bench/soak.py) in small: a mixed JSON and Excel workload, the daemon killed at
    two dozen random moments and the receiver twice; every record arrives exactly once."""
    result = soak(kills=KILLS, seed=20261126, workdir=tmp_path, receiver_every=12)
    assert result.files >= 10 and result.records_expected > 5000
    assert result.records_lost == 0
    assert result.records_doubled == 0
    assert result.files_ingested_twice == 0
    assert result.chunks_resent <= result.kills + result.receiver_kills


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
    kill_while_staging(workbook, spool, receiver, daemon, chunk_records=500)
    ingestion = kill_while_sending_then_finish(spool, receiver, daemon, at_chunks=(40, 120))
    assert ingestion["completed"] and ingestion["file_type"] == "excel"
    assert ingestion["duplicates"] <= 2
    expected = [dict(zip(header, row, strict=True)) for row in rows]
    assert receiver.records(ingestion["ingestion_id"]) == expected


def test_a_long_json_array_survives_sigkill_while_staging(tmp_path, spool, receiver, daemon):
    """Killed while the 20 MB array is validated, then run again: every record arrives exactly
    once, in order, as one reading makes it."""
    catalog = data.write_json_sized(tmp_path / "catalog.json", 20 << 20)
    expected = outcome(BatchedJsonReader(), catalog)
    assert isinstance(expected, list) and len(expected) > 30_000
    kill_while_staging(catalog, spool, receiver, daemon, chunk_records=1000)
    daemon.start()
    wait_until(lambda: spool.data_files("done"), timeout=120, what="the file in done/")
    (ingestion,) = receiver.ingestions()
    received = receiver.records(ingestion["ingestion_id"])
    assert [orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for r in received] == expected


FORMATS = {
    # suffix: (records, settings)
    ".csv": (100_000, {}),
    ".ndjson": (100_000, {}),
    ".xml": (40_000, {"patterns": ["*.xml"], "xml_record_path": "/catalog/product"}),
}


@pytest.mark.parametrize("suffix", sorted(FORMATS))
def test_a_csv_ndjson_or_xml_file_survives_sigkill_while_staging_and_sending(
    tmp_path, spool, receiver, daemon, suffix
):
    """Killed mid-validation and twice mid-send, then run to the end: every record arrives
    exactly once, in order, as the reader makes it."""
    count, settings = FORMATS[suffix]
    source = data.write_format(tmp_path / f"catalog{suffix}", count)
    expected = staged_records(
        tmp_path / "expected",
        source.name,
        source.read_bytes(),
        readers_for(INBOX.model_copy(update=settings))(source.name),
    )
    assert len(expected) == count
    kill_while_staging(source, spool, receiver, daemon, chunk_records=500, **settings)
    ingestion = kill_while_sending_then_finish(spool, receiver, daemon, at_chunks=(20, 60))
    assert ingestion["completed"] and ingestion["file_type"] == suffix[1:]
    assert receiver.records(ingestion["ingestion_id"]) == expected
