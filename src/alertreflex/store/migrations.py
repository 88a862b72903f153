"""Schema versions across backends, for ``alertreflex migrate``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import asyncpg

from alertreflex.store import postgres_schema, sqlite_schema
from alertreflex.store.base import StoreError
from alertreflex.store.postgres import PostgresStore
from alertreflex.store.urls import is_postgres, open_store


def describe(version: int) -> str:
    return "no schema yet" if version == 0 else f"schema version {version}"


async def migrate_store(url: str, *, check: bool = False) -> tuple[int, int]:
    """(version before, version after) of the store at ``url``; with ``check``
    nothing changes and "after" is the version this release needs."""
    store = open_store(url)
    if isinstance(store, PostgresStore):
        return await _postgres(store, check)
    assert not is_postgres(url)
    path = Path(url[len("sqlite:///") :])
    before = _sqlite_version(path)
    if before > sqlite_schema.SCHEMA_VERSION:
        raise StoreError(
            f"{path} has schema version {before}; this alertreflex knows up to "
            f"{sqlite_schema.SCHEMA_VERSION}: upgrade alertreflex"
        )
    if not check:
        await store.open()  # an SQLite file migrates itself when opened
        await store.close()
    return before, sqlite_schema.SCHEMA_VERSION


def _sqlite_version(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        sqlite_schema.check_file(str(path))
    except sqlite_schema.SchemaError as exc:
        raise StoreError(str(exc)) from None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            if not conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
            ).fetchone():
                return 0
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            return 0 if row is None else int(row[0])
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read {path}: {exc}") from exc


async def _postgres(store: PostgresStore, check: bool) -> tuple[int, int]:
    try:
        conn = await asyncpg.connect(store.dsn, timeout=10)
    except (
        OSError,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        TimeoutError,
        ValueError,
    ) as exc:
        raise StoreError(f"cannot connect to PostgreSQL {store.where}: {exc}") from exc
    try:
        before = await postgres_schema.schema_version(conn)
        if before > postgres_schema.SCHEMA_VERSION:
            await postgres_schema.check_schema(conn, store.where)  # raises, saying why
        if check:
            return before, postgres_schema.SCHEMA_VERSION
        migrated = await postgres_schema.migrate(conn, store.where)
        return (before if migrated is None else migrated), postgres_schema.SCHEMA_VERSION
    except postgres_schema.SchemaError as exc:
        raise StoreError(str(exc)) from None
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        raise StoreError(f"{store.where}: nothing changed: {exc}") from exc
    finally:
        await conn.close()
