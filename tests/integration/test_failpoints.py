"""Kill -9 at every named step of a file's life, JSON and Excel alike, then restart: the receiver
holds every record exactly once, in order, and the file ends in done/ (or failed/) with its
receipt, never nowhere and never twice."""

from __future__ import annotations

import pytest

from ingestd.failpoints import STEPS
from tests import workbooks
from tests.integration.conftest import Spool, inbox_config, wait_until
from tests.integration.test_daemon import catalog

HEADER = ["sku", "name", "price", "qty", "active"]
ROWS = [[f"S{i:04d}", f"Prodüct {i}", round(i * 1.5, 2), i, i % 3 == 0] for i in range(45)]
JSON_RECORDS = catalog(45)
HAPPY_STEPS = [(step, n) for step in STEPS if step != "report_written" for n in (1,)]
HAPPY_STEPS += [("chunk_acknowledged", 3), ("ack_recorded", 2)]


def drop(spool: Spool, kind: str, tmp_path) -> tuple[str, list[dict]]:
    if kind == "json":
        spool.drop("catalog.json", JSON_RECORDS)
        return "catalog.json", JSON_RECORDS
    path = workbooks.large(tmp_path / "catalog.xlsx", HEADER, ROWS)
    spool.drop("catalog.xlsx", path.read_bytes())
    return "catalog.xlsx", [dict(zip(HEADER, row, strict=True)) for row in ROWS]


def crash_at(daemon, step: str, n: int) -> None:
    daemon.start(INGESTD_FAILPOINT=f"{step}:{n}")
    wait_until(lambda: daemon.process.proc.poll() is not None, what=f"the kill at {step}:{n}")
    assert daemon.process.proc.returncode == -9, daemon.process.output()[-2000:]
    daemon.process.kill()


@pytest.mark.parametrize("kind", ["json", "excel"])
@pytest.mark.parametrize(("step", "n"), HAPPY_STEPS, ids=[f"{s}:{n}" for s, n in HAPPY_STEPS])
def test_a_kill_at_each_step_loses_and_doubles_nothing(tmp_path, receiver, daemon, kind, step, n):
    spool = Spool(tmp_path / "spool")
    spool.inbox.mkdir(parents=True)
    daemon.configure([inbox_config(spool.root, receiver, chunk_records=10, settle_seconds=0.05)])
    name, expected = drop(spool, kind, tmp_path)
    crash_at(daemon, step, n)
    daemon.start()
    wait_until(lambda: spool.data_files("done"), what="the file in done/ after the restart")
    assert daemon.process.terminate() == 0

    (ingestion,) = receiver.ingestions()
    assert ingestion["completed"] and ingestion["file_name"] == name
    assert receiver.records(ingestion["ingestion_id"]) == expected
    assert ingestion["duplicates"] <= 1
    (done,) = spool.data_files("done")
    assert done.name == name and done.with_name(name + ".journal").exists()
    assert sorted(p.name for p in done.parent.iterdir()) == [name, name + ".journal"]
    assert spool.work_claims() == [] and list(spool.inbox.iterdir()) == []
    assert spool.data_files("failed") == []


@pytest.mark.parametrize("kind", ["json", "excel"])
@pytest.mark.parametrize(
    "step", ["claim_renamed", "report_written", "leftovers_removed", "finish_moved"]
)
def test_a_kill_while_failing_a_file_still_ends_in_failed_with_its_report(
    tmp_path, receiver, daemon, kind, step
):
    spool = Spool(tmp_path / "spool")
    spool.inbox.mkdir(parents=True)
    daemon.configure([inbox_config(spool.root, receiver, settle_seconds=0.05)])
    name = "broken.json" if kind == "json" else "broken.xlsx"
    spool.drop(name, b'[{"a": 1}, {"b": ' if kind == "json" else b"sku;name\nA;B\n")
    crash_at(daemon, step, 1)
    daemon.start()
    wait_until(lambda: spool.data_files("failed"), what="the file in failed/ after the restart")
    (failed,) = spool.data_files("failed")
    assert failed.name == name
    (report,) = spool.reports()
    assert report["reason"] == "invalid_input" and report["chunks_acknowledged"] == 0
    assert receiver.ingestions() == []
    assert spool.work_claims() == [] and list(spool.inbox.iterdir()) == []


