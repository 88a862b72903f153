"""The shared store: PostgreSQL through asyncpg, for several replicas.

It keeps the SQLite store's behaviour (the same store tests run against both) and
adds what sharing needs: each claimed run records its replica (``owner``) and a
lease that the replica renews while it runs, so that only the runs of a replica
that stopped renewing are taken as interrupted.

Exactly once across replicas rests on the database, not on timing: one run per
episode and trigger is a unique index (a second replica's insert waits for the
first one's commit, then does nothing), and a claim is a conditional UPDATE that
only one replica's transaction can win.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import orjson
import structlog

from alertreflex.core.models import RunState, Trigger
from alertreflex.store.base import (
    AlertRecord,
    Artifact,
    AuditEntry,
    Claim,
    Control,
    Gate,
    GateRow,
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
from alertreflex.store.batching import Batcher
from alertreflex.store.postgres_schema import Conn, SchemaError, check_schema

log = structlog.get_logger("alertreflex.store")
T = TypeVar("T")
_Item = TypeVar("_Item")

LEASE = 30.0  # seconds a claimed run stays its replica's without a renewal
_RETRIES = 3  # deadlocks and serialization failures are retried, then reported
# The database went away (restart, failover, network): worth another try later.
_CONNECTION_ERRORS = (
    OSError,
    asyncpg.InternalClientError,  # a call on a connection that broke mid-operation
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
)
_DATABASE_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)
# How long a run's end is retried while the database is away, rather than leaving
# the run "running" under a lease its replica keeps renewing.
FINISH_PATIENCE = 120.0  # also for what a run saves on its way (steps, artifacts, undos)

_RUN_COLUMNS = (
    "id, reflex, team, fingerprint, starts_at, trigger, state, reason, created_at, not_before,"
    " started_at, finished_at, attempts, notification_id, context, steps, expires_at,"
    " approved_by, manual_by, rerun_of, pruned_at"
)
_UNDO_COLUMNS = (
    "reflex, fingerprint, step, action, starts_at, run_id, memo, created_at, undone_by, undone_at"
)
_CONTROL_COLUMNS = "scope, kind, reason, by, since"


def _qualified(table: str) -> str:
    return ", ".join(f"{table}.{c.strip()}" for c in _RUN_COLUMNS.split(","))


_RUN_KEY = " ON CONFLICT (reflex, fingerprint, starts_at, trigger) WHERE NOT superseded"
_NEW_RUN_COLUMNS = (
    "id, reflex, team, fingerprint, starts_at, trigger, state, reason, created_at,"
    " not_before, notification_id, context, finished_at"
)
_TAKE_OVER = (
    "WITH t AS (SELECT id FROM runs WHERE state IN ('queued', 'running', 'interrupted')"  # noqa: S608
    " AND (lease_until IS NULL OR lease_until < $1 OR owner = $4) ORDER BY created_at LIMIT $5"
    " FOR UPDATE SKIP LOCKED)"
    " UPDATE runs SET owner = $2, lease_until = $1::float8 + $3::float8,"
    " reason = CASE WHEN runs.state = 'running'"
    " THEN 'interrupted: its replica stopped (lease expired)' ELSE runs.reason END,"
    " state = CASE WHEN runs.state = 'running' THEN 'interrupted' ELSE runs.state END"
    f" FROM t WHERE runs.id = t.id RETURNING {_qualified('runs')}"
)

_APPROVE = (
    "UPDATE runs SET state = 'queued', approved_by = $1, reason = $2, owner = $4,"  # noqa: S608
    " lease_until = $5 WHERE id = $3 AND state = 'awaiting_approval'"
    f" RETURNING {_RUN_COLUMNS}"
)
_REJECT = (
    "UPDATE runs SET state = 'rejected', reason = $1, finished_at = $2"  # noqa: S608
    f" WHERE id = $3 AND state = 'awaiting_approval' RETURNING {_RUN_COLUMNS}"
)
_NEW_RUN_VALUES = "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::json, $13"
# Rows go in as one array per column: one statement for any number of alerts.
_UPSERT_EPISODES = (
    "INSERT INTO episodes (fingerprint, starts_at, status, labels, annotations, ends_at,"
    " generator_url, first_seen, resolved_seen)"
    " SELECT f, s, st, l::json, a::json, e, g, $8, r FROM unnest($1::text[], $2::text[],"
    " $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $9::float8[])"
    " AS t(f, s, st, l, a, e, g, r)"
    " ON CONFLICT (fingerprint, starts_at) DO UPDATE SET status = excluded.status,"
    " ends_at = excluded.ends_at, resolved_seen = excluded.resolved_seen"
    " WHERE episodes.status <> excluded.status RETURNING 1"
)
_INSERT_RUNS = (
    f"INSERT INTO runs ({_NEW_RUN_COLUMNS}, owner, lease_until, attempts, started_at)"  # noqa: S608
    " SELECT i, rf, tm, f, s, tr, st, rs, $9, nb, $10, c::json, fin, $14, $9::float8 + $15::float8,"
    # A run the engine starts at once is stored claimed (NewRun.start).
    " (st = 'running')::int, CASE WHEN st = 'running' THEN $9::float8 END"
    " FROM unnest($1::text[],"
    " $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],"
    " $11::float8[], $12::text[], $13::float8[]) AS t(i, rf, tm, f, s, tr, st, rs, nb, c, fin)"
    + _RUN_KEY
    + " DO NOTHING RETURNING id"
)


def _shift(sql: str, by: int) -> str:
    """``sql`` with its parameters $1.. renumbered from $(1 + by), to join it to
    another statement's."""
    return re.sub(r"\$(\d+)", lambda m: f"${int(m.group(1)) + by}", sql)


