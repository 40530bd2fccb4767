"""How a claimed file's life ends."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    DONE = "done"  # every record acknowledged, the completion too: moved to done/
    FAILED = "failed"  # a report says why: moved to failed/
    VANISHED = "vanished"  # its claim folder left work/ behind ingestd's back
