"""ingestd/once.py: a part made with its first use, once, whoever asks first; an inbox's
workers ask for its Delivery, and choose a kind's reader, at the same moment."""

from __future__ import annotations

import threading

import pytest

from ingestd.once import Once

OVERLAP_SECONDS = 0.5  # how long a second maker would have to show itself


def test_two_threads_asking_at_once_get_one_part_made_once():
    first_inside, second_asks, second_made = threading.Event(), threading.Event(), threading.Event()
    made: list[object] = []

    def make() -> object:
        if made:
            second_made.set()
        made.append(object())
        if len(made) == 1:  # the first maker waits until the other thread asks, and then some
            first_inside.set()
            assert second_asks.wait(10)
            second_made.wait(OVERLAP_SECONDS)  # set only if it could make one too
        return made[-1]

    once = Once(make)
    got: dict[str, object] = {}

    def ask(name: str, asking: threading.Event | None = None) -> None:
        if asking is not None:
            asking.set()
        got[name] = once()

    first = threading.Thread(target=ask, args=("first",))
    first.start()
    assert first_inside.wait(10)
    second = threading.Thread(target=ask, args=("second", second_asks))
    second.start()
    first.join(10)
    second.join(10)
    assert len(made) == 1 and not second_made.is_set()
    assert got["first"] is got["second"] is made[0] is once.made()


def test_nothing_is_made_before_it_is_asked_for_and_a_failed_making_is_tried_again():
    attempts: list[int] = []

    def make() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("not yet")
        return "part"

    once = Once(make)
    assert once.made() is None and attempts == []
    with pytest.raises(OSError):
        once()
    assert once.made() is None
    assert once() == "part" and once() == "part" and len(attempts) == 2
