"""Pausing the cyclic garbage collector while acyclic records stream through.

Parsed records are trees of dicts, lists and strings: reference counting frees them all. With
hundreds of thousands of short-lived dicts the cyclic collector would otherwise run every few
hundred allocations and cost about a third of a parse.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
