"""Scheduling decisions for one inbox, as pure functions of its state.

An inbox claims files in name order and ingests at most `workers` at once. Each worker has a
parser process of its own, which can stage the worker's next file while the current one is
sent. How an inbox ends depends on why (Mode).
"""

from __future__ import annotations

from enum import Enum

STAGE_AHEAD_MAX_CHUNKS = 4
"""With several workers, a worker takes its next file early only behind a file this small: the
file it takes waits for the current one to be sent, which another worker might start sooner."""


class Mode(Enum):
    RUNNING = "running"  # claiming and ingesting
    DRAINING = "draining"  # removed from the config: ingest every file claimed, claim no more
    HANDING_OVER = "handing over"  # changed: finish the files in flight; the rest wait in work/
    STOPPING = "stopping"  # the daemon stops: finish the request in flight, nothing more


def claim_limit(workers: int) -> int:
    """Files claimed at most at once: each worker's current file, the next one its parser
    stages while the current one is sent, and one more, so that the parser can start on the
    following file as soon as it is done (with one ahead in all, two files in three waited for
    their staging)."""
    return 2 * workers + 1


def stage_ahead(workers: int, idle: int, chunk_count: int) -> bool:
    """Would a worker whose current file has `chunk_count` chunks take its next file now, to
    have it staged while the current one is sent: always when it is the only worker; otherwise
    not while another worker waits idle (it would start the file sooner), nor behind a file
    that takes long to send."""
    if workers == 1:
        return True
    return idle == 0 and chunk_count <= STAGE_AHEAD_MAX_CHUNKS


def claims_more(mode: Mode) -> bool:
    """Whether the scout claims new files."""
    return mode is Mode.RUNNING


def takes_queued(mode: Mode) -> bool:
    """Whether a worker takes claims already queued (or staged ahead) after its current file."""
    return mode in (Mode.RUNNING, Mode.DRAINING)
