"""Schema version 2 of the SQLite store: migration, flaps of one episode, undos,
restore runs and artifacts, against real database files."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from alertreflex.core.models import RunState, Trigger
from alertreflex.store.base import Artifact, Store, Undo
from alertreflex.store.sqlite import SQLiteStore
from alertreflex.store.sqlite_schema import SCHEMA_VERSION
from tests.store.test_store import _alert, _batch, _run

# The version 1 schema as 0.1 development builds wrote it (runs unique per episode
# and trigger through a table constraint).
_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE notifications (id TEXT PRIMARY KEY, received_at REAL NOT NULL,
    receiver TEXT NOT NULL, status TEXT NOT NULL, group_key TEXT NOT NULL,
    alerts INTEGER NOT NULL, new_runs INTEGER NOT NULL, body BLOB NOT NULL);
CREATE INDEX notifications_received ON notifications(received_at);
CREATE TABLE episodes (fingerprint TEXT NOT NULL, starts_at TEXT NOT NULL,
    status TEXT NOT NULL, labels TEXT NOT NULL, annotations TEXT NOT NULL, ends_at TEXT,
    generator_url TEXT NOT NULL, first_seen REAL NOT NULL, resolved_seen REAL,
    PRIMARY KEY (fingerprint, starts_at)) WITHOUT ROWID;
CREATE TABLE runs (id TEXT PRIMARY KEY, reflex TEXT NOT NULL, team TEXT NOT NULL,
    fingerprint TEXT NOT NULL, starts_at TEXT NOT NULL, trigger TEXT NOT NULL,
    state TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL,
    not_before REAL NOT NULL, started_at REAL, finished_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0, notification_id TEXT NOT NULL,
    context BLOB NOT NULL, steps BLOB NOT NULL DEFAULT '[]',
    UNIQUE (reflex, fingerprint, starts_at, trigger));
CREATE INDEX runs_created ON runs(created_at);
CREATE INDEX runs_reflex_created ON runs(reflex, created_at);
CREATE INDEX runs_unfinished ON runs(state) WHERE state IN ('queued', 'running', 'interrupted');
INSERT INTO meta VALUES ('schema_version', '1');
INSERT INTO runs (id, reflex, team, fingerprint, starts_at, trigger, state, created_at,
    not_before, notification_id, context)
    VALUES ('old1', 'r1', 't', 'fp1', 'S', 'firing', 'succeeded', 1.0, 1.0, 'n', '{}');
"""


def _version_1_file(tmp_path: Path) -> Path:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(_V1)
    conn.close()
    return path


async def test_a_version_1_file_is_migrated_keeping_its_runs(tmp_path: Path) -> None:
    """Opening a version 1 file migrates it in place: old runs stay, and still dedupe."""
    path = _version_1_file(tmp_path)
    s = SQLiteStore(path)
    await s.open()
    try:
        old = await s.get_run("old1")
        assert old is not None and old.state is RunState.SUCCEEDED
        res = await s.ingest(_batch([_alert(starts="S")], [_run(starts="S")]))
        assert res.created == []  # the migrated run still makes this a duplicate
        assert await s.list_artifacts("old1") == []
        assert await s.controls() == []  # version 3 tables too
    finally:
        await s.close()
    conn = sqlite3.connect(path)
    version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert version == (str(SCHEMA_VERSION),)
    # Version 6 switched it to incremental auto_vacuum (one VACUUM at the migration).
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
    assert conn.execute("SELECT pruned_at FROM runs WHERE id = 'old1'").fetchone() == (None,)
    conn.close()


async def test_a_flap_of_the_same_episode_frees_its_resolved_run(store: Store) -> None:
    """Resolved, then firing again with the same startsAt within resolve_delay (what
    Alertmanager sends after a Prometheus reload): the waiting resolved run is skipped
    and superseded, so the episode's real resolution later gets a run of its own."""
    now = time.time()
    await store.ingest(_batch([_alert()], [_run(flap_window=30)], now=now))
    resolved = _run(trigger=Trigger.RESOLVED, not_before=now + 31)
    first = await store.ingest(_batch([_alert(status="resolved")], [resolved], now=now + 1))
    assert [r.id for r in first.created] == [resolved.id]
    again = await store.ingest(_batch([_alert()], [_run(flap_window=30)], now=now + 2))
    assert again.created == []  # the firing run of this episode exists already
    assert again.cancelled_resolved == [resolved.id]
    skipped = await store.get_run(resolved.id)
    assert skipped is not None and skipped.state is RunState.SKIPPED
    assert "flap" in skipped.reason
    real = _run(trigger=Trigger.RESOLVED)
    last = await store.ingest(_batch([_alert(status="resolved")], [real], now=now + 60))
    assert [r.id for r in last.created] == [real.id]


def _undo(step: int = 0, memo: dict[str, object] | None = None, run_id: str = "run1") -> Undo:
    return Undo(
        reflex="r1",
        fingerprint="fp1",
        step=step,
        action="log_level",
        starts_at="S",
        run_id=run_id,
        memo=memo if memo is not None else {"previous": "INFO", "set": "DEBUG"},
        created_at=time.time(),
    )


