"""Standard Webhooks 1.0 signatures: who sent a chunk, proven to the receiver.

A secret is `whsec_` and the base64 of at least MIN_KEY_BYTES random bytes; a secrets file holds
one per line (several during a key rotation). Each request carries `webhook-id` (the chunk's
`chunk_id`, or `<ingestion_id>:completion`), `webhook-timestamp` (Unix seconds when this attempt
was made) and `webhook-signature`: `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>` per
secret, space-separated. The receiver accepts a request if any of them verifies with any of its
secrets and the timestamp is within TOLERANCE_SECONDS of its clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence

PREFIX = "whsec_"
MIN_KEY_BYTES = 24
TOLERANCE_SECONDS = 300


def parse_secrets(text: str) -> tuple[bytes, ...]:
    """The keys of a secrets file; ValueError names the line and what is wrong with it (never
    the secret itself)."""
    keys = []
    for number, written in enumerate(text.splitlines(), start=1):
        line = written.strip()
        if not line:
            continue
        if not line.startswith(PREFIX):
            raise ValueError(f"line {number} does not start with {PREFIX}")
        try:
            key = base64.b64decode(line[len(PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"line {number} is not {PREFIX} followed by base64") from None
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"line {number} holds {len(key)} bytes; at least {MIN_KEY_BYTES}")
        keys.append(key)
    if not keys:
        raise ValueError("it holds no secret")
    return tuple(keys)


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers(keys: Sequence[bytes], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(k, message_id, timestamp, body) for k in keys),
    }


def verify(
    keys: Sequence[bytes], request_headers: Mapping[str, str], body: bytes, now: float
) -> str | None:
    """Why the request's signature does not hold (headers in lower case), or None if it does."""
    message_id = request_headers.get("webhook-id")
    stamp = request_headers.get("webhook-timestamp", "")
    offered = request_headers.get("webhook-signature", "").split()
    if not message_id or not stamp or not offered:
        return "missing webhook-id, webhook-timestamp or webhook-signature"
    if not stamp.isdigit():
        return "webhook-timestamp is not Unix seconds"
    if abs(now - int(stamp)) > TOLERANCE_SECONDS:
        return f"webhook-timestamp is more than {TOLERANCE_SECONDS} s from now"
    for key in keys:
        expected = signature(key, message_id, int(stamp), body)
        if any(hmac.compare_digest(expected.encode(), s.encode()) for s in offered):
            return None
    return "no signature matches"