def test_a_bug_that_keeps_failing_one_file_moves_it_to_failed_and_the_inbox_goes_on(
    tmp_path, receiver, daemon
):
    """An unexpected exception (a failpoint that raises, standing for a bug) on the same file
    max_internal_errors times in a row fails it with reason internal_error and the traceback;
    the file after it is ingested."""
    spool = Spool(tmp_path / "spool")
    spool.inbox.mkdir(parents=True)
    daemon.configure(
        [inbox_config(spool.root, receiver, settle_seconds=0.05, max_internal_errors=3)]
    )
    spool.drop("a-first.json", catalog(5))
    daemon.start(INGESTD_FAILPOINT="staged:..3:raise")
    spool.drop("b-second.json", catalog(7))
    wait_until(lambda: spool.data_files("failed") and spool.data_files("done"), what="both")
    (failed,) = spool.data_files("failed")
    assert failed.name == "a-first.json"
    (report,) = spool.reports()
    assert report["reason"] == "internal_error" and report["chunks_acknowledged"] == 0
    assert "3 unexpected errors in a row" in report["error"]
    assert report["where"]["exception"] == "FailpointError"
    assert (
        "Traceback" in report["where"]["traceback"]
        and "failpoint staged" in report["where"]["traceback"]
    )
    assert "bug in ingestd" in report["what_to_do"]
    (ingestion,) = receiver.completed()
    assert ingestion["file_name"] == "b-second.json" and ingestion["records"] == 7
    errors = [line for line in daemon.log_lines() if line["event"].startswith("unexpected error")]
    assert [e["internal_errors"] for e in errors] == [1, 2, 3]
    assert daemon.process.terminate() == 0


@pytest.mark.parametrize(("step", "n"), [("journal_created", 2), ("chunk_acknowledged", 3)])
def test_a_kill_after_the_parser_began_the_next_file_loses_and_doubles_nothing(
    tmp_path, receiver, daemon, step, n
):
    """Files after the first are staged ahead, and begun (journal, sealed index) by the parser
    process while the worker sends the one before. A kill as the worker takes up the second
    file, and one as that file's first chunk is acknowledged: after a restart, every file once."""
    spool = Spool(tmp_path / "spool")
    spool.inbox.mkdir(parents=True)
    daemon.configure([inbox_config(spool.root, receiver, chunk_records=10, settle_seconds=0.05)])
    files = {f"f{n}.json": catalog(15, tag=f"f{n}-") for n in range(4)}  # two chunks each
    for name, records in files.items():
        spool.drop(name, records)
    crash_at(daemon, step, n)
    (second,) = [c / "f1.json" for c in spool.work_claims() if (c / "f1.json").exists()]
    assert second.with_name("f1.json.journal").exists()
    assert second.with_name("f1.json.chunks").exists()  # sealed: the journal vouches for it
    staged = {e["file"]: e for e in daemon.log_lines() if e["event"] == "validated and staged"}
    assert not staged["f0.json"].get("begun_ahead")
    if step == "chunk_acknowledged":
        assert staged["f1.json"]["begun_ahead"] is True
    daemon.start()
    wait_until(lambda: len(spool.data_files("done")) == 4, what="four files in done/")
    assert daemon.process.terminate() == 0
    ingestions = receiver.completed()
    assert sorted(i["file_name"] for i in ingestions) == sorted(files)
    for ingestion in ingestions:
        assert receiver.records(ingestion["ingestion_id"]) == files[ingestion["file_name"]]
    assert spool.work_claims() == [] and spool.data_files("failed") == []
