"""Test doubles for the seams: a clock that never sleeps, a notifier that remembers."""

from __future__ import annotations

import threading

from ingestd.failpoints import Failpoints


class FakeClock:
    """Time moves only when someone waits; every wait is recorded."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._mono = 1000.0
        self.waits: list[float] = []

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += seconds
        self._mono += seconds

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        self.waits.append(seconds)
        self.advance(seconds)
        return stop.is_set()


class RecordingNotifier:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def notify(self, message: str) -> None:
        self.messages.append(message)


class PausingFailpoints(Failpoints):
    """A failpoint that holds the thread reaching `step` until the test lets it go on."""

    def __init__(self, step: str) -> None:
        super().__init__()
        self._step = step
        self.reached_it = threading.Event()
        self.go_on = threading.Event()

    def reached(self, step: str) -> None:
        if step == self._step and not self.reached_it.is_set():
            self.reached_it.set()
            self.go_on.wait(30)


class SilentWatcher:
    """A watcher that never reports an event: only the periodic rescan finds files."""

    def watch(self, folder: object, events: object) -> object:
        return folder

    def unwatch(self, watch: object) -> None:
        pass

    def alive(self) -> bool:
        return True

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass
