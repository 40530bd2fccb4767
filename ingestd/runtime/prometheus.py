"""Prometheus metrics (prometheus-client), served only when `metrics_listen` is set."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ingestd.runtime.metrics import Gauges

RTT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class PrometheusMetrics:
    def __init__(self, gauges: Gauges, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        labels = ["inbox"]
        self._records_sent = Counter(
            "ingestd_records_sent", "Records sent", labels, registry=self.registry
        )
        self._chunks_sent = Counter(
            "ingestd_chunks_sent", "Chunks sent (resends included)", labels, registry=self.registry
        )
        self._records_acked = Counter(
            "ingestd_records_acknowledged", "Records acknowledged", labels, registry=self.registry
        )
        self._chunks_acked = Counter(
            "ingestd_chunks_acknowledged", "Chunks acknowledged", labels, registry=self.registry
        )
        self._retries = Counter(
            "ingestd_retries", "Retries by reason", ["inbox", "reason"], registry=self.registry
        )
        self._rewinds = Counter(
            "ingestd_rewinds",
            "Ingestions sent again from an earlier chunk, by kind (requested, lost_state)",
            ["inbox", "kind"],
            registry=self.registry,
        )
        self._reference_reads = Counter(
            "ingestd_reference_reads",
            "Files the fast reader declined, read again by the reference reader (slower)",
            ["inbox", "format"],
            registry=self.registry,
        )
        self._files = Counter(
            "ingestd_files",
            "Files finished, by outcome",
            ["inbox", "outcome"],
            registry=self.registry,
        )
        self._rtt = Histogram(
            "ingestd_chunk_round_trip_seconds",
            "Time from sending a chunk to its acknowledgement",
            labels,
            buckets=RTT_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_GaugeCollector(gauges))

    def sent(self, inbox: str, records: int) -> None:
        self._chunks_sent.labels(inbox).inc()
        self._records_sent.labels(inbox).inc(records)

    def acknowledged(self, inbox: str, records: int, seconds: float, completion: bool) -> None:
        if completion:
            return
        self._chunks_acked.labels(inbox).inc()
        self._records_acked.labels(inbox).inc(records)
        self._rtt.labels(inbox).observe(seconds)

    def retried(self, inbox: str, label: str) -> None:
        self._retries.labels(inbox, label).inc()

    def rewound(self, inbox: str, kind: str) -> None:
        self._rewinds.labels(inbox, kind).inc()

    def read_twice(self, inbox: str, file_type: str) -> None:
        self._reference_reads.labels(inbox, file_type).inc()

    def finished(self, inbox: str, outcome: str) -> None:
        self._files.labels(inbox, outcome).inc()

    def serve(self, listen: str) -> None:
        host, _, port = listen.rpartition(":")
        address = host.strip("[]") or "127.0.0.1"
        self._server, _ = start_http_server(int(port), addr=address, registry=self.registry)

    def close(self) -> None:
        server = getattr(self, "_server", None)
        if server is not None:
            server.shutdown()
            server.server_close()


class _GaugeCollector(Collector):
    """Gauges read at scrape time: files waiting, seconds since the last ACK, health."""

    def __init__(self, gauges: Gauges) -> None:
        self._gauges = gauges

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families: dict[str, GaugeMetricFamily] = {}
        for name, documentation, labels, value in self._gauges():
            family = families.get(name)
            if family is None:
                family = families[name] = GaugeMetricFamily(
                    name, documentation, labels=list(labels)
                )
            family.add_metric(list(labels.values()), value)
        yield from families.values()
