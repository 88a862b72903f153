"""Retention on both stores: history goes (run details, artifacts, notification
bodies), the facts that stop an episode from running twice stay for as long as it
fires, and a resolved episode is forgotten only once it resolved long enough ago."""

from __future__ import annotations

import sqlite3
import time

from alertreflex.core.models import RunState, Trigger
from alertreflex.store.base import Artifact, Store
from alertreflex.store.postgres import PostgresStore
from alertreflex.store.sqlite import SQLiteStore
from tests.store.test_store import _alert, _batch, _run
from tests.store.test_store_v2 import _undo

DAY = 86400.0


async def _finished(
    store: Store, fp: str, at: float, status: str = "resolved", trigger: Trigger = Trigger.FIRING
) -> str:
    """A run of an episode seen at ``at`` (``status`` then), finished then."""
    batch = _batch([_alert(fp=fp, status=status)], [_run(fp=fp, trigger=trigger)], now=at)
    (run,) = (await store.ingest(batch)).created
    assert await store.claim(run.id, at, []) == 1
    await store.finish(run.id, RunState.SUCCEEDED, "", at, [{"index": 0, "output": "x"}])
    return run.id


async def test_history_goes_and_the_rows_stay(store: Store) -> None:
    """Past retention a finished run loses its context, steps and artifacts, in
    batches; its row stays (with pruned_at). Unfinished runs, runs whose change waits
    to be put back and recent runs keep everything."""
    now = time.time()
    old = [await _finished(store, f"old{i}", now - 40 * DAY, status="firing") for i in range(7)]
    await store.save_artifact(
        Artifact(old[0], "dump.txt", "text/plain", 2, 2, now - 40 * DAY, b"hi")
    )
    recent = await _finished(store, "recent", now - DAY)
    (waiting,) = (
        await store.ingest(_batch([_alert(fp="q")], [_run(fp="q")], now=now - 40 * DAY))
    ).created
    undone = await _finished(store, "undo", now - 40 * DAY, status="firing")
    await store.remember_undo(_undo(run_id=undone))

    before, forget = now - 30 * DAY, now - 30 * DAY
    first = await store.prune(before, forget, 5, now)
    assert (first.runs, first.notifications, first.episodes) == (5, 5, 0)
    second = await store.prune(before, forget, 5, now)
    # 7 old runs; 9 old notifications (with the waiting and the undo ones); no
    # episode resolved, so none is forgotten.
    assert (second.runs, second.notifications, second.episodes) == (2, 4, 0)
    assert (await store.prune(before, forget, 5, now)).total == 0

    runs = {r.id: r for r in await store.list_runs(limit=100)}
    assert set(runs) == {*old, recent, waiting.id, undone}
    for rid in old:
        pruned = await store.get_run(rid)
        assert pruned is not None and pruned.pruned_at == now
        assert pruned.state is RunState.SUCCEEDED and pruned.steps == [] and pruned.context == {}
    assert await store.list_artifacts(old[0]) == []
    assert await store.get_artifact(old[0], "dump.txt") is None
    for rid in (recent, undone):
        kept = await store.get_run(rid)
        assert kept is not None and kept.pruned_at is None and kept.steps != []


async def test_an_episode_that_still_fires_is_not_run_again_after_a_prune(store: Store) -> None:
    """The firing run's row outlives retention: the next repeat of the episode, after
    a prune that took its history, creates no run."""
    now = time.time()
    await _finished(store, "long", now - 40 * DAY, status="firing")
    await store.prune(now - 30 * DAY, now - 30 * DAY, 100, now)
    again = await store.ingest(_batch([_alert(fp="long")], [_run(fp="long")], now=now))
    assert again.created == [] and again.duplicate


