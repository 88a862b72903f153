"""The SQLite store's schema and its migrations, applied in order at open.

Version 1 (0.1 development): notifications, episodes, runs.
Version 2: artifacts; undos (what reversible steps changed, to put back);
runs.superseded, so that a resolved run cancelled by a flap no longer blocks the
episode's next resolved run (the uniqueness of a run per episode and trigger is a
partial index over runs that are not superseded).
Version 3: controls (the global pause and the reflexes disabled by an operator or
their circuit breaker) and audit (who paused, resumed, approved, re-ran, and why).
Version 4: runs.expires_at (approval deadline), approved_by, manual_by and rerun_of
(a manual re-run, linked to the run it repeats).
Version 5: indexes for retention (resolved episodes by when they resolved) and for
a reflex's audit trail, as the PostgreSQL schema has them: without the first, each
prune batch scanned every episode while holding the write lock.
Version 6: retention removes a run's history (its alert context, steps and
artifacts; ``runs.pruned_at`` says when) but keeps the row, which is what stops an
episode from running twice, for as long as the episode fires. Identical repeats of a
notification are counted on its row (``repeats``, ``last_received_at``) rather than
stored again. Runs are found by episode (``runs_by_episode``) when an episode is
forgotten. The file reuses and returns free pages (``auto_vacuum = INCREMENTAL``,
set by a one-time VACUUM when an older file is migrated).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA_VERSION = 6

_RUNS_TABLE = """
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    reflex TEXT NOT NULL,
    team TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    trigger TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    not_before REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    notification_id TEXT NOT NULL,
    context BLOB NOT NULL,
    steps BLOB NOT NULL DEFAULT '[]',
    superseded INTEGER NOT NULL DEFAULT 0
);
"""

_RUNS_INDEXES = """
CREATE UNIQUE INDEX runs_episode ON runs(reflex, fingerprint, starts_at, trigger)
    WHERE superseded = 0;
CREATE INDEX runs_created ON runs(created_at);
CREATE INDEX runs_reflex_created ON runs(reflex, created_at);
CREATE INDEX runs_unfinished ON runs(state) WHERE state IN ('queued', 'running', 'interrupted');
"""

_V2_TABLES = """
CREATE TABLE artifacts (
    run_id TEXT NOT NULL,
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    original_size INTEGER NOT NULL,
    created_at REAL NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (run_id, name)
);
CREATE TABLE undos (
    reflex TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    step INTEGER NOT NULL,
    action TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    run_id TEXT NOT NULL,
    memo BLOB NOT NULL,
    created_at REAL NOT NULL,
    undone_by TEXT,
    undone_at REAL,
    PRIMARY KEY (reflex, fingerprint, step)
);
CREATE INDEX undos_pending ON undos(reflex, fingerprint) WHERE undone_by IS NULL;
"""

_V3_TABLES = """
CREATE TABLE controls (
    scope TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    by TEXT NOT NULL,
    since REAL NOT NULL
);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    who TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    reason TEXT NOT NULL,
    details BLOB NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_at ON audit(at);
"""

_V4 = """
ALTER TABLE runs ADD COLUMN expires_at REAL;
ALTER TABLE runs ADD COLUMN approved_by TEXT;
ALTER TABLE runs ADD COLUMN manual_by TEXT;
ALTER TABLE runs ADD COLUMN rerun_of TEXT;
CREATE INDEX runs_awaiting ON runs(expires_at) WHERE state = 'awaiting_approval';
CREATE INDEX episodes_firing ON episodes(starts_at) WHERE status = 'firing';
"""

_V5 = """
CREATE INDEX episodes_resolved ON episodes(resolved_seen) WHERE status = 'resolved';
CREATE INDEX audit_target ON audit(target);
"""

_V6 = """
ALTER TABLE runs ADD COLUMN pruned_at REAL;
ALTER TABLE notifications ADD COLUMN digest TEXT;
ALTER TABLE notifications ADD COLUMN repeats INTEGER NOT NULL DEFAULT 0;
ALTER TABLE notifications ADD COLUMN last_received_at REAL;
CREATE INDEX runs_by_episode ON runs(fingerprint, starts_at);
CREATE INDEX runs_history ON runs(finished_at) WHERE pruned_at IS NULL;
CREATE INDEX undos_undone ON undos(undone_at) WHERE undone_by IS NOT NULL;
CREATE INDEX notifications_digest ON notifications(digest);
"""

_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    received_at REAL NOT NULL,
    receiver TEXT NOT NULL,
    status TEXT NOT NULL,
    group_key TEXT NOT NULL,
    alerts INTEGER NOT NULL,
    new_runs INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX notifications_received ON notifications(received_at);
CREATE TABLE episodes (
    fingerprint TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    status TEXT NOT NULL,
    labels TEXT NOT NULL,
    annotations TEXT NOT NULL,
    ends_at TEXT,
    generator_url TEXT NOT NULL,
    first_seen REAL NOT NULL,
    resolved_seen REAL,
    PRIMARY KEY (fingerprint, starts_at)
) WITHOUT ROWID;
"""

