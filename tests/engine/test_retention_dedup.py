"""Exactly once per episode, over time and under overload, through the engine with
real stores (SQLite and PostgreSQL) and real exec steps: retention must not make an
episode run again, and the run queue's limit must hold for notifications written
together."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from alertreflex.actions.base import Action, load_action_types, params_models
from alertreflex.config.loader import load_config
from alertreflex.core.models import NOTIFICATION_ADAPTER, NotificationIn
from alertreflex.engine.engine import Engine
from alertreflex.store.base import QueueFullError, Store
from alertreflex.store.migrations import migrate_store
from alertreflex.store.postgres import PostgresStore
from alertreflex.store.sqlite import SQLiteStore
from tests.payloads import alert, notification
from tests.pg import fresh_schema

HOUR = 3600.0
CONFIG = """\
settings:
  retention: 1h
  max_queued_runs: 10
reflexes:
  - name: once
    team: t
    match: ['alertname="Long"']
    on_firing: [{exec: {command: ["true"]}}]
    on_resolved: [{exec: {command: ["true"]}}]
  - name: slow
    team: t
    match: ['alertname="Slow"']
    max_concurrent: 1
    on_firing: [{exec: {command: ["sleep", "30"], timeout: 60s}}]
"""


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Engine]:
    (tmp_path / "c.yml").write_text(CONFIG)
    types = load_action_types()
    cfg = load_config(tmp_path / "c.yml", params_models(types))
    actions: dict[str, Action[Any]] = {name: cls() for name, cls in types.items()}
    if request.param == "sqlite":
        store: Store = SQLiteStore(tmp_path / "s.db")
        await store.open()
        eng = Engine(cfg, store, actions)
        await eng.start()
        yield eng
        await eng.shutdown(0)
        await store.close()
        return
    async with fresh_schema() as dsn:
        await migrate_store(dsn)
        store = PostgresStore(dsn, replica="retention-test")
        await store.open()
        eng = Engine(cfg, store, actions)
        await eng.start()
        yield eng
        await eng.shutdown(0)
        await store.close()


def _long(status: str, value: str) -> NotificationIn:
    """The same episode each time; the annotation carries a value that changes, as
    Prometheus' {{ $value }} does, so that no two bodies are byte-identical."""
    doc = notification(
        alert(
            {"alertname": "Long", "team": "t"},
            status=status,
            annotations={"summary": f"at {value}"},
        )
    )
    return NOTIFICATION_ADAPTER.validate_python(doc)


async def _finished(engine: Engine, count: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        runs = await engine.store.list_runs(limit=100)
        if sum(1 for r in runs if r.state.finished) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not {count} finished runs: {await engine.store.list_runs()}")


async def test_an_episode_firing_across_prunes_runs_once(engine: Engine) -> None:
    """Retention takes the history of the episode's runs at every prune, but not
    the facts: repeats after each prune (hours later) create no run, and the same
    holds for its resolved notification repeated after a prune."""
    now = time.time()
    first = await engine.ingest(_long("firing", "90%"), b"{}")
    assert len(first.created) == 1
    await _finished(engine, 1)
    for i in range(1, 4):
        pruned = await engine.prune(now + i * 2 * HOUR)
        assert pruned.runs == (1 if i == 1 else 0)  # its history went at the first
        again = await engine.ingest(_long("firing", f"{90 + i}%"), b"{}")
        assert again.created == [], f"a second firing run after prune {i}"
    resolved = await engine.ingest(_long("resolved", "10%"), b"{}")
    assert len(resolved.created) == 1
    await _finished(engine, 2)
    await engine.prune(now + 0.5 * HOUR)
    again = await engine.ingest(_long("resolved", "9%"), b"{}")
    assert again.created == []
    runs = await engine.store.list_runs(limit=100)
    assert sorted(str(r.trigger) for r in runs) == ["firing", "resolved"]
    # Long enough after it resolved, the episode is forgotten with its runs.
    assert (await engine.prune(now + 40 * HOUR)).episodes == 1
    assert await engine.store.list_runs(limit=100) == []


async def test_the_queue_limit_holds_for_notifications_written_together(engine: Engine) -> None:
    """Thirty new episodes at once, written in the same batches: no more runs are
    accepted than max_queued_runs (10), the others are refused."""

    async def one(i: int) -> bool:
        doc = notification(alert({"alertname": "Slow", "team": "t", "i": str(i)}))
        try:
            await engine.ingest(NOTIFICATION_ADAPTER.validate_python(doc), b"{}")
        except QueueFullError:
            return False
        return True

    accepted = await asyncio.gather(*(one(i) for i in range(30)))
    assert sum(accepted) == 10
    assert engine.unfinished == 10
    assert engine.queue_full
