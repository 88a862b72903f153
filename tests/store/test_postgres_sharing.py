"""What only a shared store does: several replicas on one real PostgreSQL.

Each "replica" here is a PostgresStore with its own id and connection pool, as
separate processes have; the replica tests in tests/replicas run real servers.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import asyncpg
import pytest

from alertreflex.core.models import RunState
from alertreflex.store.base import GLOBAL, Gate, Guard
from alertreflex.store.migrations import migrate_store
from alertreflex.store.postgres import LEASE, PostgresStore
from alertreflex.store.postgres_schema import SCHEMA_VERSION
from alertreflex.store.urls import open_store
from tests.pg import fresh_schema
from tests.store.test_store import _alert, _batch, _run

Replicas = Callable[..., Coroutine[Any, Any, list[PostgresStore]]]


@pytest.fixture
async def replicas() -> AsyncIterator[Replicas]:
    opened: list[PostgresStore] = []
    async with fresh_schema() as dsn:
        await migrate_store(dsn)

        async def make(n: int, lease: float = LEASE) -> list[PostgresStore]:
            new = [PostgresStore(dsn, replica=f"r{len(opened) + i}", lease=lease) for i in range(n)]
            for s in new:
                await s.open()
            opened.extend(new)
            return new

        yield make
        for s in opened:
            await s.close()


async def test_the_same_notification_at_every_replica_makes_one_run(replicas: Replicas) -> None:
    """An Alertmanager HA pair sends each notification to every replica: one run."""
    stores = await replicas(3)
    for _ in range(20):
        results = await asyncio.gather(
            *[
                s.ingest(
                    _batch(
                        [_alert(fp=f"fp{i}") for i in range(5)],
                        [_run(fp=f"fp{i}") for i in range(5)],
                    )
                )
                for s in stores
            ]
        )
    assert sum(len(r.created) for r in results) == 0  # the last round: all duplicates
    runs = await stores[0].list_runs(limit=100)
    assert len(runs) == 5
    assert len({(r.fingerprint, r.trigger) for r in runs}) == 5


async def test_a_run_is_claimed_by_one_replica_only(replicas: Replicas) -> None:
    stores = await replicas(3)
    (run,) = (await stores[0].ingest(_batch([_alert()], [_run()]))).created
    attempts = await asyncio.gather(*[s.claim(run.id, time.time(), []) for s in stores])
    assert sorted(attempts, key=lambda a: a or 0) == [None, None, 1]


async def test_runs_of_a_live_replica_stay_its_own(replicas: Replicas) -> None:
    a, b = await replicas(2, lease=1.0)
    (queued,) = (await a.ingest(_batch([_alert(fp="q")], [_run(fp="q")]))).created
    (running,) = (await a.ingest(_batch([_alert(fp="r")], [_run(fp="r")]))).created
    a.renew_leases_of(lambda: [queued.id, running.id])
    assert await a.claim(running.id, time.time(), []) == 1
    await asyncio.sleep(1.5)  # past the first lease: renewed since
    assert await b.take_over(time.time()) == []
    # a stops renewing (it died): past its lease b takes both; the running one resumes.
    a.renew_leases_of(list)
    await asyncio.sleep(1.5)
    taken = {r.id: r for r in await b.take_over(time.time())}
    assert set(taken) == {queued.id, running.id}
    assert taken[queued.id].state is RunState.QUEUED
    assert taken[running.id].state is RunState.INTERRUPTED
    assert "lease expired" in taken[running.id].reason
    assert await b.claim(running.id, time.time(), []) == 2


async def test_nothing_is_taken_over_until_a_lease_after_an_outage(replicas: Replicas) -> None:
    """The owners could not renew while the database was away either: a replica
    that saw it go waits a whole lease with it back before taking anything."""
    (dead,) = await replicas(1, lease=1.0)
    await dead.ingest(_batch([_alert()], [_run()]))
    (b,) = await replicas(1, lease=1.0)
    await asyncio.sleep(1.2)
    b._reachable_since = None  # as after a failed statement (the outage)
    await b.ping()
    assert await b.take_over(time.time() + 5) == []
    await asyncio.sleep(1.1)
    assert len(await b.take_over(time.time() + 5)) == 1


async def test_a_clean_stop_hands_queued_runs_over_at_once(replicas: Replicas) -> None:
    a, b = await replicas(2, lease=1.0)
    (run,) = (await a.ingest(_batch([_alert()], [_run()]))).created
    await asyncio.sleep(1.1)  # b has been connected a whole lease
    a.renew_leases_of(lambda: [run.id])
    assert await a.release() == 1
    (taken,) = await b.take_over(time.time())
    assert taken.id == run.id


async def test_take_over_splits_orphans_between_replicas(replicas: Replicas) -> None:
    (dead,) = await replicas(1)
    for i in range(200):
        await dead.ingest(_batch([_alert(fp=f"f{i}")], [_run(fp=f"f{i}")]))
    later = time.time() + LEASE + 1
    stores = await replicas(3, lease=1.0)
    await asyncio.sleep(1.1)
    taken = await asyncio.gather(*[s.take_over(later) for s in stores])
    ids = [r.id for t in taken for r in t]
    assert len(ids) == len(set(ids)) == 200
    assert await stores[0].take_over(later, limit=0) == []


async def test_leases_are_renewed_while_the_replica_lives(replicas: Replicas) -> None:
    a, b = await replicas(2, lease=0.6)
    (run,) = (await a.ingest(_batch([_alert()], [_run()]))).created
    (dropped,) = (await a.ingest(_batch([_alert(fp="x")], [_run(fp="x")]))).created
    a.renew_leases_of(lambda: [run.id])  # holds run; dropped was lost (a crash)
    assert await a.claim(run.id, time.time(), []) == 1
    await asyncio.sleep(1.5)  # past the first lease: run's renewed twice since
    (taken,) = await b.take_over(time.time())
    assert taken.id == dropped.id
    b.renew_leases_of(lambda: [dropped.id])
    await a.close()  # renewals stop (the run stays running: a died mid-run)
    await asyncio.sleep(0.8)
    (taken,) = await b.take_over(time.time())
    assert (taken.id, taken.state) == (run.id, RunState.INTERRUPTED)


async def test_serve_refuses_an_unmigrated_or_newer_schema() -> None:
    async with fresh_schema() as dsn:
        with pytest.raises(Exception, match="run `alertreflex migrate --storage URL` first"):
            await open_store(dsn).open()
        await migrate_store(dsn)
        conn = await asyncpg.connect(dsn)
        await conn.execute(
            "UPDATE meta SET value = $1 WHERE key = 'schema_version'", str(SCHEMA_VERSION + 1)
        )
        await conn.close()
        with pytest.raises(
            Exception, match=f"schema version {SCHEMA_VERSION + 1}; this alertreflex knows up to"
        ):
            await open_store(dsn).open()


async def test_a_cooldown_lets_one_of_several_replicas_start(replicas: Replicas) -> None:
    stores = await replicas(3)
    runs = [
        (await s.ingest(_batch([_alert(fp=f"c{i}")], [_run(fp=f"c{i}")]))).created[0]
        for i, s in enumerate(stores)
    ]
    gate = Gate("r1", cooldown=60, guards=[])
    claims = await asyncio.gather(
        *[s.claim_gated(r.id, time.time(), [], gate) for s, r in zip(stores, runs, strict=True)]
    )
    assert sorted(c.attempt or 0 for c in claims) == [0, 0, 1]
    assert sorted(c.refused for c in claims) == ["", "cooldown", "cooldown"]
    # An operator's decision is not held back, and counts as a start.
    refused = next(r for r, c in zip(runs, claims, strict=True) if c.refused)
    forced = await stores[0].claim_gated(
        refused.id, time.time(), [], Gate("r1", 60, [], enforce=False)
    )
    assert forced.attempt == 1
    (row,) = await stores[1].gates()
    assert row.scope == "r1" and row.last_start is not None


async def test_a_storm_guard_counts_the_starts_of_every_replica(replicas: Replicas) -> None:
    stores = await replicas(3)
    runs = [
        (await stores[i % 3].ingest(_batch([_alert(fp=f"s{i}")], [_run(fp=f"s{i}")]))).created[0]
        for i in range(9)
    ]
    gate = Gate("r1", cooldown=0, guards=[Guard("r1", 2, 60), Guard(GLOBAL, 3, 60)])
    claims = await asyncio.gather(
        *[stores[i % 3].claim_gated(r.id, time.time(), [], gate) for i, r in enumerate(runs)]
    )
    assert sum(1 for c in claims if c.attempt) == 2
    assert {c.refused for c in claims if not c.attempt} == {"storm_guard"}
    rows = {r.scope: r for r in await stores[0].gates()}
    assert (rows["r1"].window_runs, rows[GLOBAL].window_runs) == (2, 2)
    # The window closes: starts are allowed again.
    blocked = next(r for r, c in zip(runs, claims, strict=True) if not c.attempt)
    again = await stores[1].claim_gated(blocked.id, time.time() + 61, [], gate)
    assert (again.attempt, again.refused) == (1, "")


async def test_a_replica_that_lost_the_race_changes_nothing(replicas: Replicas) -> None:
    a, b = await replicas(2)
    (run,) = (await a.ingest(_batch([_alert()], [_run()]))).created
    gate = Gate("r1", cooldown=300, guards=[])
    assert (await a.claim_gated(run.id, time.time(), [], gate)).attempt == 1
    # b still had it queued: not claimable any more, so not refused (and not skipped).
    late = await b.claim_gated(run.id, time.time(), [], gate)
    assert (late.attempt, late.refused) == (None, "")
    await b.finish(run.id, RunState.SKIPPED, "cooldown", time.time(), [], started=False)
    await b.finish(run.id, RunState.FAILED, "not mine", time.time(), [])
    rec = await a.get_run(run.id)
    assert rec is not None and rec.state is RunState.RUNNING
    await a.finish(run.id, RunState.SUCCEEDED, "", time.time(), [])
    await b.finish(run.id, RunState.SKIPPED, "late", time.time(), [], started=False)
    rec = await a.get_run(run.id)
    assert rec is not None and (rec.state, rec.reason) == (RunState.SUCCEEDED, "")


async def test_concurrent_notifications_share_transactions_and_keep_their_results(
    replicas: Replicas,
) -> None:
    """Group commit: notifications that arrive together commit together, and each
    still learns which of its runs were new."""
    (store,) = await replicas(1)
    first = [_batch([_alert(fp=f"g{i}")], [_run(fp=f"g{i}")]) for i in range(40)]
    results = await asyncio.gather(*[store.ingest(b) for b in first])
    assert [len(r.created) for r in results] == [1] * 40
    assert [r.created[0].id for r in results] == [b.runs[0].id for b in first]
    assert store._ingests.shared > 0  # some of them did share a transaction
    again = [_batch([_alert(fp=f"g{i}")], [_run(fp=f"g{i}")]) for i in range(40)]
    results = await asyncio.gather(*[store.ingest(b) for b in again])
    assert all(r.duplicate for r in results)
    assert len(await store.list_runs(limit=100)) == 40


async def test_a_notification_that_cannot_be_stored_fails_alone(replicas: Replicas) -> None:
    """A batch that fails is tried again one by one: only the bad notification
    reports an error."""
    (store,) = await replicas(1)
    bad = _run(fp="bad")
    bad.context = {"unserialisable": object()}
    batches = [_batch([_alert(fp=f"ok{i}")], [_run(fp=f"ok{i}")]) for i in range(10)]
    batches.insert(5, _batch([_alert(fp="bad")], [bad]))
    results = await asyncio.gather(*[store.ingest(b) for b in batches], return_exceptions=True)
    assert isinstance(results[5], Exception)
    good = [r for i, r in enumerate(results) if i != 5]
    assert all(not isinstance(r, BaseException) and len(r.created) == 1 for r in good)
    assert len(await store.list_runs(limit=100)) == 10


async def test_replicas_given_the_same_notifications_in_any_order_make_each_run_once(
    replicas: Replicas,
) -> None:
    """HA pairs deliver to every replica, in no particular order: batches overlap
    and lock the same episodes; none fails, and each episode gets one run."""
    stores = await replicas(3)
    # 30 notifications of two alerts each, every alert in two of them.
    notes = [sorted({f"h{i}", f"h{(i * 7 + 3) % 30}"}) for i in range(30)]
    rng = random.Random(7)

    async def deliver(store: PostgresStore) -> int:
        order = list(range(30))
        rng.shuffle(order)
        batches = [
            _batch([_alert(fp=a) for a in notes[i]], [_run(fp=a) for a in notes[i]]) for i in order
        ]
        results = await asyncio.gather(*[store.ingest(b) for b in batches])
        return sum(len(r.created) for r in results)

    created = await asyncio.gather(*[deliver(s) for s in stores])
    assert sum(created) == 30
    runs = await stores[0].list_runs(limit=200)
    assert len(runs) == 30 == len({r.fingerprint for r in runs})


async def test_concurrent_claims_and_ends_share_transactions(replicas: Replicas) -> None:
    """Run claims and ends commit together under load; each still gets its own answer:
    a run two replicas race for is claimed once, and only its owner's end counts."""
    a, b = await replicas(2)
    alerts = [_alert(fp=f"c{i}") for i in range(30)]
    created = (await a.ingest(_batch(alerts, [_run(fp=f"c{i}") for i in range(30)]))).created
    now = time.time()
    claims = await asyncio.gather(*[s.claim(r.id, now, []) for r in created for s in (a, b)])
    assert sorted(c for c in claims if c is not None) == [1] * 30  # one winner per run
    assert a._run_writes.shared + b._run_writes.shared > 0
    runs = {r.id: r for r in await a.list_runs(limit=100)}
    assert all(runs[r.id].state is RunState.RUNNING for r in created)
    # The loser's end must change nothing: it says "failed", the owner "succeeded".
    ends = [
        s.finish(r.id, RunState.SUCCEEDED if won else RunState.FAILED, "", time.time(), [])
        for r, pair in zip(created, zip(claims[::2], claims[1::2], strict=True), strict=True)
        for s, won in zip((a, b), (pair[0] is not None, pair[1] is not None), strict=True)
    ]
    await asyncio.gather(*ends)
    runs = {r.id: r for r in await a.list_runs(limit=100)}
    assert all(runs[r.id].state is RunState.SUCCEEDED for r in created)
