"""Log lines at a rate: a flood of the same event (refused hosts, malformed
requests, notifications refused while the queue is full) must not flood the log.
The metrics count every event; the log keeps a burst, then a line now and then
that says how many it left out."""

from __future__ import annotations

import time
from collections.abc import Callable


class LogBudget:
    """A burst of log lines, then a trickle: a flood of refusals must not flood the log."""

    def __init__(
        self, burst: int, rate: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.burst = burst
        self.rate = rate
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()
        self._held = 0

    def take(self) -> int | None:
        """None: leave this line out. Otherwise log it, with this many left out before."""
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1:
            self._held += 1
            return None
        self._tokens -= 1
        held, self._held = self._held, 0
        return held
