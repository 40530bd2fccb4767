"""Posting one payload until the receiver acknowledges it, asks for a rewind, or refuses it for
good: the retry loop, with backoff, Retry-After and the 'Checksum mismatch' budget."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import orjson

from ingestd.core import protocol
from ingestd.core.retry import backoff_delay
from ingestd.errors import Interrupted, ReceiverLostState, ReceiverRejected, ReceiverUnavailable
from ingestd.fs import durable
from ingestd.fs.spool import RETRY_STATE, Claim
from ingestd.pipeline.inbox_runtime import InboxRuntime, iso

MAX_CHECKSUM_RESENDS = 3

Outcome = protocol.Acknowledged | protocol.RewindTo


class Delivery:
    """Sends the payloads of one ingestion; `checkpoint` beats and honours a stop request."""

    def __init__(
        self,
        inbox: InboxRuntime,
        claim: Claim,
        ingestion_id: str,
        log: Any,
        checkpoint: Callable[[], None],
    ) -> None:
        self._inbox = inbox
        self._claim = claim
        self._ingestion = ingestion_id
        self._log = log
        self._checkpoint = checkpoint
        self._retry_since: float | None = None

    def send(self, body: bytes, number: int, completion: bool = False, records: int = 0) -> Outcome:
        """Post until the receiver acknowledges, asks for a rewind, or refuses for good."""
        key = (
            f"{self._ingestion}:completion"
            if completion
            else protocol.chunk_id(self._ingestion, number)
        )
        attempt = mismatches = 0
        while True:
            self._checkpoint()
            if not completion:
                self._inbox.progress.sent(records)
            decision = self._post(body, key, number, completion)
            if isinstance(decision, (protocol.Acknowledged, protocol.RewindTo)):
                self._clear_retry_state()
                return decision
            if isinstance(decision, protocol.Rejected):
                raise _rejected(decision, number, completion)
            if isinstance(decision, protocol.StateLost):
                raise ReceiverLostState(
                    "the receiver refused the first chunk as out of order: it keeps losing "
                    "its state, and there is nothing earlier to send again",
                    chunk_number=None if completion else number,
                    http_status=decision.status,
                    receiver_answer=decision.answer,
                )
            retry_after = None
            if isinstance(decision, protocol.ResendChecksum):
                mismatches += 1
                if mismatches > MAX_CHECKSUM_RESENDS:
                    raise ReceiverRejected(
                        f"the receiver answered 'Checksum mismatch' {mismatches} times",
                        chunk_number=number,
                    )
            else:
                retry_after = decision.retry_after
            self._wait_to_retry(attempt, decision.reason, retry_after, number)
            attempt += 1

    def _post(self, body: bytes, key: str, number: int, completion: bool) -> protocol.Decision:
        try:
            answer = self._inbox.sender.post(body, key)
        except ReceiverUnavailable as exc:
            return protocol.RetryLater(exc.reason, exc.retry_after)
        return protocol.classify(
            answer.status,
            answer.headers,
            answer.body,
            sent_ingestion_id=self._ingestion,
            sent_chunk_number=number,
            now=self._inbox.clock.now(),
            completion=completion,
        )

    def _wait_to_retry(
        self, attempt: int, reason: str, retry_after: float | None, number: int
    ) -> None:
        policy = self._inbox.retry
        delay = backoff_delay(
            attempt,
            base=policy.initial_delay,
            cap=policy.max_delay,
            rand=self._inbox.rand,
            retry_after=retry_after,
        )
        self._log.warning(
            "receiver not ready, will retry",
            reason=reason,
            chunk_number=number,
            attempt=attempt + 1,
            delay_seconds=round(delay, 3),
        )
        self._inbox.progress.waiting(self._claim.token, reason, delay)
        self._write_retry_state(reason, attempt + 1, delay)
        if self._inbox.clock.wait(delay, self._inbox.stop):
            raise Interrupted()

    def _write_retry_state(self, reason: str, attempt: int, delay: float) -> None:
        """Advisory, for `ingestd status`: not fsynced, nothing depends on it surviving a crash."""
        now = self._inbox.clock.now()
        if self._retry_since is None:
            self._retry_since = now
        state = {
            "reason": reason,
            "attempt": attempt,
            "since": iso(self._retry_since),
            "next_try_at": iso(now + delay),
        }
        tmp = self._claim.beside(RETRY_STATE + ".tmp")
        try:
            tmp.write_bytes(orjson.dumps(state))
            os.replace(tmp, self._claim.retry_state)
        except OSError:
            durable.unlink_quietly(tmp)

    def _clear_retry_state(self) -> None:
        if self._retry_since is not None:
            durable.unlink_quietly(self._claim.retry_state)
            self._retry_since = None


def _rejected(decision: protocol.Rejected, number: int, completion: bool) -> ReceiverRejected:
    what = "the completion" if completion else f"chunk {number}"
    return ReceiverRejected(
        f"the receiver refused {what}: {decision.reason}",
        chunk_number=None if completion else number,
        http_status=decision.status,
        receiver_answer=decision.answer,
    )
