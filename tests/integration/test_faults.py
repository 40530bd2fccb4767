"""Faults between the daemon and the receiver, injected by a TCP proxy on loopback: every record
arrives exactly once, or, for a permanent refusal, the file is in failed/ with the answer."""

from __future__ import annotations

import shutil

import orjson
import pytest

from tests import faultproxy
from tests.integration.conftest import LegacyReceiver, Spool, inbox_config, wait_until
from tests.integration.test_daemon import catalog

RECORDS = catalog(50)
HTML = b"<html><body><h1>502 Bad Gateway</h1></body></html>"


@pytest.fixture
def proxy(receiver):
    proxy = faultproxy.FaultProxy(receiver.port)
    yield proxy
    proxy.close()


def run_through(tmp_path, receiver, daemon, proxy, faults) -> Spool:
    spool = Spool(tmp_path / "spool")
    config = inbox_config(
        spool.root,
        receiver,
        callback_url=proxy.url,
        chunk_records=10,
        request_timeout_seconds=1.0,
        retry_max_delay_seconds=1.5,
    )
    daemon.configure([config])
    proxy.faults = [None, *faults]  # the first chunk passes, the second meets the faults
    daemon.start()
    spool.drop("catalog.json", RECORDS)
    wait_until(
        lambda: spool.data_files("done") or spool.data_files("failed"),
        timeout=60,
        what="the file finished",
    )
    return spool


@pytest.mark.parametrize(
    "faults",
    [
        [faultproxy.latency(0.5)],
        [faultproxy.reset, faultproxy.reset],
        [faultproxy.reset_after_forwarding],
        ["hang"],
        [faultproxy.cut_response],
        [faultproxy.respond(200, HTML, "text/html")],
        [faultproxy.respond(429, b"slow down", **{"Retry-After": "1"})],
        [faultproxy.respond(503, b"maintenance", **{"Retry-After": "1"}), faultproxy.respond(503)],
    ],
    ids=[
        "latency",
        "reset-before-body",
        "reset-after-body",
        "no-answer",
        "cut-response",
        "html-200",
        "429-retry-after",
        "503-retry-after",
    ],
)
def test_transient_faults_end_with_every_record_delivered_exactly_once(
    tmp_path, receiver, daemon, proxy, faults
):
    faults = [proxy.hang if f == "hang" else f for f in faults]
    spool = run_through(tmp_path, receiver, daemon, proxy, faults)
    assert spool.data_files("failed") == []
    (ingestion,) = receiver.ingestions()
    assert ingestion["completed"]
    assert receiver.records(ingestion["ingestion_id"]) == RECORDS
    assert proxy.faults == []  # every scripted fault met a request


def test_a_proxys_413_halves_the_chunk_and_everything_arrives(tmp_path, receiver, daemon, proxy):
    too_large = faultproxy.respond(413, b"Request Entity Too Large: limit 64kB")
    spool = run_through(tmp_path, receiver, daemon, proxy, [too_large])
    assert spool.data_files("done") and not spool.reports()
    (ingestion,) = receiver.completed()
    assert receiver.records(ingestion["ingestion_id"]) == RECORDS
    sizes = [len(orjson.loads(r["body"])["records"]) for r in receiver.requests()[:2]]
    assert sizes == [10, 5]  # chunk 0 whole; chunk 1 arrived halved after the proxy's 413


def test_a_record_refused_alone_with_413_fails_the_file_naming_it(
    tmp_path, receiver, daemon, proxy
):
    too_large = faultproxy.respond(413, b"Request Entity Too Large: limit 64kB")
    spool = run_through(tmp_path, receiver, daemon, proxy, [too_large] * 4)
    (report,) = spool.reports()
    assert report["reason"] == "record_too_large" and report["where"]["record_index"] == 10
    assert "limit 64kB" in report["where"]["receiver_answer"]
    assert report["where"]["http_status"] == 413
    assert report["chunks_acknowledged"] == 1 and report["records_acknowledged"] == 10


@pytest.mark.parametrize("state", ["kept", "lost"])
def test_the_receiver_restarting_mid_ingestion(tmp_path, receiver, daemon, state):
    """With its state kept it carries on; with its state lost it answers Out-of-order chunk with
    expected_chunk 0 and the daemon sends everything again, so the new state is whole."""
    spool = Spool(tmp_path / "spool")
    daemon.configure(
        [inbox_config(spool.root, receiver, chunk_records=5, retry_max_delay_seconds=0.3)]
    )
    daemon.start()
    records = catalog(400)
    spool.drop("big.json", records)
    wait_until(lambda: sum(i["chunks"] for i in receiver.ingestions()) >= 20, what="20 chunks")
    receiver.process.kill()
    if state == "lost":
        shutil.rmtree(receiver.data)
    receiver.start()
    wait_until(lambda: spool.data_files("done"), timeout=60, what="the file in done/")
    (ingestion,) = receiver.ingestions()
    assert ingestion["completed"]
    assert receiver.records(ingestion["ingestion_id"]) == records
    rewinds = [line for line in daemon.log_lines() if "earlier chunk" in line.get("event", "")]
    assert bool(rewinds) == (state == "lost")


def test_a_legacy_receiver_restarted_mid_file_ends_with_every_record_once(
    tmp_path, processes, daemon
):
    """A receiver like the earlier service's (in-memory state, Out-of-order chunk without
    expected_chunk) restarted mid-file: the file reaches done/ and the final instance holds every
    record once, in order, under the one ingestion_id."""
    legacy = LegacyReceiver(tmp_path, processes).start()
    spool = Spool(tmp_path / "spool")
    daemon.configure([inbox_config(spool.root, legacy, chunk_records=5)])
    daemon.start()
    records = catalog(400)
    spool.drop("big.json", records)
    acked = '"event":"chunk acknowledged"'
    wait_until(lambda: daemon.process.output().count(acked) >= 20, what="20 chunks")
    legacy.process.kill()
    legacy.start()
    wait_until(lambda: spool.data_files("done"), timeout=60, what="the file in done/")
    lines = daemon.log_lines()
    (ingestion,) = {line["ingestion_id"] for line in lines if "ingestion_id" in line}
    assert legacy.records(ingestion) == records
    rewinds = [line for line in lines if "lost its state" in line["event"]]
    assert len(rewinds) == 1 and rewinds[0]["level"] == "warning"
    (journal,) = spool.done.glob("*/*/big.json.journal")
    assert journal.read_bytes().count(b'"type":"rewind"') == 1
