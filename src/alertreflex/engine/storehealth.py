"""Whether the store takes writes, recorded in one place, and writes retried until
it does.

A run's progress (its claim, each step's record, its end) must be in the store
before the run goes on, or a restart would run a finished step again. When a write
fails (a full disk, the database away), the runner keeps the progress in memory
and writes it again after a pause that doubles up to RETRY_MAX, for as long as the
server lives; a shutdown cancels the wait, and the run resumes at the next start
from its last durable step. Intake failures are recorded here too.

``/-/ready``, the ``alertreflex_store_writable`` gauge and two log lines (writes
fail, writes work again) all come from this record. Any successful write clears
it; while nothing else writes, a probe does, so that a server taken out of a load
balancer for being unready finds its way back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

from alertreflex.core.durations import format_duration
from alertreflex.engine.metrics import Metrics
from alertreflex.store.base import Store, StoreError

log = structlog.get_logger("alertreflex.store")
T = TypeVar("T")

RETRY_FIRST = 0.1  # seconds before the first retry of a failed write
RETRY_MAX = 10.0  # the pause doubles up to this


class StoreHealth:
    def __init__(self, store: Store, metrics: Metrics) -> None:
        self._store = store
        self._metrics = metrics
        self.failing_since: float | None = None  # None while writes work
        self.error = ""  # the last failure: what was written, and why it failed
        self._failures = 0  # failed writes since failing_since
        self._probe: asyncio.Task[None] | None = None

    @property
    def problem(self) -> str | None:
        """Why the store is not writable (for /-/ready), or None while it is."""
        if self.failing_since is None:
            return None
        for_ = format_duration(max(1.0, round(time.time() - self.failing_since)))
        return f"the store has failed writes for {for_} (last: {self.error})"

    def failed(self, what: str, exc: StoreError) -> None:
        """A write failed: the first failure after success says so once."""
        self._metrics.store_write_failures.inc()
        self.error = f"{what}: {exc}"
        self._failures += 1
        if self.failing_since is not None:
            return
        self.failing_since = time.time()
        self._metrics.store_writable.set(0)
        log.error("store_write_failed", what=what, error=str(exc), retrying=True)
        self._probe = asyncio.create_task(self._until_writable(), name="store-probe")

    def succeeded(self) -> None:
        """A write succeeded: after failures, say that writes work again."""
        if self.failing_since is None:
            return
        log.warning(
            "store_writable_again",
            failed_for=format_duration(round(time.time() - self.failing_since, 1)),
            failed_writes=self._failures,
        )
        self.failing_since, self.error, self._failures = None, "", 0
        self._metrics.store_writable.set(1)
        if self._probe is not None and self._probe is not asyncio.current_task():
            self._probe.cancel()
        self._probe = None

    async def retry(self, what: str, op: Callable[[], Awaitable[T]], *, write: bool = True) -> T:
        """``op()`` until it does not raise StoreError. Reads (``write=False``) are
        retried alike but tell nothing about writes; other exceptions (bugs) pass."""
        pause = RETRY_FIRST
        while True:
            try:
                result = await op()
            except StoreError as exc:
                if write:
                    self.failed(what, exc)
                elif pause == RETRY_FIRST:
                    log.warning("store_read_failed", what=what, error=str(exc), retrying=True)
                await asyncio.sleep(pause)
                pause = min(pause * 2, RETRY_MAX)
                continue
            if write and self.failing_since is not None:
                self.succeeded()
            return result

    async def _until_writable(self) -> None:
        pause = RETRY_FIRST
        while self.failing_since is not None:
            await asyncio.sleep(pause)
            pause = min(pause * 2, RETRY_MAX)
            try:
                await self._store.check_writable()
            except StoreError:
                continue  # counted and logged by the writes that matter, not here
            self.succeeded()

    async def close(self) -> None:
        """Stop the probe (at shutdown)."""
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
            self._probe = None