async def test_a_resolved_episode_is_forgotten_only_after_forget_before(store: Store) -> None:
    """A resolved episode keeps its facts (its runs' rows) until it resolved before
    ``forget_before``; then it goes with its runs. One with an unfinished run stays."""
    now = time.time()
    fired = await _finished(store, "gone", now - 3 * DAY)
    resolved = await _finished(store, "gone", now - 3 * DAY, trigger=Trigger.RESOLVED)
    (pending,) = (
        await store.ingest(
            _batch([_alert(fp="pend", status="resolved")], [_run(fp="pend")], now=now - 3 * DAY)
        )
    ).created

    pruned = await store.prune(now - 1, now - 4 * DAY, 100, now)
    assert pruned.episodes == 0  # history only: it resolved after forget_before
    again = await store.ingest(
        _batch(
            [_alert(fp="gone", status="resolved")],
            [_run(fp="gone", trigger=Trigger.RESOLVED)],
            now=now,
        )
    )
    assert again.created == []

    pruned = await store.prune(now - 1, now - DAY, 100, now)
    assert pruned.episodes == 1
    left = {r.id for r in await store.list_runs(limit=100)}
    assert fired not in left and resolved not in left and pending.id in left


async def test_repeats_are_counted_and_keep_the_notification(store: Store) -> None:
    """Identical repeats add to their notification's count and last received time;
    a notification repeated recently is not pruned, however old its first copy."""
    now = time.time()
    batch = _batch([_alert(fp="rep")], [_run(fp="rep")], now=now - 40 * DAY)
    await store.ingest(batch)
    await store.count_repeats({batch.notification_id: (3, now - DAY)})
    await store.count_repeats({batch.notification_id: (2, now - 2 * DAY)})
    assert (await store.prune(now - 30 * DAY, now - 30 * DAY, 100, now)).notifications == 0
    assert (await store.prune(now, now - 30 * DAY, 100, now)).notifications == 1


async def test_sqlite_gives_freed_pages_back(store: Store) -> None:
    """A new SQLite store returns free pages to the file system (auto_vacuum
    incremental): after pruning much history, reclaim shrinks the file, keeping a
    quarter of it free for the next writes."""
    if not isinstance(store, SQLiteStore):
        assert await store.reclaim(100) == 0  # the database server does its own
        return
    now = time.time()
    big = "x" * 20_000
    for i in range(100):
        run = (await store.ingest(_batch([_alert(fp=f"b{i}")], [_run(fp=f"b{i}")]))).created[0]
        await store.claim(run.id, now, [])
        await store.finish(run.id, RunState.SUCCEEDED, "", now - 40 * DAY, [{"output": big}])
    await store.prune(now - 30 * DAY, now - 30 * DAY, 1000, now)
    conn = sqlite3.connect(store.path)
    try:
        pages_before = conn.execute("PRAGMA page_count").fetchone()[0]
    finally:
        conn.close()
    reclaimed = await store.reclaim(100_000)
    assert reclaimed >= 300  # 2 MB of outputs went, in 4 KiB pages
    conn = sqlite3.connect(store.path)
    try:
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
        # What stays free is at most a quarter of the file, for the next writes.
        assert conn.execute("PRAGMA freelist_count").fetchone()[0] <= pages_before // 4
    finally:
        conn.close()


async def test_a_repeat_that_reaches_the_store_is_counted_not_stored(store: Store) -> None:
    """A body stored before (same digest) that changes nothing, arriving after a
    restart or at another replica, adds to the first copy's count; one that creates
    a run, or a different body, is stored."""
    now = time.time()
    first = _batch([_alert(fp="d")], [_run(fp="d")], now=now - 10)
    first.digest = "digest-1"
    await store.ingest(first)
    again = _batch([_alert(fp="d")], [_run(fp="d")], now=now)
    again.digest = "digest-1"
    assert (await store.ingest(again)).duplicate
    other = _batch([_alert(fp="d")], [_run(fp="d")], now=now)
    other.digest = "digest-2"
    await store.ingest(other)
    rows = await _notifications(store)
    assert rows == [(first.notification_id, 1), (other.notification_id, 0)]


async def _notifications(store: Store) -> list[tuple[str, int]]:
    sql = "SELECT id, repeats FROM notifications ORDER BY received_at"
    if isinstance(store, SQLiteStore):
        conn = sqlite3.connect(store.path)
        try:
            return [(r[0], r[1]) for r in conn.execute(sql)]
        finally:
            conn.close()
    assert isinstance(store, PostgresStore)
    return [(r[0], r[1]) for r in await store._fetch(sql)]