# The usual notification as one statement: episodes ($1-$9), runs ($10-$24), then
# the notification ($25-$29) with the count of runs it made. Data-modifying CTEs
# all run, in one snapshot and one transaction.
_INGEST_AT_ONCE = (
    f"WITH ep AS ({_UPSERT_EPISODES}), ru AS ({_shift(_INSERT_RUNS, 9)}),"  # noqa: S608
    # A body stored before that changes nothing is counted on its row, not stored.
    " rp AS (UPDATE notifications SET repeats = repeats + 1,"
    " last_received_at = greatest(last_received_at, $8) WHERE id = (SELECT id FROM"
    " notifications WHERE digest = $30 ORDER BY received_at DESC LIMIT 1)"
    " AND NOT EXISTS (SELECT 1 FROM ru) AND NOT EXISTS (SELECT 1 FROM ep) RETURNING 1),"
    " nt AS (INSERT INTO notifications (id, received_at, receiver, status, group_key,"
    " alerts, new_runs, body, digest) SELECT $19, $8, $25, $26, $27, $28,"
    " (SELECT count(*) FROM ru)::int, $29, $30 WHERE NOT EXISTS (SELECT 1 FROM rp))"
    " SELECT (SELECT count(*) FROM ep)::int AS changed, ARRAY(SELECT id FROM ru) AS created"
)


_COUNT_REPEAT = (
    "UPDATE notifications SET repeats = repeats + 1,"
    " last_received_at = greatest(last_received_at, $1) WHERE id = (SELECT id FROM"
    " notifications WHERE digest = $2 ORDER BY received_at DESC LIMIT 1)"
)


def _clean(text: str) -> str:
    """PostgreSQL text cannot hold NUL; alert data and command output may."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def _json(value: Any) -> str:
    # orjson writes NUL as the escape \u0000, which the json type keeps as text.
    return orjson.dumps(value).decode()


def _to_run(row: asyncpg.Record) -> RunRecord:
    return RunRecord(
        id=row["id"],
        reflex=row["reflex"],
        team=row["team"],
        fingerprint=row["fingerprint"],
        starts_at=row["starts_at"],
        trigger=Trigger(row["trigger"]),
        state=RunState(row["state"]),
        reason=row["reason"],
        created_at=row["created_at"],
        not_before=row["not_before"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        attempts=row["attempts"],
        notification_id=row["notification_id"],
        context=orjson.loads(row["context"]),
        steps=orjson.loads(row["steps"]),
        expires_at=row["expires_at"],
        approved_by=row["approved_by"],
        manual_by=row["manual_by"],
        rerun_of=row["rerun_of"],
        pruned_at=row["pruned_at"],
    )


def _to_undo(row: asyncpg.Record) -> Undo:
    return Undo(
        reflex=row["reflex"],
        fingerprint=row["fingerprint"],
        step=row["step"],
        action=row["action"],
        starts_at=row["starts_at"],
        run_id=row["run_id"],
        memo=orjson.loads(row["memo"]),
        created_at=row["created_at"],
        undone_by=row["undone_by"],
        undone_at=row["undone_at"],
    )


def _run_args(r: NewRun, received_at: float, notification_id: str) -> tuple[Any, ...]:
    return (
        r.id,
        r.reflex,
        r.team,
        r.fingerprint,
        r.starts_at,
        str(r.trigger),
        # Claimed in this write when the engine starts it at once and it is still
        # queued after the flap check (the caller marks it running once inserted).
        "running" if r.start and r.state is RunState.QUEUED else str(r.state),
        _clean(r.reason),
        received_at,
        r.not_before,
        notification_id,
        _json(r.context),
        received_at if r.state is RunState.SKIPPED else None,
    )


def _claimed(created: list[NewRun]) -> None:
    """Mark the runs that ``_run_args`` stored claimed as running."""
    for r in created:
        if r.start and r.state is RunState.QUEUED:
            r.state = RunState.RUNNING


async def _insert_audit(conn: Conn, e: AuditEntry) -> None:
    await conn.execute(
        "INSERT INTO audit (at, who, action, target, reason, details)"
        " VALUES ($1, $2, $3, $4, $5, $6::json)",
        e.at,
        _clean(e.who),
        e.action,
        _clean(e.target),
        _clean(e.reason),
        _json(e.details),
    )


# Only the replica running it ends a run, and only a run nobody claimed is skipped:
# a replica that lost a race (or its lease) changes nothing.
_FINISH = (
    "UPDATE runs SET state = $1, reason = $2, finished_at = $3, steps = $4::json,"
    " started_at = CASE WHEN $5 THEN coalesce(started_at, $6) ELSE started_at END,"
    " lease_until = NULL, owner = CASE WHEN $1 = 'interrupted' THEN NULL"
    " ELSE owner END WHERE id = $7 AND CASE WHEN $5"
    " THEN state = 'running' AND owner = $8"
    " ELSE state IN ('queued', 'interrupted') END"
)


@dataclass(frozen=True)
class _RunWrite:
    run_id: str
    op: Callable[[Conn], Awaitable[Any]]
    patience: float = 0.0


def _first_key(b: Ingest) -> tuple[str, str]:
    return min(((a.fingerprint, a.starts_at) for a in b.alerts), default=("", ""))


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset: nothing. asyncpg still rolls back an open transaction; its
    default reset (RESET ALL, UNLISTEN, advisory unlock) is a round trip per release,
    a fifth of the loop under load, for session state this store never sets."""


