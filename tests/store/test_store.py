"""The stores (SQLite and PostgreSQL) against real databases."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from alertreflex.core.ids import new_id
from alertreflex.core.models import RunState, Trigger
from alertreflex.store.base import (
    AlertRecord,
    Ingest,
    NewRun,
    QueueFullError,
    Store,
    StoreError,
)
from alertreflex.store.sqlite import SQLiteStore


def _alert(
    fp: str = "fp1", starts: str = "2026-11-25T03:24:50.701000Z", status: str = "firing"
) -> AlertRecord:
    return AlertRecord(
        fingerprint=fp,
        starts_at=starts,
        status=status,
        labels={"alertname": "A", "team": "t"},
        annotations={},
        ends_at=None,
        generator_url="",
    )


def _run(
    fp: str = "fp1",
    starts: str = "2026-11-25T03:24:50.701000Z",
    trigger: Trigger = Trigger.FIRING,
    reflex: str = "r1",
    not_before: float = 0.0,
    flap_window: float = 0.0,
) -> NewRun:
    return NewRun(
        id=new_id(),
        reflex=reflex,
        team="t",
        fingerprint=fp,
        starts_at=starts,
        trigger=trigger,
        not_before=not_before,
        context={"alert": {}, "notification": {}},
        flap_window=flap_window,
    )


def _batch(
    alerts: list[AlertRecord], runs: list[NewRun], capacity: int = 1000, now: float | None = None
) -> Ingest:
    return Ingest(
        notification_id=new_id(),
        received_at=now or time.time(),
        receiver="r",
        status="firing",
        group_key="g",
        body=b"{}",
        alerts=alerts,
        runs=runs,
        capacity=capacity,
    )


async def test_new_runs_are_created_once(store: Store) -> None:
    """The same (reflex, fingerprint, startsAt, trigger) never makes a second run."""
    first = await store.ingest(_batch([_alert()], [_run()]))
    again = await store.ingest(_batch([_alert()], [_run()]))
    assert len(first.created) == 1 and first.changed_alerts == 1
    assert again.created == [] and again.changed_alerts == 0 and again.duplicate
    assert len(await store.list_runs()) == 1


async def test_new_starts_at_is_a_new_episode(store: Store) -> None:
    """A new startsAt for the same fingerprint is a new episode with its own run."""
    await store.ingest(_batch([_alert()], [_run()]))
    res = await store.ingest(
        _batch(
            [_alert(starts="2026-11-26T00:00:00.000000Z")],
            [_run(starts="2026-11-26T00:00:00.000000Z")],
        )
    )
    assert len(res.created) == 1


async def test_resolved_is_a_state_change_not_a_duplicate(store: Store) -> None:
    """Firing then resolved of one episode: the resolved notification changes it."""
    await store.ingest(_batch([_alert()], [_run()]))
    res = await store.ingest(_batch([_alert(status="resolved")], [_run(trigger=Trigger.RESOLVED)]))
    assert res.changed_alerts == 1 and len(res.created) == 1
    again = await store.ingest(
        _batch([_alert(status="resolved")], [_run(trigger=Trigger.RESOLVED)])
    )
    assert again.duplicate


async def test_queue_full_stores_nothing(store: Store) -> None:
    """Past the capacity, the whole notification is refused and nothing is written."""
    runs = [_run(fp=f"fp{i}") for i in range(3)]
    with pytest.raises(QueueFullError):
        await store.ingest(_batch([_alert(fp=f"fp{i}") for i in range(3)], runs, capacity=2))
    assert await store.list_runs() == []
    assert await store.firing_episodes() == []
    if isinstance(store, SQLiteStore):
        conn = sqlite3.connect(store.path)
        assert conn.execute("SELECT count(*) FROM notifications").fetchone()[0] == 0


async def test_concurrent_writes_all_land(store: Store) -> None:
    """200 concurrent notifications all land; SQLite's group commit takes far fewer
    than 200 commits for them."""
    before = store.commits if isinstance(store, SQLiteStore) else 0
    results = await asyncio.gather(
        *[store.ingest(_batch([_alert(fp=f"f{i}")], [_run(fp=f"f{i}")])) for i in range(200)]
    )
    assert all(len(r.created) == 1 for r in results)
    if isinstance(store, SQLiteStore):
        assert store.commits - before < 100
    assert len(await store.list_runs(limit=1000)) == 200


async def test_claim_finish_and_recover(store: Store) -> None:
    """A run left running is recovered as interrupted; a finished one is not."""
    r1, r2, r3 = _run(fp="a"), _run(fp="b"), _run(fp="c")
    await store.ingest(_batch([_alert("a"), _alert("b"), _alert("c")], [r1, r2, r3]))
    assert await store.claim(r1.id, time.time(), []) == 1
    assert await store.claim(r1.id, time.time(), []) is None  # already running
    assert await store.claim(r2.id, time.time(), []) == 1
    await store.finish(r2.id, RunState.SUCCEEDED, "", time.time(), [{"index": 0}])
    recovered = {r.id: r for r in await store.recover()}
    assert set(recovered) == {r1.id, r3.id}
    assert recovered[r1.id].state is RunState.INTERRUPTED
    assert recovered[r3.id].state is RunState.QUEUED
    assert await store.claim(r1.id, time.time(), []) == 2  # second attempt
    done = await store.get_run(r2.id)
    assert done is not None and done.state is RunState.SUCCEEDED and done.steps == [{"index": 0}]


async def test_flap_skips_the_new_firing_and_the_pending_resolved(store: Store) -> None:
    """Resolved then a new firing of the same fingerprint within the window: one episode."""
    now = time.time()
    await store.ingest(_batch([_alert()], [_run(flap_window=30)], now=now))
    resolved = _run(trigger=Trigger.RESOLVED, not_before=now + 30)
    await store.ingest(_batch([_alert(status="resolved")], [resolved], now=now + 1))
    new_start = "2026-11-25T03:25:10.000000Z"
    res = await store.ingest(
        _batch([_alert(starts=new_start)], [_run(starts=new_start, flap_window=30)], now=now + 2)
    )
    assert res.cancelled_resolved == [resolved.id]
    assert res.created[0].state is RunState.SKIPPED and "flap" in res.created[0].reason
    got = await store.get_run(resolved.id)
    assert got is not None and got.state is RunState.SKIPPED
    assert await store.claim(resolved.id, time.time(), []) is None


async def test_firing_after_the_window_is_a_new_episode(store: Store) -> None:
    """Outside resolve_delay a new firing is not a flap."""
    now = time.time()
    await store.ingest(_batch([_alert()], [_run(flap_window=5)], now=now))
    await store.ingest(_batch([_alert(status="resolved")], [], now=now + 1))
    new_start = "2026-11-25T03:26:00.000000Z"
    res = await store.ingest(
        _batch([_alert(starts=new_start)], [_run(starts=new_start, flap_window=5)], now=now + 10)
    )
    assert res.created[0].state is RunState.QUEUED


async def test_list_runs_filters_newest_first(store: Store) -> None:
    """list_runs filters by reflex and state and returns the newest first."""
    for i in range(5):
        await store.ingest(
            _batch([_alert(f"x{i}")], [_run(fp=f"x{i}", reflex=f"r{i % 2}")], now=1000.0 + i)
        )
    runs = await store.list_runs(reflex="r0")
    assert [r.fingerprint for r in runs] == ["x4", "x2", "x0"]
    assert await store.list_runs(state="succeeded") == []
    assert len(await store.list_runs(limit=2)) == 2


async def test_schema_version_mismatch_is_refused(tmp_path: Path) -> None:
    """A store file of an unknown schema version is refused with a clear message."""
    s = SQLiteStore(tmp_path / "s.db")
    await s.open()
    await s.close()
    conn = sqlite3.connect(tmp_path / "s.db")
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="schema version 99"):
        await SQLiteStore(tmp_path / "s.db").open()


async def test_large_notifications_take_the_bulk_path_with_the_same_results(
    store: Store,
) -> None:
    """50 alerts at once: new, repeated and changed episodes are told apart as one by one."""
    alerts = [_alert(f"bulk{i}") for i in range(50)]
    runs = [_run(fp=f"bulk{i}") for i in range(50)]
    first = await store.ingest(_batch(alerts, runs))
    assert first.changed_alerts == 50 and len(first.created) == 50
    again = await store.ingest(_batch(alerts, [_run(fp=f"bulk{i}") for i in range(50)]))
    assert again.duplicate
    # Ten of them resolve, forty repeat: ten changes, ten new resolved runs.
    mixed = [_alert(f"bulk{i}", status="resolved" if i < 10 else "firing") for i in range(50)]
    resolved = [_run(fp=f"bulk{i}", trigger=Trigger.RESOLVED) for i in range(10)]
    res = await store.ingest(_batch(mixed, resolved + [_run(fp=f"bulk{i}") for i in range(10, 50)]))
    assert res.changed_alerts == 10
    assert sorted(r.id for r in res.created) == sorted(r.id for r in resolved)
    assert len(await store.list_runs(limit=1000)) == 60


async def test_an_alert_repeated_in_one_notification_counts_once(store: Store) -> None:
    """Alertmanager does not do it, but a payload may: the last copy wins."""
    batch = _batch([_alert(), _alert(status="resolved")], [_run()])
    result = await store.ingest(batch)
    assert len(result.created) == 1
    assert await store.firing_episodes() == []  # the resolved copy came last
