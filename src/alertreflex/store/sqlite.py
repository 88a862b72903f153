"""The embedded store: one SQLite file in WAL mode, written through group commit."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import structlog

from alertreflex.core.models import RunState, Trigger
from alertreflex.store.base import (
    AlertRecord,
    Artifact,
    AuditEntry,
    Control,
    Ingest,
    IngestResult,
    NewRun,
    Pruned,
    QueueFullError,
    RunRecord,
    Store,
    StoreError,
    Undo,
)
from alertreflex.store.groupcommit import GroupCommitWriter
from alertreflex.store.sqlite_schema import (
    SchemaError,
    check_file,
    ensure_schema,
    prepare_new_file,
)

log = structlog.get_logger("alertreflex.store")

_RUN_COLUMNS = (
    "id, reflex, team, fingerprint, starts_at, trigger, state, reason, created_at, not_before, "
    "started_at, finished_at, attempts, notification_id, context, steps, expires_at,"
    " approved_by, manual_by, rerun_of, pruned_at"
)


def _row_to_run(row: tuple[Any, ...]) -> RunRecord:
    return RunRecord(
        id=row[0],
        reflex=row[1],
        team=row[2],
        fingerprint=row[3],
        starts_at=row[4],
        trigger=Trigger(row[5]),
        state=RunState(row[6]),
        reason=row[7],
        created_at=row[8],
        not_before=row[9],
        started_at=row[10],
        finished_at=row[11],
        attempts=row[12],
        notification_id=row[13],
        context=orjson.loads(row[14]),
        steps=orjson.loads(row[15]),
        expires_at=row[16],
        approved_by=row[17],
        manual_by=row[18],
        rerun_of=row[19],
        pruned_at=row[20],
    )


def _connect(path: str, *, readonly: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA busy_timeout = 30000")
    if readonly:
        conn.execute("PRAGMA query_only = ON")
    else:
        prepare_new_file(conn)  # before WAL mode, which already writes the header
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a commit is on disk before the webhook answers 200, power loss included.
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA temp_store = MEMORY")
        # 512 KiB rather than 2 MiB: the writer's statements touch a few dozen pages
        # (the tails of tables and indexes), and the kernel's page cache holds the rest;
        # measured: the flood's RSS 2 MiB lower, actions/s unchanged (bench/peers.py).
        conn.execute("PRAGMA cache_size = -512")
        conn.executescript(_TEMP_TABLES)
    return conn


# --- operations run inside the writer's transaction --------------------------------


_EPISODE_COLUMNS = (
    "fingerprint, starts_at, status, labels, annotations, ends_at, generator_url,"
    " first_seen, resolved_seen"
)
_EPISODE_UPSERT = (
    " ON CONFLICT (fingerprint, starts_at) DO UPDATE SET status = excluded.status,"
    " ends_at = excluded.ends_at, resolved_seen = excluded.resolved_seen"
    " WHERE episodes.status != excluded.status"
)
_NEW_RUN_COLUMNS = (
    "id, reflex, team, fingerprint, starts_at, trigger, state, reason, created_at,"
    " not_before, notification_id, context, finished_at"
)
# The target of the partial unique index: one run per episode and trigger, superseded
# runs (cancelled by a flap) aside.
_RUN_KEY = " ON CONFLICT (reflex, fingerprint, starts_at, trigger) WHERE superseded = 0"
_RUN_CONFLICT = _RUN_KEY + " DO NOTHING"
# Past this many rows, rows go through a temporary table with one executemany and
# one INSERT ... SELECT, which saves the per-statement Python overhead of one
# execute per row.
_BULK = 4
# SQL text built once from the constants above; values are always bound parameters.
_INSERT_EPISODE = (
    f"INSERT INTO episodes ({_EPISODE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)"  # noqa: S608
    + _EPISODE_UPSERT
)
_INSERT_EPISODES_IN = (
    f"INSERT INTO episodes ({_EPISODE_COLUMNS}) SELECT * FROM episodes_in WHERE true"  # noqa: S608
    + _EPISODE_UPSERT
    + " RETURNING 1"
)
_INSERT_RUN_VALUES = f"INSERT INTO runs ({_NEW_RUN_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"  # noqa: S608
_INSERT_RUN = _INSERT_RUN_VALUES + _RUN_CONFLICT
_INSERT_RERUN = (
    f"INSERT INTO runs ({_NEW_RUN_COLUMNS}, superseded, manual_by, rerun_of)"  # noqa: S608
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,1,?,?)"
)
_INSERT_RUNS_IN = (
    f"INSERT INTO runs ({_NEW_RUN_COLUMNS}) SELECT * FROM runs_in WHERE true"  # noqa: S608
    + _RUN_CONFLICT
    + " RETURNING id"
)
_TEMP_TABLES = f"""
CREATE TEMP TABLE IF NOT EXISTS episodes_in ({_EPISODE_COLUMNS});
CREATE TEMP TABLE IF NOT EXISTS runs_in ({_NEW_RUN_COLUMNS});
"""


def _episode_row(a: AlertRecord, now: float) -> tuple[Any, ...]:
    return (
        a.fingerprint,
        a.starts_at,
        a.status,
        orjson.dumps(a.labels).decode(),
        orjson.dumps(a.annotations).decode(),
        a.ends_at,
        a.generator_url,
        now,
        now if a.status == "resolved" else None,
    )


def _run_row(r: NewRun, received_at: float, notification_id: str) -> tuple[Any, ...]:
    return (
        r.id,
        r.reflex,
        r.team,
        r.fingerprint,
        r.starts_at,
        str(r.trigger),
        str(r.state),
        r.reason,
        received_at,
        r.not_before,
        notification_id,
        orjson.dumps(r.context),
        received_at if r.state is RunState.SKIPPED else None,
    )


def _upsert_episodes(conn: sqlite3.Connection, b: Ingest) -> int:
    """Store the alerts' episodes; return how many are new or changed status."""
    rows = [_episode_row(a, b.received_at) for a in b.alerts]
    if len(rows) < _BULK:
        return sum(conn.execute(_INSERT_EPISODE, row).rowcount for row in rows)
    conn.execute("DELETE FROM episodes_in")
    conn.executemany("INSERT INTO episodes_in VALUES (?,?,?,?,?,?,?,?,?)", rows)
    return len(conn.execute(_INSERT_EPISODES_IN).fetchall())


