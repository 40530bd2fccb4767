"""Freed memory goes back to the system when a parser asks (ingestd/heap.py)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from ingestd import heap


def _rss_mb() -> float:
    return int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0]) / 1024


def _kept_after_churn(answer) -> None:
    """MB of RSS kept after freeing megabyte blocks while the last one is still held, before and
    after the trim: glibc serves them from its heap (the threshold raised by the first large
    free), and the heap cannot shrink from its top under the block still held."""
    before = _rss_mb()
    first = bytearray(8 << 20)
    del first
    blocks = [bytearray(1 << 20) for _ in range(40)]
    kept = blocks[-1]
    del blocks
    churned = _rss_mb() - before
    heap.give_back_freed_memory()
    answer.send((churned, _rss_mb() - before))
    del kept


def test_the_freed_blocks_inside_the_heap_go_back_to_the_system():
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: a heap of its own
    receiving, answer = context.Pipe(duplex=False)
    process = context.Process(target=_kept_after_churn, args=(answer,))
    process.start()
    try:
        churned, trimmed = receiving.recv()
    finally:
        process.join(30)
    assert churned > 30  # the probe does leave freed blocks resident
    assert trimmed < 5
