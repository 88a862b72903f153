"""Schema version 4 of the SQLite store: the approval state machine, re-runs and
firing episodes, against real database files."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from alertreflex.core.ids import new_id
from alertreflex.core.models import RunState, Trigger
from alertreflex.store.base import AuditEntry, NewRun, Store
from alertreflex.store.sqlite import SQLiteStore
from tests.store.test_store import _alert, _batch, _run


async def _waiting(store: Store, expires_at: float) -> str:
    run = _run()
    await store.ingest(_batch([_alert()], [run]))
    assert await store.await_approval(run.id, [{"index": 0, "params": {"x": 1}}], expires_at)
    return run.id


async def test_awaiting_runs_can_be_decided_once(store: Store) -> None:
    run_id = await _waiting(store, time.time() + 60)
    parked = await store.get_run(run_id)
    assert parked is not None and parked.state is RunState.AWAITING_APPROVAL
    assert parked.steps == [{"index": 0, "params": {"x": 1}}]
    assert not await store.await_approval(run_id, [], 0)  # no longer queued
    now = time.time()
    approved = await store.decide(
        run_id, True, AuditEntry(now, "alice", "approve", run_id, "ok"), now
    )
    assert approved is not None
    assert (approved.state, approved.approved_by, approved.checked) == (
        RunState.QUEUED,
        "alice",
        True,
    )
    # Decided: a second decision changes nothing and records nothing.
    assert (
        await store.decide(run_id, False, AuditEntry(now, "bob", "reject", run_id, "no"), now)
        is None
    )
    assert [e.who for e in await store.list_audit(target=run_id)] == ["alice"]
    # An approved run is claimable like any queued run.
    assert await store.claim(run_id, now, []) == 1


async def test_reject_expire_and_withdraw(store: Store) -> None:
    now = time.time()
    rejected = await _waiting(store, now + 60)
    done = await store.decide(
        rejected, False, AuditEntry(now, "bob", "reject", rejected, "no"), now
    )
    assert done is not None and done.state is RunState.REJECTED
    assert done.reason == "rejected by bob: no" and done.finished_at == now

    run = _run(fp="fp2")
    await store.ingest(_batch([_alert(fp="fp2")], [run]))
    await store.await_approval(run.id, [], now - 1)  # already past its deadline
    later = _run(fp="fp3")
    await store.ingest(_batch([_alert(fp="fp3")], [later]))
    await store.await_approval(later.id, [], now + 3600)
    assert await store.expire_approvals(now) == [(run.id, "r1")]
    expired = await store.get_run(run.id)
    assert expired is not None and expired.state is RunState.EXPIRED
    assert [(e.who, e.action) for e in await store.list_audit(target=run.id)] == [
        ("alertreflex", "expire")
    ]
    assert await store.expire_approvals(now) == []  # each expires once

    withdrawn = await store.withdraw_approvals("r1", "fp3", later.starts_at, "resolved", now)
    assert withdrawn == [later.id]
    gone = await store.get_run(later.id)
    assert gone is not None and (gone.state, gone.reason) == (RunState.SKIPPED, "resolved")


async def test_a_rerun_is_linked_and_outside_the_episode_key(store: Store) -> None:
    first = _run()
    await store.ingest(_batch([_alert()], [first]))
    now = time.time()
    assert await store.claim(first.id, now, []) == 1
    await store.finish(first.id, RunState.SUCCEEDED, "", now, [])
    old = await store.get_run(first.id)
    assert old is not None
    again = NewRun(
        id=new_id(),
        reflex=old.reflex,
        team=old.team,
        fingerprint=old.fingerprint,
        starts_at=old.starts_at,
        trigger=Trigger.FIRING,
        not_before=now,
        context=old.context,
    )
    await store.add_rerun(again, old, AuditEntry(now, "dave", "rerun", old.id, "why"), now)
    new = await store.get_run(again.id)
    assert new is not None
    assert (new.state, new.manual_by, new.rerun_of, new.checked) == (
        RunState.QUEUED,
        "dave",
        old.id,
        True,
    )
    # The episode's own firing run is still the one its key knows.
    assert (
        await store.run_state("r1", old.fingerprint, old.starts_at, "firing") is RunState.SUCCEEDED
    )
    assert (await store.ingest(_batch([_alert()], [_run()]))).created == []


async def test_firing_episodes_newest_first(store: Store) -> None:
    await store.ingest(
        _batch(
            [
                _alert(fp="a", starts="2026-11-25T01:00:00.000000Z"),
                _alert(fp="b", starts="2026-11-25T02:00:00.000000Z"),
                _alert(fp="c", starts="2026-11-25T03:00:00.000000Z", status="resolved"),
            ],
            [],
        )
    )
    assert [e.fingerprint for e in await store.firing_episodes()] == ["b", "a"]


@pytest.fixture
async def v3_file(tmp_path: Path) -> Path:
    """A store written at schema version 3, with a run in it."""
    import sqlite3

    from alertreflex.store import sqlite_schema

    path = tmp_path / "v3.db"
    conn = sqlite3.connect(path, isolation_level=None)
    create = (
        sqlite_schema._V1
        + sqlite_schema._RUNS_TABLE
        + sqlite_schema._RUNS_INDEXES
        + sqlite_schema._V2_TABLES
        + sqlite_schema._V3_TABLES
    )
    conn.executescript(
        create
        + "INSERT INTO meta VALUES ('schema_version', '3');"
        + "INSERT INTO runs (id, reflex, team, fingerprint, starts_at, trigger, state,"
        " created_at, not_before, notification_id, context) VALUES"
        " ('old', 'r1', 't', 'fp', 'S', 'firing', 'succeeded', 1, 1, 'n', '{}');"
    )
    conn.close()
    return path


async def test_a_version_3_file_is_migrated(v3_file: Path) -> None:
    s = SQLiteStore(v3_file)
    await s.open()
    try:
        old = await s.get_run("old")
        assert old is not None and (old.approved_by, old.rerun_of, old.checked) == (
            None,
            None,
            False,
        )
        assert await s.list_runs(state="awaiting_approval") == []
    finally:
        await s.close()
