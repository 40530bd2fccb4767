import pytest

from ingestd.core.retry import backoff_delay, parse_retry_after


@pytest.mark.parametrize("attempt,ceiling", [(0, 0.5), (1, 1.0), (3, 4.0), (10, 60.0), (500, 60.0)])
def test_full_jitter_stays_below_the_exponential_ceiling(attempt, ceiling):
    """Delay is a uniform draw below min(cap, base * 2**attempt)."""
    assert backoff_delay(attempt, base=0.5, cap=60, rand=lambda: 0.999999) == pytest.approx(
        ceiling * 0.999999
    )
    assert backoff_delay(attempt, base=0.5, cap=60, rand=lambda: 0.0) == 0.0


def test_retry_after_is_a_floor_capped_at_the_maximum():
    """The server's Retry-After is honoured, but never beyond retry_max_delay_seconds."""
    assert backoff_delay(0, base=0.5, cap=60, rand=lambda: 0.5, retry_after=7) == 7
    assert backoff_delay(0, base=0.5, cap=60, rand=lambda: 0.5, retry_after=3600) == 60


def test_parse_retry_after_seconds_and_dates():
    """Retry-After may be delta-seconds or an HTTP-date; anything else is ignored."""
    now = 1_800_000_000.0
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("Fri, 15 Jan 2027 08:00:10 GMT", now) == pytest.approx(10.0)
    assert parse_retry_after("Fri, 15 Jan 2027 07:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("-5", now) is None