# A new file gets the current schema at once; an older one runs the steps after its version.
_CREATE = _V1 + _RUNS_TABLE + _RUNS_INDEXES + _V2_TABLES + _V3_TABLES + _V4 + _V5 + _V6
_MIGRATIONS: dict[int, str] = {
    2: (
        "DROP INDEX runs_created; DROP INDEX runs_reflex_created; DROP INDEX runs_unfinished;"  # noqa: S608
        "ALTER TABLE runs RENAME TO runs_v1;"
        + _RUNS_TABLE
        + "INSERT INTO runs SELECT *, 0 FROM runs_v1; DROP TABLE runs_v1;"
        + _RUNS_INDEXES
        + _V2_TABLES
    ),
    3: _V3_TABLES,
    4: _V4,
    5: _V5,
    6: _V6,
}


class SchemaError(RuntimeError):
    pass


_HEADER = b"SQLite format 3\x00"
_WHAT_TO_DO = (
    "restore it from a backup, or move it away to start a new, empty store (alertreflex "
    "then forgets which alert episodes it already handled, and their runs may run again)"
)


def check_file(path: str) -> None:
    """Refuse, before anything writes to it, a file that exists but holds no
    alertreflex store. SQLite would take an empty one (truncated by a full disk, a
    failed copy) for a new database, and alertreflex would forget which episodes
    already ran; another program's database would get our tables. A missing file
    is a new store."""
    try:
        with open(path, "rb") as f:
            header = f.read(len(_HEADER))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise SchemaError(f"cannot read the SQLite store {path}: {exc.strerror}") from None
    if not header:
        raise SchemaError(f"{path} is empty (0 bytes), not an alertreflex store: {_WHAT_TO_DO}")
    if header != _HEADER:
        raise SchemaError(f"{path} is not an SQLite database: {_WHAT_TO_DO}")
    try:
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise SchemaError(f"cannot read the SQLite store {path}: {exc}: {_WHAT_TO_DO}") from None
    if tables and "meta" not in tables:
        raise SchemaError(
            f"{path} is the SQLite database of something else (tables, and no alertreflex "
            "schema version): point --storage at another file"
        )


_INCREMENTAL = 2  # PRAGMA auto_vacuum: free pages are returned by incremental_vacuum


def prepare_new_file(conn: sqlite3.Connection) -> None:
    """On a file without tables yet: free pages go back to the file system on
    ``PRAGMA incremental_vacuum`` (this must be set before the first table)."""
    if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
        conn.execute(f"PRAGMA auto_vacuum = {_INCREMENTAL}")


def ensure_schema(conn: sqlite3.Connection, path: str) -> int | None:
    """Create the schema or migrate it to SCHEMA_VERSION, in one transaction.

    Returns the version migrated from, or None if nothing changed. Refuses a file
    written by a newer alertreflex, rather than guess at its meaning.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        has_meta = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
        ).fetchone()
        version = _version(conn) if has_meta else 0
        if version > SCHEMA_VERSION:
            raise SchemaError(
                f"{path} has schema version {version}; this alertreflex knows up to "
                f"{SCHEMA_VERSION}: upgrade alertreflex, or point --storage elsewhere"
            )
        if version == SCHEMA_VERSION:
            conn.execute("ROLLBACK")
            return None
        if version == 0:
            scripts = [_CREATE]
        else:
            scripts = [_MIGRATIONS[v] for v in range(version + 1, SCHEMA_VERSION + 1)]
        for script in scripts:
            for statement in _statements(script):
                conn.execute(statement)
        conn.execute(
            "INSERT INTO meta VALUES ('schema_version', ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(SCHEMA_VERSION),),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != _INCREMENTAL:
        # A file made before version 6 keeps its pages once freed; switching needs one
        # VACUUM, which rewrites the file (outside any transaction).
        conn.execute(f"PRAGMA auto_vacuum = {_INCREMENTAL}")
        conn.execute("VACUUM")
    return version


def _version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return 0 if row is None else int(row[0])


def _statements(script: str) -> list[str]:
    # executescript() would COMMIT first; statements one by one keep the migration
    # in a single transaction. The scripts hold no ';' inside literals.
    return [s.strip() for s in script.split(";") if s.strip()]
