"""When to try again: exponential backoff with full jitter, and Retry-After."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RetryPolicy:
    """An inbox's backoff: the first delay and the longest."""

    initial_delay: float
    max_delay: float


def backoff_delay(
    attempt: int,
    *,
    base: float,
    cap: float,
    rand: Callable[[], float],
    retry_after: float | None = None,
) -> float:
    """Seconds to wait before retry number `attempt` (0-based), never beyond `cap`.

    Full jitter (a uniform draw below the exponential ceiling) spreads the retries of many
    daemons; a server's Retry-After is a floor, itself capped so that one odd header cannot
    park a file for a day.
    """
    ceiling = min(cap, base * (2 ** min(attempt, 62)))
    delay = rand() * ceiling
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return float(delay)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP-date; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)
