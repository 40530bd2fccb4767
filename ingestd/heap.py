"""Freed memory given back to the system, where the C library can (glibc's malloc_trim).

glibc's malloc serves a block from its heap once a block that large has been freed (its mmap
threshold rises to the freed size), and freed space inside the heap stays resident until it is
trimmed. A parser allocates and frees megabyte blocks all the time (reads, pieces of a file, a
shared-string table growing), so its heap kept what it no longer used: after XlsxWriter's table
of 400,000 strings, 43.7 MB where 32.4 MB were in use. A fixed threshold instead (every large
block mapped and unmapped) gave the same back but cost the JSON validation pass a third more
CPU, page faults on every fresh block (1.63 against 2.12 to 2.29 s for 100 MB); a trim at the
few moments a parser's heap is known to hold garbage costs about a millisecond.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable


def _load_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # no C library to load, or not glibc's
        return None
    return trim


_trim = _load_trim()


def give_back_freed_memory() -> None:
    """Return the heap's free pages to the system; nothing where malloc_trim does not exist."""
    if _trim is not None:
        _trim(0)
