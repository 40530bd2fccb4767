"""The inbox watcher: every name that appears, vanishes, is opened or closed reaches the scout's
queue as it happens, a rename as two names at once (no move pairing, which would hold it)."""

from __future__ import annotations

import os
import queue

from ingestd.runtime.watcher import CHANGED, CLOSED, LOST, OPENED, Watcher


def events_until(events: queue.SimpleQueue, last: tuple[str, str]) -> list[tuple[str, str]]:
    seen = []
    while not seen or seen[-1] != last:
        seen.append(events.get(timeout=10))
    return seen


def test_names_appearing_opening_closing_and_moving_reach_the_queue(tmp_path):
    events: queue.SimpleQueue = queue.SimpleQueue()
    watcher = Watcher()
    watch = watcher.watch(tmp_path, events)
    watcher.start()
    try:
        with open(tmp_path / "x.json.part", "wb") as f:
            f.write(b"[]")
        os.rename(tmp_path / "x.json.part", tmp_path / "x.json")
        seen = events_until(events, (CHANGED, "x.json"))
        assert seen == [
            (CHANGED, "x.json.part"),
            (OPENED, "x.json.part"),
            (CLOSED, "x.json.part"),
            (CHANGED, "x.json.part"),
            (CHANGED, "x.json"),
        ]
        watcher.unwatch(watch)
        (tmp_path / "after.json").write_bytes(b"[]")
        assert watcher.alive()
    finally:
        watcher.stop()
    assert not watcher.alive()
    assert events.empty()


def test_a_queue_overflow_asks_the_scout_to_list_the_inbox():
    from ingestd.runtime.watcher import _Enqueue

    events: queue.SimpleQueue = queue.SimpleQueue()
    _Enqueue(events).on_queue_overflow()
    assert events.get_nowait() == (LOST, "")
