"""StoreHealth: writes retried until the store takes them, said once when they start
failing and once when they work again, read by /-/ready and a gauge."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from structlog.testing import capture_logs

from alertreflex.engine.metrics import Metrics
from alertreflex.engine.storehealth import StoreHealth
from alertreflex.store.base import StoreError


class Disk:
    """Stands for the store: every write fails while ``full``."""

    def __init__(self, *, full: bool) -> None:
        self.full = full
        self.writes = 0

    async def write(self) -> str:
        self.writes += 1
        await self.check_writable()
        return "done"

    async def check_writable(self) -> None:
        if self.full:
            raise StoreError("SQLite write failed: database or disk is full")


def _health(disk: Disk) -> tuple[StoreHealth, Metrics]:
    metrics = Metrics()
    return StoreHealth(disk, metrics), metrics  # type: ignore[arg-type]


def _sample(metrics: Metrics, name: str) -> float | None:
    value: float | None = metrics.registry.get_sample_value(name)
    return value


async def test_a_failing_write_is_retried_and_said_once() -> None:
    """A write made while the disk is full returns once it has room: the gauge was 0
    meanwhile and is 1 after, every failed attempt is counted, and the log has one
    line for the start of the trouble and one for its end."""
    disk = Disk(full=True)
    health, metrics = _health(disk)
    assert _sample(metrics, "alertreflex_store_writable") == 1.0
    with capture_logs() as logs:
        task = asyncio.create_task(health.retry("recording step 0 of run r1", disk.write))
        await asyncio.sleep(0.5)  # tries at 0, 0.1 and 0.3 s
        assert _sample(metrics, "alertreflex_store_writable") == 0.0
        problem = health.problem
        assert problem is not None and "recording step 0 of run r1" in problem
        assert "database or disk is full" in problem
        disk.full = False
        assert await task == "done"
        await health.close()
    assert disk.writes == 4
    assert _sample(metrics, "alertreflex_store_writable") == 1.0
    assert _sample(metrics, "alertreflex_store_write_failures_total") == 3.0
    assert health.problem is None
    events = [e["event"] for e in logs]
    assert events == ["store_write_failed", "store_writable_again"], logs


async def test_a_failing_read_is_retried_without_touching_write_health() -> None:
    """A read that fails is tried again, but neither the gauge nor /-/ready take it
    for a write failure."""
    disk = Disk(full=True)
    health, metrics = _health(disk)
    task = asyncio.create_task(health.retry("reading run r1", disk.write, write=False))
    await asyncio.sleep(0.2)
    assert health.problem is None
    disk.full = False
    assert await task == "done"
    assert health.problem is None
    assert _sample(metrics, "alertreflex_store_write_failures_total") == 0.0


async def test_the_probe_finds_the_store_writable_when_nothing_else_writes() -> None:
    """After a failed write nobody retries (a refused notification), the probe's own
    write clears the record once the store takes it."""
    disk = Disk(full=True)
    health, metrics = _health(disk)
    try:
        await disk.write()
    except StoreError as exc:
        health.failed("storing a notification", exc)
    await asyncio.sleep(0.5)
    assert health.problem is not None
    disk.full = False
    for _ in range(100):
        if health.problem is None:
            break
        await asyncio.sleep(0.05)
    assert health.problem is None
    assert _sample(metrics, "alertreflex_store_writable") == 1.0
    await health.close()


async def test_other_errors_are_not_retried() -> None:
    """A bug is not a full disk: it surfaces at once and records nothing."""
    health, _metrics = _health(Disk(full=False))

    async def broken() -> Any:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        await health.retry("claiming run r1", broken)
    assert health.problem is None


async def test_a_shutdown_cancels_a_retry() -> None:
    """Cancelling a run that waits for the store (shutdown) ends the wait at once;
    the run resumes at the next start from its last recorded step."""
    disk = Disk(full=True)
    health, _metrics = _health(disk)
    task = asyncio.create_task(health.retry("ending run r1", disk.write))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await health.close()