async def test_a_pending_undo_keeps_the_state_from_before_any_change(
    store: Store,
) -> None:
    """A second change while the first is not undone keeps the first memo (the level
    before alertreflex touched it); once undone, a new change is remembered anew."""
    await store.remember_undo(_undo())
    kept = await store.remember_undo(_undo(memo={"previous": "DEBUG", "set": "DEBUG"}))
    assert kept.memo == {"previous": "INFO", "set": "DEBUG"} and kept.run_id == "run1"
    assert [u.step for u in await store.pending_undos()] == [0]
    taken = await store.take_undo("r1", "fp1", 0, "restore1", time.time())
    assert taken is not None and taken.undone_by == "restore1"
    assert await store.pending_undos() == []
    again = await store.take_undo("r1", "fp1", 0, "resolved1", time.time())
    assert again is not None and again.undone_by == "restore1"  # someone else did it
    resumed = await store.take_undo("r1", "fp1", 0, "restore1", time.time())
    assert resumed is not None and resumed.undone_by == "restore1"  # same run resumed
    fresh = await store.remember_undo(_undo(memo={"previous": "WARN", "set": "DEBUG"}))
    assert fresh.memo["previous"] == "WARN" and fresh.undone_by is None
    assert await store.take_undo("r1", "fp1", 7, "x", time.time()) is None


async def test_a_resumed_step_finds_the_memo_it_stored_before_its_change(
    store: Store,
) -> None:
    """pending_undo returns the memo a step stored before changing anything (what a
    step resumed after a crash must use), whichever run stored it, until it is
    claimed for a restore; other steps and alerts have none."""
    assert await store.pending_undo("r1", "fp1", 0) is None
    await store.remember_undo(_undo(memo={"previous": None, "set": "DEBUG"}))
    found = await store.pending_undo("r1", "fp1", 0)
    assert found is not None and found.run_id == "run1"
    assert found.memo == {"previous": None, "set": "DEBUG"}
    assert await store.pending_undo("r1", "fp1", 1) is None
    assert await store.pending_undo("r1", "fp2", 0) is None
    await store.take_undo("r1", "fp1", 0, "resolved1", time.time())
    assert await store.pending_undo("r1", "fp1", 0) is None


async def test_a_writable_store_takes_the_probe_write(store: Store) -> None:
    """check_writable, the write that tells a failing store has recovered, succeeds
    on a healthy store, again and again."""
    await store.check_writable()
    await store.check_writable()


async def test_restore_runs_are_one_per_episode_and_can_be_brought_forward(
    store: Store,
) -> None:
    """add_run of a restore: a second one for the episode moves the first forward;
    cancel_restores skips it; a finished one is not added again."""
    now = time.time()
    await store.ingest(_batch([_alert()], [_run()], now=now))
    first = await store.add_run(_run(trigger=Trigger.RESTORE, not_before=now + 3600), now)
    assert first is not None
    sooner = await store.add_run(_run(trigger=Trigger.RESTORE, not_before=now), now)
    assert sooner is not None and sooner.id == first.id and sooner.not_before == now
    assert await store.cancel_restores("r1", "fp1", "resolved", now) == 1
    rec = await store.get_run(first.id)
    assert rec is not None and rec.state is RunState.SKIPPED and rec.reason == "resolved"
    assert await store.add_run(_run(trigger=Trigger.RESTORE, not_before=now), now) is None


async def test_artifacts_are_stored_listed_and_replaced(store: Store) -> None:
    """Artifacts keep their bytes and type; listing leaves the data out; a resumed
    attempt's artifact of the same name replaces the first."""
    art = Artifact("run1", "threaddump-1.txt", "text/plain", 5, 9, time.time(), b"hello")
    await store.save_artifact(art)
    listed = await store.list_artifacts("run1")
    assert [(a.name, a.size, a.data) for a in listed] == [("threaddump-1.txt", 5, b"")]
    assert listed[0].to_json()["truncated"] is True
    await store.save_artifact(Artifact("run1", "threaddump-1.txt", "text/plain", 2, 2, 0, b"hi"))
    got = await store.get_artifact("run1", "threaddump-1.txt")
    assert got is not None and got.data == b"hi"
    assert await store.get_artifact("run1", "nope") is None


async def test_version_5_prunes_resolved_episodes_through_an_index(tmp_path: Path) -> None:
    """Retention must not scan every episode under the write lock (schema v5); a
    migrated file gets the index too."""
    path = _version_1_file(tmp_path)
    s = SQLiteStore(path)
    await s.open()
    await s.close()
    conn = sqlite3.connect(path)
    plan = " ".join(
        str(row[-1])
        for row in conn.execute(
            "EXPLAIN QUERY PLAN SELECT fingerprint, starts_at FROM episodes"
            " WHERE status = 'resolved' AND resolved_seen < ? LIMIT ?",
            (1.0, 10),
        )
    )
    conn.close()
    assert "episodes_resolved" in plan, plan
