"""The PostgreSQL store's schema and its migrations.

Unlike the embedded SQLite file, a PostgreSQL database is shared by replicas that
may run different releases during an upgrade, so the schema only changes when an
operator runs ``alertreflex migrate``; ``serve`` checks the version and refuses one
it does not know. Migrations take an advisory lock, so two ``migrate`` at once are
safe.

Version 4 is the first PostgreSQL schema: it has the same tables as SQLite's version
4 (so both backends carry one version number), plus each run's ``owner`` replica
and ``lease_until``, the deadline after which another replica may take it over,
and ``gates``: per reflex (and for all reflexes, scope '') the last firing start
and the storm guard's window, which the embedded store keeps in memory.
Version 5 is version 4 (SQLite's version 5 added indexes this schema already had).
Version 6, as SQLite's: ``runs.pruned_at`` (retention removed the run's history, its
row stays while its episode fires), ``notifications.digest``, ``repeats`` and
``last_received_at`` (identical repeats are counted, not stored again), and the
indexes that retention needs.
"""

from __future__ import annotations

from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

SCHEMA_VERSION = 6
_FIRST = 4  # the version _CREATE makes
# A connection of its own or one borrowed from a pool.
Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
# pg_advisory_xact_lock key: "alertreflex" folded into a bigint.
_LOCK = 0x616C6572747265

_CREATE = """
CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE notifications (
    id text PRIMARY KEY,
    received_at double precision NOT NULL,
    receiver text NOT NULL,
    status text NOT NULL,
    group_key text NOT NULL,
    alerts integer NOT NULL,
    new_runs integer NOT NULL,
    body bytea NOT NULL
);
CREATE INDEX notifications_received ON notifications(received_at);
CREATE TABLE episodes (
    fingerprint text NOT NULL,
    starts_at text NOT NULL,
    status text NOT NULL,
    labels json NOT NULL,
    annotations json NOT NULL,
    ends_at text,
    generator_url text NOT NULL,
    first_seen double precision NOT NULL,
    resolved_seen double precision,
    PRIMARY KEY (fingerprint, starts_at)
);
CREATE INDEX episodes_firing ON episodes(starts_at) WHERE status = 'firing';
CREATE INDEX episodes_resolved ON episodes(resolved_seen) WHERE status = 'resolved';
CREATE TABLE runs (
    id text PRIMARY KEY,
    reflex text NOT NULL,
    team text NOT NULL,
    fingerprint text NOT NULL,
    starts_at text NOT NULL,
    trigger text NOT NULL,
    state text NOT NULL,
    reason text NOT NULL DEFAULT '',
    created_at double precision NOT NULL,
    not_before double precision NOT NULL,
    started_at double precision,
    finished_at double precision,
    attempts integer NOT NULL DEFAULT 0,
    notification_id text NOT NULL,
    context json NOT NULL,
    steps json NOT NULL DEFAULT '[]',
    superseded boolean NOT NULL DEFAULT false,
    expires_at double precision,
    approved_by text,
    manual_by text,
    rerun_of text,
    owner text,
    lease_until double precision
);
CREATE UNIQUE INDEX runs_episode ON runs(reflex, fingerprint, starts_at, trigger)
    WHERE NOT superseded;
CREATE INDEX runs_created ON runs(created_at);
CREATE INDEX runs_reflex_created ON runs(reflex, created_at);
CREATE INDEX runs_unfinished ON runs(state) WHERE state IN ('queued', 'running', 'interrupted');
CREATE INDEX runs_awaiting ON runs(expires_at) WHERE state = 'awaiting_approval';
CREATE INDEX runs_leases ON runs(lease_until) WHERE state IN ('queued', 'running', 'interrupted');
CREATE TABLE artifacts (
    run_id text NOT NULL,
    name text NOT NULL,
    content_type text NOT NULL,
    size integer NOT NULL,
    original_size integer NOT NULL,
    created_at double precision NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (run_id, name)
);
CREATE TABLE undos (
    reflex text NOT NULL,
    fingerprint text NOT NULL,
    step integer NOT NULL,
    action text NOT NULL,
    starts_at text NOT NULL,
    run_id text NOT NULL,
    memo json NOT NULL,
    created_at double precision NOT NULL,
    undone_by text,
    undone_at double precision,
    PRIMARY KEY (reflex, fingerprint, step)
);
CREATE INDEX undos_pending ON undos(reflex, fingerprint) WHERE undone_by IS NULL;
CREATE TABLE controls (
    scope text PRIMARY KEY,
    kind text NOT NULL,
    reason text NOT NULL,
    by text NOT NULL,
    since double precision NOT NULL
);
CREATE TABLE audit (
    id bigserial PRIMARY KEY,
    at double precision NOT NULL,
    who text NOT NULL,
    action text NOT NULL,
    target text NOT NULL,
    reason text NOT NULL,
    details json NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_at ON audit(at);
CREATE INDEX audit_target ON audit(target);
CREATE TABLE gates (
    scope text PRIMARY KEY,
    last_start double precision,
    window_opened double precision,
    window_runs integer NOT NULL DEFAULT 0
);
"""

_V6 = """
ALTER TABLE runs ADD COLUMN pruned_at double precision;
ALTER TABLE notifications ADD COLUMN digest text;
ALTER TABLE notifications ADD COLUMN repeats integer NOT NULL DEFAULT 0;
ALTER TABLE notifications ADD COLUMN last_received_at double precision;
CREATE INDEX runs_by_episode ON runs(fingerprint, starts_at);
CREATE INDEX runs_history ON runs(finished_at) WHERE pruned_at IS NULL;
CREATE INDEX undos_undone ON undos(undone_at) WHERE undone_by IS NOT NULL;
CREATE INDEX notifications_digest ON notifications(digest);
"""

# Steps from the version before to this one.
_MIGRATIONS: dict[int, str] = {5: "", 6: _V6}


class SchemaError(RuntimeError):
    pass


async def schema_version(conn: Conn) -> int:
    """0 for a database without alertreflex's tables."""
    if await conn.fetchval("SELECT to_regclass('meta')") is None:
        return 0
    value = await conn.fetchval("SELECT value FROM meta WHERE key = 'schema_version'")
    return 0 if value is None else int(value)


async def check_schema(conn: Conn, where: str) -> None:
    """Refuse to serve on a schema this release does not know, saying what to do."""
    version = await schema_version(conn)
    if version == SCHEMA_VERSION:
        return
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"{where} has schema version {version}; this alertreflex knows up to "
            f"{SCHEMA_VERSION}: upgrade alertreflex, or point --storage elsewhere"
        )
    have = "no alertreflex schema" if version == 0 else f"schema version {version}"
    raise SchemaError(
        f"{where} has {have}; this alertreflex needs version {SCHEMA_VERSION}:"
        f" run `alertreflex migrate --storage URL` first"
    )


async def migrate(conn: Conn, where: str) -> int | None:
    """Create the schema or bring it to SCHEMA_VERSION in one transaction.

    Returns the version migrated from (0: created), or None when already current.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
        version = await schema_version(conn)
        if version > SCHEMA_VERSION:
            await check_schema(conn, where)  # raises, saying why
        if version == SCHEMA_VERSION:
            return None
        # A new database gets the first schema (version 4), then every step after it.
        scripts = [_CREATE] if version == 0 else []
        scripts += [_MIGRATIONS[v] for v in range(max(version, _FIRST) + 1, SCHEMA_VERSION + 1)]
        for script in filter(None, scripts):
            await conn.execute(script)
        await conn.execute(
            "INSERT INTO meta VALUES ('schema_version', $1)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            str(SCHEMA_VERSION),
        )
    return version
