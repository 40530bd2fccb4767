"""How many records the next chunk holds when the receiver asks for smaller chunks.

An acknowledgement may carry `max_records` and `max_bytes`: from the next chunk on, no chunk
holds more records, or more bytes of records (the `records` array as sent), than they say, nor
more than the inbox's own chunk_records and chunk_bytes, which the staged chunks already
respect. An answer without a hint keeps the last one; `null` clears it. A 413 answer halves the
chunk that was refused. Every chunk holds at least one record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import accumulate
from typing import Any

HINTS = ("max_records", "max_bytes")


@dataclass(frozen=True)
class Hints:
    max_records: int | None = None
    max_bytes: int | None = None

    def after(self, answer: Mapping[str, Any]) -> Hints:
        """The hints in force after an acknowledgement: a positive integer sets one, null
        clears it, absent (or anything else) leaves it as it was."""
        changes: dict[str, int | None] = {}
        for name in HINTS:
            if name not in answer:
                continue
            value = answer[name]
            if value is None:
                changes[name] = None
            elif isinstance(value, int) and not isinstance(value, bool) and value > 0:
                changes[name] = value
        return replace(self, **changes) if changes else self

    def records_for(self, sizes: Sequence[int]) -> int:
        """How many of the records ahead, whose canonical forms are `sizes` bytes long, the
        next chunk takes: all of them (the rest of a staged chunk) unless a hint says fewer,
        and at least one."""
        count = len(sizes)
        if self.max_records is not None:
            count = min(count, self.max_records)
        if self.max_bytes is not None:
            # the array is "[", the records joined by ",", "]": 2 + sizes + commas
            arrays = accumulate(size + 1 for size in sizes[:count])
            count = min(count, sum(1 for total in arrays if total + 1 <= self.max_bytes))
        return max(1, count)


def halved(count: int) -> int:
    """The records of a chunk sent again after a 413 answer."""
    return max(1, count // 2)
