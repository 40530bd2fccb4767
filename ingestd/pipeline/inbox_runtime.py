"""What an ingestion needs from its inbox, in one place: built by the daemon, faked by tests."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ingestd.clock import Clock
from ingestd.core.chunking import ChunkLimits
from ingestd.fs.spool import Spool
from ingestd.pipeline.sender import Sender
from ingestd.pipeline.staging import Staged, stage_file
from ingestd.readers import Reader
from ingestd.runtime.progress import InboxProgress


class Stager(Protocol):
    """Runs the validation pass: in this process (tests), or isolated in a child (the daemon)."""

    def __call__(
        self,
        path: Path,
        reader: Reader,
        limits: ChunkLimits,
        staged: Path,
        index: Path,
        checkpoint: Callable[[], None],
    ) -> Staged: ...


@dataclass(frozen=True)
class RetryPolicy:
    initial_delay: float
    max_delay: float


@dataclass
class InboxRuntime:
    """What an ingestion needs from its inbox; built by the daemon, faked by tests."""

    name: str
    spool: Spool
    sender: Sender
    reader_for: Callable[[str], Reader]
    limits: ChunkLimits
    retry: RetryPolicy
    clock: Clock
    stop: threading.Event
    rand: Callable[[], float] = field(default=random.random)
    progress: InboxProgress = field(default_factory=InboxProgress)
    stager: Stager = stage_file
    secrets: tuple[str, ...] = ()  # never written into a report or a log line
    max_internal_errors: int = 5

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[secret]")
        return text


def iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