def _insert_runs(conn: sqlite3.Connection, b: Ingest, runs: list[NewRun]) -> list[NewRun]:
    """Insert runs that are not there yet; return those that were new."""
    if len(runs) < _BULK:
        return [
            r
            for r in runs
            if conn.execute(_INSERT_RUN, _run_row(r, b.received_at, b.notification_id)).rowcount
        ]
    conn.execute("DELETE FROM runs_in")
    conn.executemany(
        "INSERT INTO runs_in VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [_run_row(r, b.received_at, b.notification_id) for r in runs],
    )
    created = {row[0] for row in conn.execute(_INSERT_RUNS_IN)}
    return [r for r in runs if r.id in created]


def _op_ingest(conn: sqlite3.Connection, b: Ingest) -> IngestResult:
    result = IngestResult(changed_alerts=_upsert_episodes(conn, b))
    for r in b.runs:
        r.initial()  # this may be a redo of the batch
        if r.flap_window <= 0:
            continue
        # A resolved run still waiting out resolve_delay means the alert resolved less
        # than resolve_delay ago: this firing is a flap. The resolved run is cancelled
        # and superseded, so that the episode's real resolution gets a run of its own.
        rows = conn.execute(
            "UPDATE runs SET state = 'skipped', finished_at = ?, superseded = 1,"
            " reason = 'flap: fired again within resolve_delay' WHERE reflex = ?"
            " AND fingerprint = ? AND trigger = 'resolved' AND state = 'queued'"
            " AND superseded = 0 RETURNING id",
            (b.received_at, r.reflex, r.fingerprint),
        ).fetchall()
        result.cancelled_resolved.extend(row[0] for row in rows)
        since = b.received_at - r.flap_window
        if r.state is RunState.QUEUED and _is_flap(conn, r.fingerprint, r.starts_at, since):
            r.state = RunState.SKIPPED
            r.reason = "flap: continues an episode of this alert that resolved within resolve_delay"
    result.created = _insert_runs(conn, b, b.runs)
    queued = sum(1 for r in result.created if r.state is RunState.QUEUED)
    if queued > b.capacity:
        raise QueueFullError(f"{queued} new runs but room for {b.capacity}")
    for r in result.created:
        if r.steps:  # a dry run skipped at intake: what it would have done
            conn.execute("UPDATE runs SET steps = ? WHERE id = ?", (orjson.dumps(r.steps), r.id))
        elif r.start and r.state is RunState.QUEUED:
            # Claimed here rather than in a write of its own: one commit less
            # between the alert and its action.
            conn.execute(
                "UPDATE runs SET state = 'running', attempts = 1, started_at = ? WHERE id = ?",
                (b.received_at, r.id),
            )
            r.state = RunState.RUNNING
    if b.runs and not result.created:
        r = b.runs[0]
        row = conn.execute(
            "SELECT id FROM runs WHERE reflex = ? AND fingerprint = ? AND starts_at = ?"
            " AND trigger = ? AND superseded = 0",
            (r.reflex, r.fingerprint, r.starts_at, str(r.trigger)),
        ).fetchone()
        result.existing = row[0] if row else ""
    # A repeat of a body stored before (after a restart, or from a peer): count it.
    if (
        b.digest
        and not (result.created or result.changed_alerts or result.cancelled_resolved)
        and conn.execute(_COUNT_REPEAT, (b.received_at, b.digest)).rowcount
    ):
        return result
    conn.execute(
        "INSERT INTO notifications (id, received_at, receiver, status, group_key, alerts,"
        " new_runs, body, digest) VALUES (?,?,?,?,?,?,?,?,?)",
        (
            b.notification_id,
            b.received_at,
            b.receiver,
            b.status,
            b.group_key,
            len(b.alerts),
            len(result.created),
            b.body,
            b.digest or None,
        ),
    )
    return result


