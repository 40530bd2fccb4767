"""What the daemon counts (Metrics), and nothing counted when no metrics are served.

The Prometheus side lives in runtime/prometheus.py, imported only when `metrics_listen` is
set: prometheus-client costs start-up time and memory a daemon without it should not pay."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol


class Metrics(Protocol):
    def sent(self, inbox: str, records: int) -> None: ...
    def acknowledged(self, inbox: str, records: int, seconds: float, completion: bool) -> None: ...
    def retried(self, inbox: str, label: str) -> None:
        """A retry, by a label of bounded cardinality (Transient.label, RetryLater.label)."""

    def rewound(self, inbox: str, kind: str) -> None: ...
    def read_twice(self, inbox: str, file_type: str) -> None: ...
    def finished(self, inbox: str, outcome: str) -> None: ...


class NoMetrics:
    def sent(self, inbox: str, records: int) -> None:
        pass

    def acknowledged(self, inbox: str, records: int, seconds: float, completion: bool) -> None:
        pass

    def retried(self, inbox: str, label: str) -> None:
        pass

    def rewound(self, inbox: str, kind: str) -> None:
        pass

    def read_twice(self, inbox: str, file_type: str) -> None:
        pass

    def finished(self, inbox: str, outcome: str) -> None:
        pass


Gauges = Callable[[], Iterator[tuple[str, str, dict[str, str], float]]]
