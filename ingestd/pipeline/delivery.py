"""Posting one payload until the receiver acknowledges it, asks for a rewind, or refuses it for
good: the retry loop, with backoff, Retry-After and the 'Checksum mismatch' budget."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ingestd.clock import Clock, iso
from ingestd.core import protocol
from ingestd.core.backpressure import Hints
from ingestd.core.retry import RetryPolicy, backoff_delay
from ingestd.errors import (
    Interrupted,
    ReceiverLostState,
    ReceiverRejected,
    ReceiverUnauthorized,
    ReceiverUnavailable,
)
from ingestd.fs.claim import ClaimFolder
from ingestd.pipeline.progress import Progress
from ingestd.pipeline.sender import Sender

MAX_CHECKSUM_RESENDS = 3

Outcome = protocol.Acknowledged | protocol.RewindTo | protocol.TooLarge


@dataclass(frozen=True)
class Payload:
    """One body to post: a chunk (`number` its chunk number, `records` how many it holds) or
    the completion (`number` the last chunk's)."""

    body: bytes
    ingestion_id: str
    number: int
    completion: bool = False
    records: int = 0

    @property
    def key(self) -> str:
        if self.completion:
            return f"{self.ingestion_id}:completion"
        return protocol.chunk_id(self.ingestion_id, self.number)


class Delivery:
    """Sends an inbox's payloads; between tries it waits, beats, and honours a stop."""

    def __init__(
        self,
        sender: Sender,
        retry: RetryPolicy,
        clock: Clock,
        stop: threading.Event,
        progress: Progress,
        rand: Callable[[], float],
    ) -> None:
        self._sender = sender
        self._retry = retry
        self._clock = clock
        self._stop = stop
        self._progress = progress
        self._rand = rand
        self.hints = Hints()  # the receiver's, for every file of the inbox

    def shrink(self, records: int) -> None:
        """After a 413: no chunk larger than this many records until the receiver says."""
        limit = min(records, self.hints.max_records or records)
        self.hints = replace(self.hints, max_records=limit)

    def send(self, payload: Payload, claim: ClaimFolder, log: Any) -> Outcome:
        """Post until the receiver acknowledges, asks for a rewind, or refuses for good."""
        waiting = _Waiting(claim, self._clock)
        attempt = mismatches = 0
        while True:
            if self._stop.is_set():
                raise Interrupted()
            self._progress.beat()
            if not payload.completion:
                self._progress.sent(payload.records)
            decision = self._post(payload)
            if isinstance(decision, protocol.Acknowledged):
                waiting.over()
                self._follow(decision.hints, log)
                return decision
            if isinstance(decision, (protocol.RewindTo, protocol.TooLarge)):
                waiting.over()
                return decision
            if isinstance(decision, protocol.Rejected):
                raise _rejected(decision, payload)
            if isinstance(decision, protocol.StateLost):
                raise _state_lost(decision, payload)
            if isinstance(decision, protocol.ResendChecksum):
                mismatches += 1
                if mismatches > MAX_CHECKSUM_RESENDS:
                    raise ReceiverRejected(
                        f"the receiver answered 'Checksum mismatch' {mismatches} times",
                        chunk_number=None if payload.completion else payload.number,
                    )
            self._wait(attempt, decision, payload, waiting, claim, log)
            attempt += 1

    def _follow(self, answered: Mapping[str, Any], log: Any) -> None:
        hints = self.hints.after(answered)
        if hints != self.hints:
            log.info(
                "the receiver changed its chunk size hints",
                max_records=hints.max_records,
                max_bytes=hints.max_bytes,
            )
            self.hints = hints

    def _post(self, payload: Payload) -> protocol.Decision:
        try:
            answer = self._sender.post(payload.body, payload.key)
        except ReceiverUnavailable as exc:
            return protocol.RetryLater(exc.reason, exc.label)
        return protocol.classify(
            answer.status,
            answer.headers,
            answer.body,
            sent_ingestion_id=payload.ingestion_id,
            sent_chunk_number=payload.number,
            now=self._clock.now(),
            completion=payload.completion,
        )

    def _wait(
        self,
        attempt: int,
        decision: protocol.RetryLater | protocol.ResendChecksum,
        payload: Payload,
        waiting: _Waiting,
        claim: ClaimFolder,
        log: Any,
    ) -> None:
        retry_after = decision.retry_after if isinstance(decision, protocol.RetryLater) else None
        delay = backoff_delay(
            attempt,
            base=self._retry.initial_delay,
            cap=self._retry.max_delay,
            rand=self._rand,
            retry_after=retry_after,
        )
        log.warning(
            "receiver not ready, will retry",
            reason=decision.reason,
            chunk_number=payload.number,
            attempt=attempt + 1,
            delay_seconds=round(delay, 3),
        )
        self._progress.waiting(claim.token, decision.reason, decision.label, delay)
        waiting.record(decision.reason, attempt + 1, delay)
        if self._clock.wait(delay, self._stop):
            raise Interrupted()


class _Waiting:
    """The claim's retry state while the receiver is not ready, for `ingestd status`."""

    def __init__(self, claim: ClaimFolder, clock: Clock) -> None:
        self._claim = claim
        self._clock = clock
        self._since: float | None = None

    def record(self, reason: str, attempt: int, delay: float) -> None:
        now = self._clock.now()
        if self._since is None:
            self._since = now
        self._claim.write_retry_state(
            {
                "reason": reason,
                "attempt": attempt,
                "since": iso(self._since),
                "next_try_at": iso(now + delay),
            }
        )

    def over(self) -> None:
        if self._since is not None:
            self._claim.clear_retry_state()
            self._since = None


def _rejected(decision: protocol.Rejected, payload: Payload) -> ReceiverRejected:
    what = "the completion" if payload.completion else f"chunk {payload.number}"
    kind = ReceiverUnauthorized if decision.status in (401, 403) else ReceiverRejected
    return kind(
        f"the receiver refused {what}: {decision.reason}",
        chunk_number=None if payload.completion else payload.number,
        http_status=decision.status,
        receiver_answer=decision.answer,
    )


def _state_lost(decision: protocol.StateLost, payload: Payload) -> ReceiverLostState:
    return ReceiverLostState(
        "the receiver refused the first chunk as out of order: it keeps losing its state, and "
        "there is nothing earlier to send again",
        chunk_number=None if payload.completion else payload.number,
        http_status=decision.status,
        receiver_answer=decision.answer,
    )