_COUNT_REPEAT = (
    "UPDATE notifications SET repeats = repeats + 1,"
    " last_received_at = max(coalesce(last_received_at, 0), ?) WHERE id ="
    " (SELECT id FROM notifications WHERE digest = ? ORDER BY received_at DESC LIMIT 1)"
)


def _is_flap(conn: sqlite3.Connection, fingerprint: str, starts_at: str, since: float) -> bool:
    """Did another episode of this fingerprint resolve after ``since``?"""
    row = conn.execute(
        "SELECT 1 FROM episodes WHERE fingerprint = ? AND starts_at != ?"
        " AND resolved_seen > ? LIMIT 1",
        (fingerprint, starts_at, since),
    ).fetchone()
    return row is not None


def _op_claim(conn: sqlite3.Connection, run_id: str, now: float, steps: bytes) -> int | None:
    row = conn.execute(
        "UPDATE runs SET state = 'running', attempts = attempts + 1,"
        " started_at = coalesce(started_at, ?), steps = ?"
        " WHERE id = ? AND state IN ('queued', 'interrupted') RETURNING attempts",
        (now, steps, run_id),
    ).fetchone()
    return None if row is None else int(row[0])


def _op_save_steps(conn: sqlite3.Connection, run_id: str, steps: bytes) -> None:
    conn.execute("UPDATE runs SET steps = ? WHERE id = ?", (steps, run_id))


def _op_finish(
    conn: sqlite3.Connection,
    run_id: str,
    state: str,
    reason: str,
    now: float,
    steps: bytes,
    started: bool,
) -> None:
    conn.execute(
        "UPDATE runs SET state = ?, reason = ?, finished_at = ?, steps = ?,"
        " started_at = CASE WHEN ? THEN coalesce(started_at, ?) ELSE started_at END"
        " WHERE id = ?",
        (state, reason, None if state == "interrupted" else now, steps, started, now, run_id),
    )


def _op_interrupt_running(conn: sqlite3.Connection, reason: str) -> int:
    return conn.execute(
        "UPDATE runs SET state = 'interrupted', reason = ? WHERE state = 'running'", (reason,)
    ).rowcount


def _op_add_run(conn: sqlite3.Connection, r: NewRun, now: float) -> NewRun | None:
    r.state, r.reason = RunState.QUEUED, ""
    row = conn.execute(
        _INSERT_RUN_VALUES + _RUN_KEY + " DO UPDATE SET not_before ="
        " min(not_before, excluded.not_before) WHERE state = 'queued' RETURNING id, not_before",
        _run_row(r, now, ""),  # no notification: the engine made this run
    ).fetchone()
    if row is None:
        return None
    r.id, r.not_before = row[0], row[1]
    return r


def _op_cancel_restores(
    conn: sqlite3.Connection, reflex: str, fingerprint: str, reason: str, now: float
) -> int:
    return conn.execute(
        "UPDATE runs SET state = 'skipped', reason = ?, finished_at = ? WHERE reflex = ?"
        " AND fingerprint = ? AND trigger = 'restore' AND state = 'queued'",
        (reason, now, reflex, fingerprint),
    ).rowcount


def _op_save_artifact(conn: sqlite3.Connection, a: Artifact) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO artifacts (run_id, name, content_type, size, original_size,"
        " created_at, data) VALUES (?,?,?,?,?,?,?)",
        (a.run_id, a.name, a.content_type, a.size, a.original_size, a.created_at, a.data),
    )


