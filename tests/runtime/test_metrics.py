"""The Prometheus endpoint: what an admin's alerts read."""

from __future__ import annotations

import threading

import httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families

from ingestd.clock import SystemClock
from ingestd.pipeline.staging import InProcess
from ingestd.receiver.app import ReceiverApp
from ingestd.runtime.daemon import Daemon
from ingestd.runtime.notify import Notifier
from ingestd.settings import from_mapping
from tests.fakes import RecordingNotifier
from tests.harness import into
from tests.integration.conftest import free_port, wait_until


def samples(port: int) -> dict[tuple[str, tuple], float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5, trust_env=False).text
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_counters_histogram_and_gauges(tmp_path):
    app = ReceiverApp(tmp_path / "receiver")
    outages = [503]
    lock = threading.Lock()

    def outage_first(request: httpx.Request) -> httpx.Response | None:
        with lock:
            return httpx.Response(outages.pop()) if outages else None

    port = free_port()
    settings = from_mapping(
        {
            "metrics_listen": f"127.0.0.1:{port}",
            "inbox": [
                {
                    "name": "p",
                    "root": str(tmp_path / "spool"),
                    "callback_url": "http://127.0.0.1:9/cb",
                    "settle_seconds": 0.05,
                    "chunk_records": 2,
                    "retry_initial_delay_seconds": 0.01,
                }
            ],
        }
    )
    daemon = Daemon(
        settings,
        SystemClock(),
        Notifier(RecordingNotifier()),
        into(app, outage_first),
        new_stager=lambda settings: InProcess(),
    )
    daemon.start()
    try:
        inbox = tmp_path / "spool" / "inbox"
        (inbox / "a.json").write_bytes(orjson.dumps([{"i": i} for i in range(5)]))
        (inbox / "b.json").write_bytes(b"[1]")
        wait_until(
            lambda: len(list((tmp_path / "spool").glob("*/*/*/*.json"))) >= 2, what="both files"
        )
        wait_until(
            lambda: samples(port).get(
                ("ingestd_files_total", (("inbox", "p"), ("outcome", "failed")))
            )
        )
        found = samples(port)
        p = (("inbox", "p"),)
        assert found[("ingestd_records_acknowledged_total", p)] == 5
        assert found[("ingestd_chunks_acknowledged_total", p)] == 3
        assert found[("ingestd_chunks_sent_total", p)] == 4  # one resent after the 503
        assert found[("ingestd_records_sent_total", p)] == 7
        assert found[("ingestd_retries_total", (("inbox", "p"), ("reason", "http_503")))] == 1
        assert found[("ingestd_files_total", (("inbox", "p"), ("outcome", "done")))] == 1
        assert found[("ingestd_chunk_round_trip_seconds_count", p)] == 3
        assert found[("ingestd_inbox_files", p)] == 0 and found[("ingestd_work_files", p)] == 0
        assert 0 <= found[("ingestd_seconds_since_last_ack", p)] < 60
        assert found[("ingestd_up", ())] == 1
    finally:
        daemon.shutdown()
        app.close()


def test_every_rewind_is_counted_by_kind(tmp_path):
    """A lost-state rewind and a requested one each raise ingestd_rewinds_total{kind}."""
    from ingestd.runtime.prometheus import PrometheusMetrics
    from tests.harness import Harness, passthrough, status

    metrics = PrometheusMetrics(lambda: iter(()))
    h = Harness(tmp_path, metrics=metrics)
    lost = status(200, b'{"ack": false, "error": "Out-of-order chunk"}')
    asked = status(200, b'{"ack": false, "error": "Out-of-order chunk", "expected_chunk": 1}')
    h.faults = [passthrough, passthrough, lost, passthrough, passthrough, passthrough, asked]
    try:
        assert h.run(h.drop("p.json", [{"i": i} for i in range(5)])) == "done"
    finally:
        h.close()
    value = metrics.registry.get_sample_value
    assert value("ingestd_rewinds_total", {"inbox": "products", "kind": "lost_state"}) == 1
    assert value("ingestd_rewinds_total", {"inbox": "products", "kind": "requested"}) == 1


def test_a_daemon_without_metrics_listen_does_not_load_prometheus_client():
    """Its import costs start-up time and memory: only a daemon that serves metrics pays it."""
    import subprocess
    import sys

    code = (
        "import sys, ingestd.cli, ingestd.runtime.daemon; print('prometheus_client' in sys.modules)"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "False"
