"""The worker pool's line: runs start in the order they became due, whoever handed
them over and whenever, within the global and per-reflex limits."""

from __future__ import annotations

import asyncio
import time

from alertreflex.core.models import Trigger
from alertreflex.engine.dispatcher import Dispatcher, QueuedRun


def _run(name: str, reflex: str, accepted_at: float, not_before: float = 0.0) -> QueuedRun:
    return QueuedRun(
        id=name,
        reflex=reflex,
        team="t",
        trigger=Trigger.FIRING,
        fingerprint=name,
        starts_at="2026-12-06T00:00:00Z",
        context={},
        not_before=not_before,
        accepted_at=accepted_at,
    )


class _Pool:
    """A dispatcher whose runs wait until the test releases them, recording starts."""

    def __init__(self, max_running: int, per_reflex: int) -> None:
        self.started: list[str] = []
        self.release = asyncio.Event()
        self.dispatcher = Dispatcher(
            self._execute, max_running=max_running, reflex_limit=lambda _name: per_reflex
        )

    async def _execute(self, run: QueuedRun) -> None:
        self.started.append(run.id)
        await self.release.wait()

    async def settle(self) -> None:
        for _ in range(20):
            await asyncio.sleep(0)


async def test_a_run_handed_over_late_keeps_its_place_in_line() -> None:
    """A run taken over from a replica that died (or resumed at start) was accepted
    before the runs this process queued since: it starts before them, not after."""
    pool = _Pool(max_running=1, per_reflex=10)
    now = time.time()
    pool.dispatcher.submit(_run("busy", "r", now - 10))
    pool.dispatcher.start()
    await pool.settle()
    for i in range(3):
        pool.dispatcher.submit(_run(f"own{i}", "r", now - 5 + i))
    pool.dispatcher.submit(_run("orphan", "r", now - 8))  # handed over last, accepted earlier
    await pool.settle()
    assert pool.started == ["busy"]
    pool.release.set()
    for _ in range(10):
        await pool.settle()
    assert pool.started == ["busy", "orphan", "own0", "own1", "own2"]
    await pool.dispatcher.shutdown(1)


async def test_runs_blocked_by_their_reflex_limit_wait_in_age_order() -> None:
    """Runs held back by max_concurrent wait by age too: an older run that arrives
    after newer ones were blocked goes ahead of them when a slot frees."""
    pool = _Pool(max_running=10, per_reflex=1)
    now = time.time()
    pool.dispatcher.submit(_run("first", "r", now - 10))
    pool.dispatcher.start()
    await pool.settle()
    pool.dispatcher.submit(_run("new1", "r", now - 2))
    pool.dispatcher.submit(_run("new2", "r", now - 1))
    await pool.settle()
    pool.dispatcher.submit(_run("old", "r", now - 9))
    await pool.settle()
    assert pool.started == ["first"]
    pool.release.set()
    for _ in range(10):
        await pool.settle()
    assert pool.started == ["first", "old", "new1", "new2"]
    await pool.dispatcher.shutdown(1)


async def test_a_delayed_run_lines_up_when_it_becomes_due() -> None:
    """A run with a delay takes its place when the delay ends, not when it was
    accepted: runs that were due before it still go first."""
    pool = _Pool(max_running=1, per_reflex=10)
    now = time.time()
    pool.dispatcher.submit(_run("busy", "r", now - 10))
    pool.dispatcher.start()
    await pool.settle()
    pool.dispatcher.submit(_run("delayed", "r", now - 9, not_before=now + 0.2))
    pool.dispatcher.submit(_run("due", "r", now - 1))
    await asyncio.sleep(0.3)
    pool.release.set()
    for _ in range(10):
        await pool.settle()
    assert pool.started == ["busy", "due", "delayed"]
    await pool.dispatcher.shutdown(1)