_UNDO_COLUMNS = (
    "reflex, fingerprint, step, action, starts_at, run_id, memo, created_at, undone_by, undone_at"
)


def _row_to_undo(row: tuple[Any, ...]) -> Undo:
    return Undo(
        reflex=row[0],
        fingerprint=row[1],
        step=row[2],
        action=row[3],
        starts_at=row[4],
        run_id=row[5],
        memo=orjson.loads(row[6]),
        created_at=row[7],
        undone_by=row[8],
        undone_at=row[9],
    )


def _undo_of(conn: sqlite3.Connection, reflex: str, fingerprint: str, step: int) -> Undo | None:
    row = conn.execute(
        f"SELECT {_UNDO_COLUMNS} FROM undos WHERE reflex = ? AND fingerprint = ?"  # noqa: S608
        " AND step = ?",
        (reflex, fingerprint, step),
    ).fetchone()
    return None if row is None else _row_to_undo(row)


def _op_remember_undo(conn: sqlite3.Connection, u: Undo) -> Undo:
    row = conn.execute(
        f"INSERT INTO undos ({_UNDO_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,NULL,NULL)"  # noqa: S608
        " ON CONFLICT (reflex, fingerprint, step) DO UPDATE SET action = excluded.action,"
        " starts_at = excluded.starts_at, run_id = excluded.run_id, memo = excluded.memo,"
        " created_at = excluded.created_at, undone_by = NULL, undone_at = NULL"
        # Still pending: keep the older memo, the state before alertreflex changed it.
        " WHERE undos.undone_by IS NOT NULL"
        f" RETURNING {_UNDO_COLUMNS}",
        (
            u.reflex,
            u.fingerprint,
            u.step,
            u.action,
            u.starts_at,
            u.run_id,
            orjson.dumps(u.memo),
            u.created_at,
        ),
    ).fetchone()
    if row is not None:
        return _row_to_undo(row)
    kept = _undo_of(conn, u.reflex, u.fingerprint, u.step)
    assert kept is not None  # the conflict that kept it proves it is there
    return kept


def _op_take_undo(
    conn: sqlite3.Connection, reflex: str, fingerprint: str, step: int, run_id: str, now: float
) -> Undo | None:
    conn.execute(
        "UPDATE undos SET undone_by = ?, undone_at = ? WHERE reflex = ? AND fingerprint = ?"
        " AND step = ? AND undone_by IS NULL",
        (run_id, now, reflex, fingerprint, step),
    )
    return _undo_of(conn, reflex, fingerprint, step)


def _op_touch(conn: sqlite3.Connection, now: float) -> None:
    # A real write (a WAL frame and an fsync), to tell whether the disk takes one.
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('checked_writable', ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (repr(now),),
    )


_CONTROL_COLUMNS = "scope, kind, reason, by, since"


def _insert_audit(conn: sqlite3.Connection, e: AuditEntry) -> None:
    conn.execute(
        "INSERT INTO audit (at, who, action, target, reason, details) VALUES (?,?,?,?,?,?)",
        (e.at, e.who, e.action, e.target, e.reason, orjson.dumps(e.details)),
    )


def _op_set_control(
    conn: sqlite3.Connection, scope: str, c: Control | None, audit: AuditEntry
) -> Control | None:
    row = conn.execute(
        f"SELECT {_CONTROL_COLUMNS} FROM controls WHERE scope = ?",  # noqa: S608
        (scope,),
    ).fetchone()
    if c is None:
        conn.execute("DELETE FROM controls WHERE scope = ?", (scope,))
    else:
        conn.execute(
            f"INSERT OR REPLACE INTO controls ({_CONTROL_COLUMNS}) VALUES (?,?,?,?,?)",  # noqa: S608
            (scope, c.kind, c.reason, c.by, c.since),
        )
    _insert_audit(conn, audit)
    return None if row is None else Control(*row)


def _op_await_approval(
    conn: sqlite3.Connection, run_id: str, steps: bytes, expires_at: float
) -> bool:
    return bool(
        conn.execute(
            "UPDATE runs SET state = 'awaiting_approval', steps = ?, expires_at = ?,"
            " reason = 'awaiting approval' WHERE id = ? AND state = 'queued'",
            (steps, expires_at, run_id),
        ).rowcount
    )