class PostgresStore(Store):
    kind = "postgresql"
    shared = True

    def __init__(
        self, dsn: str, *, replica: str = "", lease: float = LEASE, pool_size: int = 10
    ) -> None:
        self.dsn = dsn
        self.replica = replica
        self.lease = lease
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._held: Callable[[], list[str]] = list
        # Since when (monotonic) every statement has found the database: None after a
        # connection failure. Other replicas' leases may have lapsed only because
        # they could not reach it either, so nothing is taken over until a whole
        # lease has passed with the database back (they renew in that time).
        self._reachable_since: float | None = time.monotonic()
        self._ingests: Batcher[Ingest, IngestResult] = Batcher(
            self._ingest_batch, lambda b: self._run(lambda c: self._ingest_at_once(c, b))
        )
        # Claims and ends of runs: one row each, by id, so they share transactions
        # too (in id order: two batches touching the same runs wait, not deadlock).
        self._run_writes: Batcher[_RunWrite, Any] = Batcher(
            self._run_write_batch, lambda w: self._run(w.op, patience=w.patience)
        )

    @property
    def where(self) -> str:
        """The DSN without its password, for messages."""
        parts = urlsplit(self.dsn)
        if parts.password is None:
            return self.dsn
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.dsn,
                min_size=1,
                max_size=self._pool_size,
                command_timeout=30,
                timeout=5,
                reset=_keep_session,
            )
        except (TimeoutError, OSError, ValueError, *_DATABASE_ERRORS) as exc:
            # ValueError: asyncpg's ClientConfigurationError, a bad DSN option.
            raise StoreError(f"cannot connect to PostgreSQL {self.where}: {exc}") from exc
        try:
            async with self._pool.acquire(timeout=10) as conn:
                await check_schema(conn, self.where)
        except SchemaError as exc:
            await self._pool.close()
            raise StoreError(str(exc)) from None
        except (TimeoutError, OSError, *_DATABASE_ERRORS) as exc:
            await self._pool.close()
            raise StoreError(f"cannot read the schema of {self.where}: {exc}") from exc
        if self.replica:
            self._renewer = asyncio.create_task(self._renew_leases(), name="pg-leases")

    async def close(self) -> None:
        await self._ingests.drain()
        await self._run_writes.drain()
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        if self._pool is not None:
            await self._pool.close()

    def renew_leases_of(self, held: Callable[[], list[str]]) -> None:
        self._held = held

    async def _renew_leases(self) -> None:
        """Keep the runs this replica holds its own while it lives; after a failure,
        try again every second rather than a third of a lease later."""
        pause = self.lease / 3
        while True:
            await asyncio.sleep(pause)
            pause = min(1.0, self.lease / 3)
            try:
                await self._run(
                    lambda c: c.execute(
                        # Replicas' clocks, not the database's: leases are compared
                        # with the time of the replica taking over.
                        "UPDATE runs SET lease_until = $2 WHERE owner = $1 AND id = ANY($3)"
                        " AND state IN ('queued', 'running', 'interrupted')",
                        self.replica,
                        time.time() + self.lease,
                        self._held(),
                    )
                )
            except StoreError as exc:
                log.warning("lease_renewal_failed", error=str(exc))
            else:
                pause = self.lease / 3

    async def _run(self, fn: Callable[[Conn], Awaitable[T]], *, patience: float = 0.0) -> T:
        """``fn`` on a pooled connection; database trouble becomes StoreError.

        Deadlocks are retried at once. With ``patience``, a lost connection (the
        database restarting) is retried for that many seconds: for writes that must
        not be dropped, such as a run's end.
        """
        if self._pool is None:
            raise StoreError("the store is not open")
        deadline = time.monotonic() + patience
        attempt, pause = 0, 0.25
        while True:
            attempt += 1
            try:
                async with self._pool.acquire(timeout=10) as conn:
                    result = await fn(conn)
            except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError) as exc:
                if attempt >= _RETRIES:
                    raise StoreError(f"PostgreSQL: {exc}") from exc
            except (*_CONNECTION_ERRORS, TimeoutError) as exc:
                self._reachable_since = None
                if time.monotonic() + pause > deadline:
                    why = "did not answer in time" if isinstance(exc, TimeoutError) else exc
                    raise StoreError(f"PostgreSQL unavailable: {why}") from exc
                await asyncio.sleep(pause)
                pause = min(pause * 2, 2.0)
            except asyncpg.PostgresError as exc:
                raise StoreError(f"PostgreSQL: {exc}") from exc
            else:
                if self._reachable_since is None:
                    self._reachable_since = time.monotonic()
                return result

    async def _tx(self, fn: Callable[[Conn], Awaitable[T]], *, patience: float = 0.0) -> T:
        async def in_tx(conn: Conn) -> T:
            async with conn.transaction():
                return await fn(conn)

        return await self._run(in_tx, patience=patience)

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        return await self._run(lambda c: c.fetch(sql, *args))

    # --- ingest ------------------------------------------------------------------

    async def ingest(self, batch: Ingest) -> IngestResult:
        if (
            all(r.flap_window <= 0 and not r.steps for r in batch.runs)
            and sum(1 for r in batch.runs if not r.skip) <= batch.capacity
        ):
            # Nothing to look up first and no queue bound to check: one statement,
            # atomic by itself, in a transaction shared with the notifications that
            # arrive meanwhile (group commit).
            return await self._ingests.submit(batch)
        return await self._tx(lambda c: self._ingest(c, batch))

    async def _in_one_transaction(
        self,
        items: list[_Item],
        op: Callable[[Conn, _Item], Awaitable[T]],
        key: Callable[[_Item], Any],
    ) -> list[T]:
        """``op`` on each of ``items`` in one transaction, in ``key`` order: replicas
        batching the same rows lock them in one order, and mostly wait rather than
        deadlock (a deadlock is retried, then the batch is tried item by item).
        The results come in the items' own order."""
        order = sorted(range(len(items)), key=lambda i: key(items[i]))

        async def run(conn: Conn) -> list[T]:
            results: dict[int, T] = {}
            for i in order:
                results[i] = await op(conn, items[i])
            return [results[i] for i in range(len(items))]

        return await self._tx(run)

    async def _run_write_batch(self, writes: list[_RunWrite]) -> list[Any]:
        return await self._in_one_transaction(writes, lambda c, w: w.op(c), lambda w: w.run_id)

    async def _ingest_batch(self, batches: list[Ingest]) -> list[IngestResult]:
        # Ordered by their first alert, as each statement orders its own episodes.
        return await self._in_one_transaction(batches, self._ingest_at_once, _first_key)

    @staticmethod
    def _episode_args(b: Ingest) -> list[Any]:
        # One row per episode (a notification may repeat an alert: the last wins, as
        # row by row on SQLite), in key order: two replicas writing the same alerts
        # lock them in the same order, so they wait for each other, not deadlock.
        latest = {(a.fingerprint, a.starts_at): a for a in b.alerts}
        alerts = [latest[k] for k in sorted(latest)]
        return [
            [a.fingerprint for a in alerts],
            [a.starts_at for a in alerts],
            [a.status for a in alerts],
            [_json(a.labels) for a in alerts],
            [_json(a.annotations) for a in alerts],
            [a.ends_at for a in alerts],
            [a.generator_url for a in alerts],
            b.received_at,
            [b.received_at if a.status == "resolved" else None for a in alerts],
        ]

    def _run_args(self, b: Ingest) -> list[Any]:
        runs = sorted(b.runs, key=lambda r: (r.reflex, r.fingerprint, r.starts_at, r.trigger))
        rows = [_run_args(r, b.received_at, b.notification_id) for r in runs]
        return [
            *[[row[i] for row in rows] for i in range(8)],
            b.received_at,
            b.notification_id,
            [row[9] for row in rows],  # not_before
            [row[11] for row in rows],  # context
            [row[12] for row in rows],  # finished_at (skipped runs)
            self.replica,
            self.lease,
        ]

    async def _ingest_at_once(self, conn: Conn, b: Ingest) -> IngestResult:
        for r in b.runs:
            r.initial()  # this may be a redo of the batch
        row = await conn.fetchrow(
            _INGEST_AT_ONCE,
            *self._episode_args(b),
            *self._run_args(b),
            _clean(b.receiver),
            b.status,
            _clean(b.group_key),
            len(b.alerts),
            b.body,
            b.digest or None,
        )
        assert row is not None  # the statement always returns its one row
        created = set(row["created"])
        result = IngestResult(
            created=[r for r in b.runs if r.id in created], changed_alerts=row["changed"]
        )
        _claimed(result.created)
        await self._existing(conn, b, result)
        return result

    @staticmethod
    async def _existing(conn: Conn, b: Ingest, result: IngestResult) -> None:
        """When ``b`` wanted runs and none was new: one that was there before."""
        if b.runs and not result.created:
            r = b.runs[0]
            found = await conn.fetchval(
                "SELECT id FROM runs WHERE reflex = $1 AND fingerprint = $2"
                " AND starts_at = $3 AND trigger = $4 AND NOT superseded",
                r.reflex,
                r.fingerprint,
                r.starts_at,
                str(r.trigger),
            )
            result.existing = found or ""

    async def _ingest(self, conn: Conn, b: Ingest) -> IngestResult:
        changed = await conn.fetch(_UPSERT_EPISODES, *self._episode_args(b))
        result = IngestResult(changed_alerts=len(changed))
        runs = sorted(b.runs, key=lambda r: (r.reflex, r.fingerprint, r.starts_at, r.trigger))
        for r in runs:
            r.initial()  # this may be a redo of the batch
            if r.flap_window <= 0:
                continue
            # See the SQLite store: a firing within resolve_delay of a resolution is a
            # flap; the pending resolved run is cancelled and superseded.
            rows = await conn.fetch(
                "UPDATE runs SET state = 'skipped', finished_at = $1, superseded = true,"
                " reason = 'flap: fired again within resolve_delay' WHERE reflex = $2"
                " AND fingerprint = $3 AND trigger = 'resolved' AND state = 'queued'"
                " AND NOT superseded RETURNING id",
                b.received_at,
                r.reflex,
                r.fingerprint,
            )
            result.cancelled_resolved.extend(row["id"] for row in rows)
            flap = r.state is RunState.QUEUED and await conn.fetchval(
                "SELECT 1 FROM episodes WHERE fingerprint = $1 AND starts_at <> $2"
                " AND resolved_seen > $3 LIMIT 1",
                r.fingerprint,
                r.starts_at,
                b.received_at - r.flap_window,
            )
            if flap:
                r.state = RunState.SKIPPED
                r.reason = (
                    "flap: continues an episode of this alert that resolved within resolve_delay"
                )
        inserted = await conn.fetch(_INSERT_RUNS, *self._run_args(b))
        created = {row["id"] for row in inserted}
        result.created = [r for r in b.runs if r.id in created]
        queued = sum(1 for r in result.created if r.state is RunState.QUEUED)
        if queued > b.capacity:
            raise QueueFullError(f"{queued} new runs but room for {b.capacity}")
        _claimed(result.created)
        for r in result.created:
            if r.steps:  # a dry run skipped at intake: what it would have done
                await conn.execute(
                    "UPDATE runs SET steps = $1::json WHERE id = $2", _json(r.steps), r.id
                )
        await self._existing(conn, b, result)
        if b.digest and not (result.created or result.changed_alerts or result.cancelled_resolved):
            repeated = await conn.execute(_COUNT_REPEAT, b.received_at, b.digest)
            if repeated != "UPDATE 0":
                return result
        await conn.execute(
            "INSERT INTO notifications (id, received_at, receiver, status, group_key, alerts,"
            " new_runs, body, digest) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            b.notification_id,
            b.received_at,
            _clean(b.receiver),
            b.status,
            _clean(b.group_key),
            len(b.alerts),
            len(result.created),
            b.body,
            b.digest or None,
        )
        return result

    # --- runs --------------------------------------------------------------------

    async def recover(self) -> list[RunRecord]:
        # At start nothing of this replica runs yet: its own runs (an earlier
        # process with the same replica id) are taken back at once.
        return await self._take_over(time.time(), self.replica)

    async def take_over(self, now: float, limit: int = 1000) -> list[RunRecord]:
        since = self._reachable_since
        if since is None or time.monotonic() - since < self.lease:
            return []  # the owners may not have been able to renew yet
        return await self._take_over(now, None, limit)

    async def _take_over(self, now: float, mine: str | None, limit: int = 1000) -> list[RunRecord]:
        """Unfinished runs that no live replica holds: owned by none (their replica
        shut down cleanly) or whose lease ran out (it died). A run that was running
        becomes interrupted and resumes here. SKIP LOCKED: two replicas taking over
        at once split the runs between them instead of waiting or sharing."""
        rows = await self._fetch(
            _TAKE_OVER,
            now,
            self.replica,
            self.lease,
            mine,
            max(0, limit),
        )
        return sorted((_to_run(r) for r in rows), key=lambda r: r.created_at)

    async def claim(self, run_id: str, now: float, steps: list[dict[str, Any]]) -> int | None:
        steps_json = _json(steps)
        attempt: int | None = await self._run_writes.submit(
            _RunWrite(
                run_id,
                lambda c: c.fetchval(
                    "UPDATE runs SET state = 'running', attempts = attempts + 1,"
                    " started_at = coalesce(started_at, $1), steps = $2::json, owner = $4,"
                    " lease_until = $1::float8 + $5::float8"
                    " WHERE id = $3 AND state IN ('queued', 'interrupted') RETURNING attempts",
                    now,
                    steps_json,
                    run_id,
                    self.replica,
                    self.lease,
                ),
            )
        )
        return attempt

    async def claim_gated(
        self, run_id: str, now: float, steps: list[dict[str, Any]], gate: Gate
    ) -> Claim:
        scopes = sorted({gate.reflex, *(g.scope for g in gate.guards)})

        async def op(c: Conn) -> Claim:
            # A run claimed or ended elsewhere is not this replica's to refuse.
            state = await c.fetchval("SELECT state FROM runs WHERE id = $1 FOR UPDATE", run_id)
            if state not in ("queued", "interrupted"):
                return Claim(None)
            # Row locks on the scopes, always in the same order: replicas starting
            # runs of one reflex queue here, one decision at a time.
            await c.execute(
                "INSERT INTO gates (scope) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING",
                scopes,
            )
            rows = {
                r["scope"]: GateRow(
                    r["scope"], r["last_start"], r["window_opened"], r["window_runs"]
                )
                for r in await c.fetch(
                    "SELECT scope, last_start, window_opened, window_runs FROM gates"
                    " WHERE scope = ANY($1::text[]) ORDER BY scope FOR UPDATE",
                    scopes,
                )
            }
            mine = rows[gate.reflex]
            for g in gate.guards:
                row = rows[g.scope]
                if row.window_opened is None or now >= row.window_opened + g.window:
                    row.window_opened, row.window_runs = now, 0
            if gate.enforce:
                last = mine.last_start
                if gate.cooldown > 0 and last is not None and now - last < gate.cooldown:
                    return Claim(None, "cooldown", gate.reflex, list(rows.values()))
                for g in gate.guards:
                    if rows[g.scope].window_runs >= g.max_runs:
                        return Claim(None, "storm_guard", g.scope, list(rows.values()))
            attempt = await c.fetchval(
                "UPDATE runs SET state = 'running', attempts = attempts + 1,"
                " started_at = coalesce(started_at, $1), steps = $2::json, owner = $4,"
                " lease_until = $1::float8 + $5::float8"
                " WHERE id = $3 AND state IN ('queued', 'interrupted') RETURNING attempts",
                now,
                _json(steps),
                run_id,
                self.replica,
                self.lease,
            )
            if attempt is None:
                return Claim(None)
            mine.last_start = now
            for g in gate.guards:
                rows[g.scope].window_runs += 1
            await c.executemany(
                "UPDATE gates SET last_start = $2, window_opened = $3, window_runs = $4"
                " WHERE scope = $1",
                [(r.scope, r.last_start, r.window_opened, r.window_runs) for r in rows.values()],
            )
            return Claim(attempt, rows=list(rows.values()))

        return await self._tx(op)

    async def signal(self, name: str, value: str) -> None:
        await self._run(
            lambda c: c.execute(
                "INSERT INTO meta (key, value) VALUES ($1, $2)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                f"signal:{name}",
                value,
            )
        )

    async def signals(self) -> dict[str, str]:
        rows = await self._fetch("SELECT key, value FROM meta WHERE key LIKE 'signal:%'")
        return {r["key"].removeprefix("signal:"): r["value"] for r in rows}

    async def gates(self) -> list[GateRow]:
        rows = await self._fetch(
            "SELECT scope, last_start, window_opened, window_runs FROM gates ORDER BY scope"
        )
        return [GateRow(r[0], r[1], r[2], r[3]) for r in rows]

    async def save_steps(self, run_id: str, steps: list[dict[str, Any]]) -> None:
        await self._run(
            lambda c: c.execute(
                "UPDATE runs SET steps = $1::json WHERE id = $2", _json(steps), run_id
            ),
            patience=FINISH_PATIENCE,
        )

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
        args = (
            str(state),
            _clean(reason),
            None if state is RunState.INTERRUPTED else now,
            _json(steps),
            started,
            now,
            run_id,
            self.replica,
        )
        await self._run_writes.submit(
            _RunWrite(
                run_id,
                lambda c: c.execute(_FINISH, *args),
                patience=FINISH_PATIENCE,
            )
        )

    async def interrupt_running(self, reason: str) -> int:
        status: str = await self._run(
            lambda c: c.execute(
                "UPDATE runs SET state = 'interrupted', reason = $1, owner = NULL,"
                " lease_until = NULL WHERE state = 'running' AND owner = $2",
                _clean(reason),
                self.replica,
            )
        )
        return int(status.rsplit(" ", 1)[-1])

    async def release(self) -> int:
        """At a clean stop: hand this replica's waiting runs to the others at once,
        rather than after its lease runs out."""
        status: str = await self._run(
            lambda c: c.execute(
                "UPDATE runs SET owner = NULL, lease_until = NULL"
                " WHERE owner = $1 AND state IN ('queued', 'interrupted')",
                self.replica,
            )
        )
        return int(status.rsplit(" ", 1)[-1])

    async def notifications_between(
        self, start: float, end: float, after: tuple[float, str] = (0.0, ""), limit: int = 500
    ) -> list[tuple[float, str, bytes]]:
        rows = await self._fetch(
            "SELECT received_at, id, body FROM notifications WHERE received_at >= $1"
            " AND received_at < $2 AND (received_at, id) > ($3::float8, $4::text)"
            " ORDER BY received_at, id LIMIT $5",
            start,
            end,
            after[0],
            after[1],
            limit,
        )
        return [(r["received_at"], r["id"], bytes(r["body"])) for r in rows]

    async def last_firing_starts(self) -> dict[str, float]:
        # The gates hold them (every replica records its starts there): no scan of runs.
        rows = await self._fetch(
            "SELECT scope, last_start FROM gates WHERE scope <> '' AND last_start IS NOT NULL"
        )
        return {r["scope"]: r["last_start"] for r in rows}

    async def list_runs(
        self,
        *,
        reflex: str | None = None,
        state: str | None = None,
        trigger: str | None = None,
        fingerprint: str | None = None,
        limit: int = 50,
    ) -> list[RunRecord]:
        where: list[str] = []
        args: list[Any] = []
        filters = (("fingerprint", fingerprint), ("trigger", trigger), ("reflex", reflex))
        for column, value in (*filters, ("state", state)):
            if value:
                args.append(value)
                where.append(f"{column} = ${len(args)}")
        args.append(limit)
        # Only fixed fragments are joined here; the values are bound parameters.
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = await self._fetch(
            f"SELECT {_RUN_COLUMNS} FROM runs {clause}"  # noqa: S608
            f" ORDER BY created_at DESC, id DESC LIMIT ${len(args)}",
            *args,
        )
        return [_to_run(r) for r in rows]

    async def get_run(self, run_id: str) -> RunRecord | None:
        rows = await self._fetch(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = $1",  # noqa: S608
            run_id,
        )
        return _to_run(rows[0]) if rows else None

    async def add_run(self, run: NewRun, now: float) -> NewRun | None:
        run.state, run.reason = RunState.QUEUED, ""
        row = await self._run(
            lambda c: c.fetchrow(
                f"INSERT INTO runs ({_NEW_RUN_COLUMNS}, owner, lease_until)"  # noqa: S608
                f" VALUES ({_NEW_RUN_VALUES}, $14, $9::float8 + $15::float8)"
                + _RUN_KEY
                + " DO UPDATE SET not_before = least(runs.not_before, excluded.not_before)"
                " WHERE runs.state = 'queued' RETURNING id, not_before",
                *_run_args(run, now, ""),  # no notification: the engine made this run
                self.replica,
                self.lease,
            )
        )
        if row is None:
            return None
        run.id, run.not_before = row["id"], row["not_before"]
        return run

    async def cancel_restores(self, reflex: str, fingerprint: str, reason: str, now: float) -> int:
        status: str = await self._run(
            lambda c: c.execute(
                "UPDATE runs SET state = 'skipped', reason = $1, finished_at = $2"
                " WHERE reflex = $3 AND fingerprint = $4 AND trigger = 'restore'"
                " AND state = 'queued'",
                _clean(reason),
                now,
                reflex,
                fingerprint,
            )
        )
        return int(status.rsplit(" ", 1)[-1])

    async def run_state(
        self, reflex: str, fingerprint: str, starts_at: str, trigger: str
    ) -> RunState | None:
        value = await self._run(
            lambda c: c.fetchval(
                "SELECT state FROM runs WHERE reflex = $1 AND fingerprint = $2"
                " AND starts_at = $3 AND trigger = $4 AND NOT superseded",
                reflex,
                fingerprint,
                starts_at,
                trigger,
            )
        )
        return None if value is None else RunState(value)

    # --- artifacts and undos -----------------------------------------------------

    async def save_artifact(self, artifact: Artifact) -> None:
        a = artifact
        await self._run(
            lambda c: c.execute(
                "INSERT INTO artifacts (run_id, name, content_type, size, original_size,"
                " created_at, data) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                " ON CONFLICT (run_id, name) DO UPDATE SET content_type = excluded.content_type,"
                " size = excluded.size, original_size = excluded.original_size,"
                " created_at = excluded.created_at, data = excluded.data",
                a.run_id,
                a.name,
                a.content_type,
                a.size,
                a.original_size,
                a.created_at,
                a.data,
            ),
            patience=FINISH_PATIENCE,
        )

    async def list_artifacts(self, run_id: str) -> list[Artifact]:
        rows = await self._fetch(
            "SELECT run_id, name, content_type, size, original_size, created_at FROM artifacts"
            " WHERE run_id = $1 ORDER BY created_at, name",
            run_id,
        )
        return [Artifact(*r) for r in rows]

    async def get_artifact(self, run_id: str, name: str) -> Artifact | None:
        rows = await self._fetch(
            "SELECT run_id, name, content_type, size, original_size, created_at, data"
            " FROM artifacts WHERE run_id = $1 AND name = $2",
            run_id,
            name,
        )
        return Artifact(*rows[0]) if rows else None

    async def remember_undo(self, undo: Undo) -> Undo:
        u = undo

        async def op(c: Conn) -> Undo:
            row = await c.fetchrow(
                f"INSERT INTO undos ({_UNDO_COLUMNS})"  # noqa: S608
                " VALUES ($1, $2, $3, $4, $5, $6, $7::json, $8, NULL, NULL)"
                " ON CONFLICT (reflex, fingerprint, step) DO UPDATE SET action = excluded.action,"
                " starts_at = excluded.starts_at, run_id = excluded.run_id,"
                " memo = excluded.memo, created_at = excluded.created_at, undone_by = NULL,"
                " undone_at = NULL"
                # Still pending: keep the older memo, the state before any change.
                " WHERE undos.undone_by IS NOT NULL"
                f" RETURNING {_UNDO_COLUMNS}",
                u.reflex,
                u.fingerprint,
                u.step,
                u.action,
                u.starts_at,
                u.run_id,
                _json(u.memo),
                u.created_at,
            )
            if row is None:
                row = await c.fetchrow(
                    f"SELECT {_UNDO_COLUMNS} FROM undos"  # noqa: S608
                    " WHERE reflex = $1 AND fingerprint = $2 AND step = $3",
                    u.reflex,
                    u.fingerprint,
                    u.step,
                )
                assert row is not None  # the conflict that kept it proves it is there
            return _to_undo(row)

        return await self._tx(op, patience=FINISH_PATIENCE)

    async def take_undo(
        self, reflex: str, fingerprint: str, step: int, run_id: str, now: float
    ) -> Undo | None:
        async def op(c: Conn) -> Undo | None:
            await c.execute(
                "UPDATE undos SET undone_by = $1, undone_at = $2 WHERE reflex = $3"
                " AND fingerprint = $4 AND step = $5 AND undone_by IS NULL",
                run_id,
                now,
                reflex,
                fingerprint,
                step,
            )
            row = await c.fetchrow(
                f"SELECT {_UNDO_COLUMNS} FROM undos"  # noqa: S608
                " WHERE reflex = $1 AND fingerprint = $2 AND step = $3",
                reflex,
                fingerprint,
                step,
            )
            return None if row is None else _to_undo(row)

        return await self._tx(op, patience=FINISH_PATIENCE)

    async def pending_undo(self, reflex: str, fingerprint: str, step: int) -> Undo | None:
        rows = await self._fetch(
            f"SELECT {_UNDO_COLUMNS} FROM undos"  # noqa: S608
            " WHERE reflex = $1 AND fingerprint = $2 AND step = $3 AND undone_by IS NULL",
            reflex,
            fingerprint,
            step,
        )
        return _to_undo(rows[0]) if rows else None

    async def pending_undos(self) -> list[Undo]:
        rows = await self._fetch(
            f"SELECT {_UNDO_COLUMNS} FROM undos WHERE undone_by IS NULL"  # noqa: S608
            " ORDER BY created_at"
        )
        return [_to_undo(r) for r in rows]

    # --- health and episodes -----------------------------------------------------

    async def ping(self) -> None:
        await self._run(lambda c: c.fetchval("SELECT 1"))

    async def check_writable(self) -> None:
        await self._run(
            lambda c: c.execute(
                "INSERT INTO meta (key, value) VALUES ('checked_writable', $1)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                repr(time.time()),
            )
        )

    async def episode_resolved(self, fingerprint: str, starts_at: str) -> bool:
        status = await self._run(
            lambda c: c.fetchval(
                "SELECT status FROM episodes WHERE fingerprint = $1 AND starts_at = $2",
                fingerprint,
                starts_at,
            )
        )
        return bool(status == "resolved")

    async def prune(self, before: float, forget_before: float, limit: int, now: float) -> Pruned:
        async def op(c: Conn) -> Pruned:
            # SKIP LOCKED: replicas pruning at the same time split the work, and no
            # row a replica is using is waited for. As in the SQLite store: history
            # goes after retention, an episode's facts once it resolved long enough ago.
            runs = await c.fetch(
                "WITH r AS (SELECT id FROM runs WHERE finished_at < $1 AND pruned_at IS NULL"
                " AND NOT EXISTS (SELECT 1 FROM undos u WHERE u.run_id = runs.id"
                " AND u.undone_by IS NULL) LIMIT $2 FOR UPDATE SKIP LOCKED),"
                " a AS (DELETE FROM artifacts WHERE run_id IN (SELECT id FROM r))"
                " UPDATE runs SET context = '{}', steps = '[]', pruned_at = $3"
                " WHERE id IN (SELECT id FROM r) RETURNING 1",
                before,
                limit,
                now,
            )
            notifications = await c.fetch(
                "DELETE FROM notifications WHERE id IN (SELECT id FROM notifications"
                " WHERE coalesce(last_received_at, received_at) < $1 LIMIT $2"
                " FOR UPDATE SKIP LOCKED) RETURNING 1",
                before,
                limit,
            )
            episodes = await c.fetch(
                "WITH e AS (SELECT fingerprint, starts_at FROM episodes ep"
                " WHERE status = 'resolved' AND resolved_seen < $1 AND NOT EXISTS"
                " (SELECT 1 FROM runs r WHERE r.fingerprint = ep.fingerprint"
                " AND r.starts_at = ep.starts_at AND (r.finished_at IS NULL OR EXISTS"
                " (SELECT 1 FROM undos u WHERE u.run_id = r.id AND u.undone_by IS NULL)))"
                " LIMIT $2 FOR UPDATE SKIP LOCKED),"
                " gone AS (DELETE FROM runs r USING e WHERE r.fingerprint = e.fingerprint"
                " AND r.starts_at = e.starts_at RETURNING r.id),"
                " a AS (DELETE FROM artifacts WHERE run_id IN (SELECT id FROM gone))"
                " DELETE FROM episodes ep USING e WHERE ep.fingerprint = e.fingerprint"
                " AND ep.starts_at = e.starts_at RETURNING 1",
                forget_before,
                limit,
            )
            await c.execute(
                "DELETE FROM undos WHERE ctid IN (SELECT ctid FROM undos"
                " WHERE undone_by IS NOT NULL AND undone_at < $1 LIMIT $2)",
                forget_before,
                limit,
            )
            return Pruned(len(runs), len(notifications), len(episodes))

        return await self._tx(op)

    async def count_repeats(self, repeats: dict[str, tuple[int, float]]) -> None:
        ids = sorted(repeats)  # the same order everywhere: no deadlock between replicas
        await self._tx(
            lambda c: c.execute(
                "UPDATE notifications n SET repeats = n.repeats + t.count,"
                " last_received_at = greatest(n.last_received_at, t.at)"
                " FROM unnest($1::text[], $2::int[], $3::float8[]) AS t(id, count, at)"
                " WHERE n.id = t.id",
                ids,
                [repeats[i][0] for i in ids],
                [repeats[i][1] for i in ids],
            )
        )

    async def firing_episodes(self, limit: int = 100) -> list[AlertRecord]:
        rows = await self._fetch(
            "SELECT fingerprint, starts_at, status, labels, annotations, ends_at, generator_url"
            " FROM episodes WHERE status = 'firing' ORDER BY starts_at DESC LIMIT $1",
            limit,
        )
        return [
            AlertRecord(r[0], r[1], r[2], orjson.loads(r[3]), orjson.loads(r[4]), r[5], r[6])
            for r in rows
        ]

    # --- controls, audit and approvals ---------------------------------------------

    async def controls(self) -> list[Control]:
        rows = await self._fetch(f"SELECT {_CONTROL_COLUMNS} FROM controls ORDER BY scope")  # noqa: S608
        return [Control(*r) for r in rows]

    async def set_control(
        self, scope: str, control: Control | None, audit: AuditEntry
    ) -> Control | None:
        async def op(c: Conn) -> Control | None:
            row = await c.fetchrow(
                f"SELECT {_CONTROL_COLUMNS} FROM controls WHERE scope = $1 FOR UPDATE",  # noqa: S608
                scope,
            )
            if control is None:
                await c.execute("DELETE FROM controls WHERE scope = $1", scope)
            else:
                await c.execute(
                    f"INSERT INTO controls ({_CONTROL_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"  # noqa: S608
                    " ON CONFLICT (scope) DO UPDATE SET kind = excluded.kind,"
                    " reason = excluded.reason, by = excluded.by, since = excluded.since",
                    scope,
                    control.kind,
                    _clean(control.reason),
                    _clean(control.by),
                    control.since,
                )
            await _insert_audit(c, audit)
            return None if row is None else Control(*row)

        return await self._tx(op)

    async def add_audit(self, entry: AuditEntry) -> None:
        await self._run(lambda c: _insert_audit(c, entry))

    async def list_audit(self, *, target: str | None = None, limit: int = 100) -> list[AuditEntry]:
        args: tuple[Any, ...] = (limit,)
        sql = "ORDER BY id DESC LIMIT $1"
        if target is not None:
            sql, args = "WHERE target = $1 ORDER BY id DESC LIMIT $2", (target, limit)
        rows = await self._fetch(
            f"SELECT id, at, who, action, target, reason, details FROM audit {sql}",  # noqa: S608
            *args,
        )
        return [
            AuditEntry(
                id=r["id"],
                at=r["at"],
                who=r["who"],
                action=r["action"],
                target=r["target"],
                reason=r["reason"],
                details=orjson.loads(r["details"]),
            )
            for r in rows
        ]

    async def await_approval(
        self, run_id: str, steps: list[dict[str, Any]], expires_at: float
    ) -> bool:
        status: str = await self._run(
            lambda c: c.execute(
                "UPDATE runs SET state = 'awaiting_approval', steps = $1::json,"
                " expires_at = $2, reason = 'awaiting approval'"
                " WHERE id = $3 AND state = 'queued'",
                _json(steps),
                expires_at,
                run_id,
            )
        )
        return status != "UPDATE 0"

    async def decide(
        self, run_id: str, approve: bool, audit: AuditEntry, now: float
    ) -> RunRecord | None:
        async def op(c: Conn) -> RunRecord | None:
            if approve:
                row = await c.fetchrow(
                    _APPROVE,
                    _clean(audit.who),
                    _clean(f"approved by {audit.who}: {audit.reason}"),
                    run_id,
                    self.replica,
                    now + self.lease,
                )
            else:
                row = await c.fetchrow(
                    _REJECT, _clean(f"rejected by {audit.who}: {audit.reason}"), now, run_id
                )
            if row is None:
                return None
            await _insert_audit(c, audit)
            return _to_run(row)

        return await self._tx(op)

    async def expire_approvals(self, now: float) -> list[tuple[str, str]]:
        async def op(c: Conn) -> list[tuple[str, str]]:
            rows = await c.fetch(
                "UPDATE runs SET state = 'expired', finished_at = $1,"
                " reason = 'expired: nobody approved it within its approval_timeout'"
                " WHERE state = 'awaiting_approval' AND expires_at <= $1 RETURNING id, reflex",
                now,
            )
            for r in rows:
                await _insert_audit(
                    c,
                    AuditEntry(now, "alertreflex", "expire", r["id"], "nobody approved it in time"),
                )
            return [(r["id"], r["reflex"]) for r in rows]

        return await self._tx(op)

    async def withdraw_approvals(
        self, reflex: str, fingerprint: str, starts_at: str, reason: str, now: float
    ) -> list[str]:
        rows = await self._fetch(
            "UPDATE runs SET state = 'skipped', reason = $1, finished_at = $2 WHERE reflex = $3"
            " AND fingerprint = $4 AND starts_at = $5 AND state = 'awaiting_approval'"
            " RETURNING id",
            _clean(reason),
            now,
            reflex,
            fingerprint,
            starts_at,
        )
        return [r["id"] for r in rows]

    async def add_rerun(self, run: NewRun, of: RunRecord, audit: AuditEntry, now: float) -> None:
        async def op(c: Conn) -> None:
            # superseded keeps a manual run out of the episode's once-only key.
            await c.execute(
                f"INSERT INTO runs ({_NEW_RUN_COLUMNS}, superseded, manual_by, rerun_of,"  # noqa: S608
                f" owner, lease_until) VALUES ({_NEW_RUN_VALUES}, true, $14, $15, $16,"
                " $9::float8 + $17::float8)",
                *_run_args(run, now, of.notification_id),
                _clean(audit.who),
                of.id,
                self.replica,
                self.lease,
            )
            await _insert_audit(c, audit)

        await self._tx(op)

    async def run_ids_by_prefix(self, prefix: str, limit: int) -> list[str]:
        # LIKE with its wildcards escaped: exact in any collation (a range on id
        # would follow the database's collation); the index serves it under "C".
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = await self._fetch(
            "SELECT id FROM runs WHERE id LIKE $1 ESCAPE '\\' ORDER BY id LIMIT $2",
            pattern,
            limit,
        )
        return [r["id"] for r in rows]
