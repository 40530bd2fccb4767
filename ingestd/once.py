"""A part made with its first use, then kept. What only work needs (a reader for a format, the
sender and its protocol) is neither built nor imported before READY=1: a start pays only for
what watching an inbox needs (docs/performance.md, READY)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Once(Generic[T]):
    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._made: T | None = None
        self._making = threading.Lock()  # an inbox's workers ask at once

    def __call__(self) -> T:
        with self._making:
            if self._made is None:
                self._made = self._make()
            return self._made

    def made(self) -> T | None:
        """The part if it was made, without making it."""
        return self._made