def _op_decide(
    conn: sqlite3.Connection, run_id: str, approve: bool, audit: AuditEntry, now: float
) -> RunRecord | None:
    if approve:
        sql = (
            "UPDATE runs SET state = 'queued', approved_by = ?, reason = ?"
            " WHERE id = ? AND state = 'awaiting_approval'"
        )
        params: tuple[Any, ...] = (audit.who, f"approved by {audit.who}: {audit.reason}", run_id)
    else:
        sql = (
            "UPDATE runs SET state = 'rejected', reason = ?, finished_at = ?"
            " WHERE id = ? AND state = 'awaiting_approval'"
        )
        params = (f"rejected by {audit.who}: {audit.reason}", now, run_id)
    if not conn.execute(sql, params).rowcount:
        return None
    _insert_audit(conn, audit)
    row = conn.execute(
        f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?",  # noqa: S608
        (run_id,),
    ).fetchone()
    return _row_to_run(row)


def _op_expire_approvals(conn: sqlite3.Connection, now: float) -> list[tuple[str, str]]:
    rows = conn.execute(
        "UPDATE runs SET state = 'expired', finished_at = ?,"
        " reason = 'expired: nobody approved it within its approval_timeout'"
        " WHERE state = 'awaiting_approval' AND expires_at <= ? RETURNING id, reflex",
        (now, now),
    ).fetchall()
    for run_id, _reflex in rows:
        _insert_audit(
            conn,
            AuditEntry(now, "alertreflex", "expire", run_id, "nobody approved it in time"),
        )
    return [(r[0], r[1]) for r in rows]


def _op_withdraw_approvals(
    conn: sqlite3.Connection, reflex: str, fingerprint: str, starts_at: str, reason: str, now: float
) -> list[str]:
    rows = conn.execute(
        "UPDATE runs SET state = 'skipped', reason = ?, finished_at = ? WHERE reflex = ?"
        " AND fingerprint = ? AND starts_at = ? AND state = 'awaiting_approval' RETURNING id",
        (reason, now, reflex, fingerprint, starts_at),
    ).fetchall()
    return [r[0] for r in rows]


def _op_add_rerun(
    conn: sqlite3.Connection, r: NewRun, of: RunRecord, audit: AuditEntry, now: float
) -> None:
    # superseded = 1 keeps a manual run out of the episode's once-only key: the
    # episode's own runs and flap handling never see it.
    conn.execute(_INSERT_RERUN, (*_run_row(r, now, of.notification_id), audit.who, of.id))
    _insert_audit(conn, audit)


# What a run keeps after retention: everything but its context and steps.
_KEPT_COLUMNS = (
    "id, reflex, team, fingerprint, starts_at, trigger, state, reason, created_at,"
    " not_before, started_at, finished_at, attempts, notification_id, superseded,"
    " expires_at, approved_by, manual_by, rerun_of"
)
_SELECT_KEPT = f"SELECT {_KEPT_COLUMNS} FROM runs WHERE id = ?"  # noqa: S608
_REINSERT_PRUNED = (
    f"INSERT INTO runs ({_KEPT_COLUMNS}, context, steps, pruned_at)"  # noqa: S608
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,'{}','[]',?)"
)


def _op_prune(
    conn: sqlite3.Connection, before: float, forget_before: float, limit: int, now: float
) -> Pruned:
    # History: the details of old finished runs go; their rows stay, as they are what
    # stops an episode that still fires from running again.
    ids = [
        row[0]
        for row in conn.execute(
            "SELECT id FROM runs WHERE finished_at < ? AND pruned_at IS NULL"
            " AND id NOT IN (SELECT run_id FROM undos WHERE undone_by IS NULL) LIMIT ?",
            (before, limit),
        )
    ]
    conn.executemany("DELETE FROM artifacts WHERE run_id = ?", [(i,) for i in ids])
    # Blanked in place, the rows would leave their pages mostly empty, and new rows
    # never fill those holes (they go at the end of the table): the file would grow
    # by the history it no longer holds. Deleted and written again, small, at the
    # end, they free the old pages for reuse.
    rows = [(*row, now) for i in ids for row in conn.execute(_SELECT_KEPT, (i,))]
    conn.executemany("DELETE FROM runs WHERE id = ?", [(i,) for i in ids])
    conn.executemany(_REINSERT_PRUNED, rows)
    notifications = conn.execute(
        "DELETE FROM notifications WHERE id IN (SELECT id FROM notifications"
        " WHERE coalesce(last_received_at, received_at) < ? LIMIT ?)",
        (before, limit),
    ).rowcount
    # Facts: an episode resolved long enough ago is forgotten with its runs, unless
    # one is unfinished or its change still waits to be put back.
    episodes = conn.execute(
        "SELECT fingerprint, starts_at FROM episodes e WHERE status = 'resolved'"
        " AND resolved_seen < ? AND NOT EXISTS (SELECT 1 FROM runs r"
        " WHERE r.fingerprint = e.fingerprint AND r.starts_at = e.starts_at"
        " AND (r.finished_at IS NULL"
        " OR r.id IN (SELECT run_id FROM undos WHERE undone_by IS NULL))) LIMIT ?",
        (forget_before, limit),
    ).fetchall()
    conn.executemany(
        "DELETE FROM artifacts WHERE run_id IN"
        " (SELECT id FROM runs WHERE fingerprint = ? AND starts_at = ?)",
        episodes,
    )
    conn.executemany("DELETE FROM runs WHERE fingerprint = ? AND starts_at = ?", episodes)
    conn.executemany("DELETE FROM episodes WHERE fingerprint = ? AND starts_at = ?", episodes)
    conn.execute(
        "DELETE FROM undos WHERE rowid IN (SELECT rowid FROM undos"
        " WHERE undone_by IS NOT NULL AND undone_at < ? LIMIT ?)",
        (forget_before, limit),
    )
    return Pruned(len(ids), notifications, len(episodes))


