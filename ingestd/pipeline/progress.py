"""What a file's ingestion tells its inbox as it goes (runtime/progress.py keeps it in memory
for STATUS=, the watchdog and the metrics)."""

from __future__ import annotations

from typing import Protocol

from ingestd.core.journal import Begin
from ingestd.core.outcome import Outcome


class Progress(Protocol):
    def beat(self, grace: float | None = None) -> None:
        """The calling thread is alive and will beat again within `grace` seconds."""

    def claimed(self, token: str, name: str) -> None: ...
    def begun(self, token: str, begin: Begin, next_chunk: int, records_acked: int = 0) -> None: ...
    def sent(self, records: int) -> None: ...
    def acked(self, token: str, records: int, seconds: float, completion: bool = False) -> None: ...
    def rewound(self, token: str, to_chunk: int, records_acked: int, lost_state: bool) -> None: ...
    def read_twice(self, file_type: str) -> None:
        """The fast reader declined a file: the reference reader read it (slower)."""

    def waiting(self, token: str, reason: str, label: str, delay: float) -> None: ...
    def finished(self, token: str, outcome: Outcome) -> None: ...
    def released(self, token: str) -> None:
        """The file stays in work/ (a stop, or a retry later); it is no longer in flight."""
