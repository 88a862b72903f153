"""Retention: old finished runs (with their artifacts), notifications and resolved
episodes go; everything still in use stays. Both stores."""

from __future__ import annotations

import time

from alertreflex.core.models import RunState
from alertreflex.store.base import Artifact, Store
from tests.store.test_store import _alert, _batch, _run
from tests.store.test_store_v2 import _undo

DAY = 86400.0


async def _finished(store: Store, fp: str, at: float, status: str = "resolved") -> str:
    """A run of an episode seen at ``at``, finished then."""
    (run,) = (
        await store.ingest(_batch([_alert(fp=fp, status=status)], [_run(fp=fp)], now=at))
    ).created
    assert await store.claim(run.id, at, []) == 1
    await store.finish(run.id, RunState.SUCCEEDED, "", at, [])
    return run.id


async def test_prune_takes_what_is_old_and_done_in_batches(store: Store) -> None:
    now = time.time()
    old = [await _finished(store, f"old{i}", now - 40 * DAY) for i in range(7)]
    await store.save_artifact(
        Artifact(old[0], "dump.txt", "text/plain", 2, 2, now - 40 * DAY, b"hi")
    )
    recent = await _finished(store, "recent", now - DAY)
    # Old but not done: unfinished, or its change still waits to be put back.
    (waiting,) = (
        await store.ingest(_batch([_alert(fp="q")], [_run(fp="q")], now=now - 40 * DAY))
    ).created
    undone = await _finished(store, "undo", now - 40 * DAY, status="firing")
    await store.remember_undo(_undo(run_id=undone))

    first = await store.prune(now - 30 * DAY, limit=5)
    assert (first.runs, first.notifications, first.episodes) == (5, 5, 5)
    second = await store.prune(now - 30 * DAY, limit=5)
    # 7 old runs; 9 old notifications (with the waiting and the undo ones); 7
    # resolved old episodes (the other two are still firing).
    assert (second.runs, second.notifications, second.episodes) == (2, 4, 2)
    assert (await store.prune(now - 30 * DAY, limit=5)).total == 0

    left = {r.id for r in await store.list_runs(limit=100)}
    assert left == {recent, waiting.id, undone}
    assert await store.list_artifacts(old[0]) == []
    assert await store.get_artifact(old[0], "dump.txt") is None