def _op_count_repeats(conn: sqlite3.Connection, repeats: dict[str, tuple[int, float]]) -> None:
    conn.executemany(
        "UPDATE notifications SET repeats = repeats + ?,"
        " last_received_at = max(coalesce(last_received_at, 0), ?) WHERE id = ?",
        [(count, at, nid) for nid, (count, at) in repeats.items()],
    )


def _op_reclaim(conn: sqlite3.Connection, pages: int) -> int:
    # Free pages are reused by the next writes: only those beyond a quarter of the
    # file go back to the file system (the file shrinks after the rate or the
    # retention went down, rather than shrink and grow at every pass).
    free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
    total = int(conn.execute("PRAGMA page_count").fetchone()[0])
    count = max(0, min(free - total // 4, pages))
    # PRAGMA incremental_vacuum frees one page per step, and Python's sqlite3 steps
    # a statement without result columns once: one page per execute.
    for _ in range(count):
        conn.execute("PRAGMA incremental_vacuum(1)")
    return count


class SQLiteStore(Store):
    kind = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._writer: GroupCommitWriter | None = None
        self._readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sqlite-reader")
        self._local = threading.local()

    @property
    def commits(self) -> int:
        return self._writer.batches if self._writer else 0

    async def open(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            check_file(self.path)
            conn = _connect(self.path)
        except SchemaError as exc:
            raise StoreError(str(exc)) from None
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite store {self.path}: {exc}") from exc
        try:
            migrated_from = ensure_schema(conn, self.path)
        except SchemaError as exc:
            conn.close()
            raise StoreError(str(exc)) from None
        except BaseException:
            conn.close()
            raise
        if migrated_from:
            log.info("store_migrated", path=self.path, from_version=migrated_from)
        self._writer = GroupCommitWriter(conn)

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer.close()
        self._readers.shutdown(wait=True)

    async def _write(self, fn: Any, *args: Any) -> Any:
        if self._writer is None:
            raise StoreError("the store is not open")
        try:
            return await self._writer.submit(fn, *args)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite write failed: {exc}") from exc

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path, readonly=True)
            self._local.conn = conn
        return conn

    async def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        def run() -> list[tuple[Any, ...]]:
            return self._reader().execute(sql, params).fetchall()

        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._readers, run)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite read failed: {exc}") from exc

    async def ingest(self, batch: Ingest) -> IngestResult:
        result: IngestResult = await self._write(_op_ingest, batch)
        return result

    async def recover(self) -> list[RunRecord]:
        await self._write(_op_interrupt_running, "interrupted: alertreflex stopped mid-run")
        rows = await self._read(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE state IN ('queued', 'interrupted')"  # noqa: S608
            " ORDER BY created_at"
        )
        return [_row_to_run(r) for r in rows]

    async def claim(self, run_id: str, now: float, steps: list[dict[str, Any]]) -> int | None:
        attempt: int | None = await self._write(_op_claim, run_id, now, orjson.dumps(steps))
        return attempt

    async def save_steps(self, run_id: str, steps: list[dict[str, Any]]) -> None:
        await self._write(_op_save_steps, run_id, orjson.dumps(steps))

    async def finish(
        self,
        run_id: str,
        state: RunState,
        reason: str,
        now: float,
        steps: list[dict[str, Any]],
        *,
        started: bool = True,
    ) -> None:
        await self._write(_op_finish, run_id, str(state), reason, now, orjson.dumps(steps), started)

    async def interrupt_running(self, reason: str) -> int:
        count: int = await self._write(_op_interrupt_running, reason)
        return count

    async def notifications_between(
        self, start: float, end: float, after: tuple[float, str] = (0.0, ""), limit: int = 500
    ) -> list[tuple[float, str, bytes]]:
        rows = await self._read(
            # The lower bound on received_at from the page before lets the index seek
            # there: without it every page scanned from start (quadratic).
            "SELECT received_at, id, body FROM notifications WHERE received_at >= ?"
            " AND received_at < ? AND (received_at > ? OR (received_at = ? AND id > ?))"
            " ORDER BY received_at, id LIMIT ?",
            (max(start, after[0]), end, after[0], after[0], after[1], limit),
        )
        return [(r[0], r[1], bytes(r[2])) for r in rows]

    async def last_firing_starts(self) -> dict[str, float]:
        rows = await self._read(
            "SELECT reflex, max(started_at) FROM runs WHERE trigger = 'firing'"
            " AND started_at IS NOT NULL GROUP BY reflex"
        )
        return {r[0]: r[1] for r in rows}

    async def list_runs(
        self,
        *,
        reflex: str | None = None,
        state: str | None = None,
        trigger: str | None = None,
        fingerprint: str | None = None,
        limit: int = 50,
    ) -> list[RunRecord]:
        where, params = [], []
        if fingerprint:
            where.append("fingerprint = ?")
            params.append(fingerprint)
        if trigger:
            where.append("trigger = ?")
            params.append(trigger)
        if reflex:
            where.append("reflex = ?")
            params.append(reflex)
        if state:
            where.append("state = ?")
            params.append(state)
        # Only fixed fragments are joined here; the values are bound parameters.
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = await self._read(
            f"SELECT {_RUN_COLUMNS} FROM runs {clause}"  # noqa: S608
            " ORDER BY created_at DESC, id DESC LIMIT ?",
            (*params, limit),
        )
        return [_row_to_run(r) for r in rows]

    async def get_run(self, run_id: str) -> RunRecord | None:
        sql = f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?"  # noqa: S608
        rows = await self._read(sql, (run_id,))
        return _row_to_run(rows[0]) if rows else None

    async def add_run(self, run: NewRun, now: float) -> NewRun | None:
        added: NewRun | None = await self._write(_op_add_run, run, now)
        return added

    async def cancel_restores(self, reflex: str, fingerprint: str, reason: str, now: float) -> int:
        count: int = await self._write(_op_cancel_restores, reflex, fingerprint, reason, now)
        return count

    async def save_artifact(self, artifact: Artifact) -> None:
        await self._write(_op_save_artifact, artifact)

    async def list_artifacts(self, run_id: str) -> list[Artifact]:
        rows = await self._read(
            "SELECT run_id, name, content_type, size, original_size, created_at FROM artifacts"
            " WHERE run_id = ? ORDER BY created_at, name",
            (run_id,),
        )
        return [Artifact(*r) for r in rows]

    async def get_artifact(self, run_id: str, name: str) -> Artifact | None:
        rows = await self._read(
            "SELECT run_id, name, content_type, size, original_size, created_at, data"
            " FROM artifacts WHERE run_id = ? AND name = ?",
            (run_id, name),
        )
        return Artifact(*rows[0]) if rows else None

    async def remember_undo(self, undo: Undo) -> Undo:
        kept: Undo = await self._write(_op_remember_undo, undo)
        return kept

    async def take_undo(
        self, reflex: str, fingerprint: str, step: int, run_id: str, now: float
    ) -> Undo | None:
        taken: Undo | None = await self._write(
            _op_take_undo, reflex, fingerprint, step, run_id, now
        )
        return taken

    async def pending_undo(self, reflex: str, fingerprint: str, step: int) -> Undo | None:
        rows = await self._read(
            f"SELECT {_UNDO_COLUMNS} FROM undos WHERE reflex = ? AND fingerprint = ?"  # noqa: S608
            " AND step = ? AND undone_by IS NULL",
            (reflex, fingerprint, step),
        )
        return _row_to_undo(rows[0]) if rows else None

    async def pending_undos(self) -> list[Undo]:
        rows = await self._read(
            f"SELECT {_UNDO_COLUMNS} FROM undos WHERE undone_by IS NULL"  # noqa: S608
            " ORDER BY created_at"
        )
        return [_row_to_undo(r) for r in rows]

    async def ping(self) -> None:
        await self._read("SELECT 1")

    async def check_writable(self) -> None:
        await self._write(_op_touch, time.time())

    async def episode_resolved(self, fingerprint: str, starts_at: str) -> bool:
        rows = await self._read(
            "SELECT status FROM episodes WHERE fingerprint = ? AND starts_at = ?",
            (fingerprint, starts_at),
        )
        return bool(rows) and rows[0][0] == "resolved"

    async def run_state(
        self, reflex: str, fingerprint: str, starts_at: str, trigger: str
    ) -> RunState | None:
        rows = await self._read(
            "SELECT state FROM runs WHERE reflex = ? AND fingerprint = ? AND starts_at = ?"
            " AND trigger = ? AND superseded = 0",
            (reflex, fingerprint, starts_at, trigger),
        )
        return RunState(rows[0][0]) if rows else None

    async def controls(self) -> list[Control]:
        rows = await self._read(f"SELECT {_CONTROL_COLUMNS} FROM controls ORDER BY scope")  # noqa: S608
        return [Control(*r) for r in rows]

    async def set_control(
        self, scope: str, control: Control | None, audit: AuditEntry
    ) -> Control | None:
        before: Control | None = await self._write(_op_set_control, scope, control, audit)
        return before

    async def add_audit(self, entry: AuditEntry) -> None:
        await self._write(_insert_audit, entry)

    async def await_approval(
        self, run_id: str, steps: list[dict[str, Any]], expires_at: float
    ) -> bool:
        parked: bool = await self._write(
            _op_await_approval, run_id, orjson.dumps(steps), expires_at
        )
        return parked

    async def decide(
        self, run_id: str, approve: bool, audit: AuditEntry, now: float
    ) -> RunRecord | None:
        run: RunRecord | None = await self._write(_op_decide, run_id, approve, audit, now)
        return run

    async def expire_approvals(self, now: float) -> list[tuple[str, str]]:
        expired: list[tuple[str, str]] = await self._write(_op_expire_approvals, now)
        return expired

    async def withdraw_approvals(
        self, reflex: str, fingerprint: str, starts_at: str, reason: str, now: float
    ) -> list[str]:
        ids: list[str] = await self._write(
            _op_withdraw_approvals, reflex, fingerprint, starts_at, reason, now
        )
        return ids

    async def add_rerun(self, run: NewRun, of: RunRecord, audit: AuditEntry, now: float) -> None:
        await self._write(_op_add_rerun, run, of, audit, now)

    async def prune(self, before: float, forget_before: float, limit: int, now: float) -> Pruned:
        pruned: Pruned = await self._write(_op_prune, before, forget_before, limit, now)
        return pruned

    async def count_repeats(self, repeats: dict[str, tuple[int, float]]) -> None:
        await self._write(_op_count_repeats, repeats)

    async def reclaim(self, pages: int) -> int:
        count: int = await self._write(_op_reclaim, pages)
        return count

    async def firing_episodes(self, limit: int = 100) -> list[AlertRecord]:
        rows = await self._read(
            "SELECT fingerprint, starts_at, status, labels, annotations, ends_at, generator_url"
            " FROM episodes WHERE status = 'firing' ORDER BY starts_at DESC LIMIT ?",
            (limit,),
        )
        return [
            AlertRecord(r[0], r[1], r[2], orjson.loads(r[3]), orjson.loads(r[4]), r[5], r[6])
            for r in rows
        ]

    async def list_audit(self, *, target: str | None = None, limit: int = 100) -> list[AuditEntry]:
        where, params = ("WHERE target = ?", (target,)) if target is not None else ("", ())
        rows = await self._read(
            "SELECT id, at, who, action, target, reason, details FROM audit "  # noqa: S608
            f"{where} ORDER BY id DESC LIMIT ?",
            (*params, limit),
        )
        return [
            AuditEntry(
                id=r[0],
                at=r[1],
                who=r[2],
                action=r[3],
                target=r[4],
                reason=r[5],
                details=orjson.loads(r[6]),
            )
            for r in rows
        ]

    async def run_ids_by_prefix(self, prefix: str, limit: int) -> list[str]:
        # GLOB, not LIKE: it is case-sensitive, so SQLite searches the primary key's
        # index; a character GLOB would read as a wildcard goes in brackets.
        pattern = "".join(f"[{c}]" if c in "*?[" else c for c in prefix) + "*"
        rows = await self._read(
            "SELECT id FROM runs WHERE id GLOB ? ORDER BY id LIMIT ?", (pattern, limit)
        )
        return [r[0] for r in rows]
