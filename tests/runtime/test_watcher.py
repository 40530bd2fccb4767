"""The inbox watcher's one adjustment of watchdog."""

import importlib

from ingestd.runtime import watcher


def test_renames_inside_an_inbox_are_not_held_for_move_pairing():
    """watchdog would hold a rename inside the inbox for half a second (the latency figure in
    docs/performance.md shows it). This fails if a watchdog release moves the class whose
    delay ingestd shortens, instead of the daemon silently getting slow again."""
    watcher.Watcher()  # never started: no thread to stop
    delays = []
    for module, name in watcher._MOVE_GROUPERS:
        try:
            delays.append(getattr(importlib.import_module(module), name).delay)
        except ImportError:
            continue
    assert delays == [watcher._MOVE_PAIRING_SECONDS]
