"""The machine's real PostgreSQL, for the tests of the shared store.

The DSN comes from ALERTREFLEX_TEST_PG (``.ci/run`` sets it). Each test gets a schema
of its own, named in the DSN's search_path, and dropped afterwards. Without the
variable these tests skip on a developer's machine, but fail where
ALERTREFLEX_REQUIRE_PG=1 (CI): skipping is not passing.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlencode, urlsplit, urlunsplit

import asyncpg
import pytest


def admin_dsn() -> str:
    dsn = os.environ.get("ALERTREFLEX_TEST_PG", "")
    if not dsn:
        why = "ALERTREFLEX_TEST_PG is not set (e.g. postgresql://postgres@127.0.0.1:5432/test)"
        if os.environ.get("ALERTREFLEX_REQUIRE_PG") == "1":
            pytest.fail(why, pytrace=False)
        pytest.skip(why)
    return dsn


def with_search_path(dsn: str, schema: str) -> str:
    """``dsn`` whose sessions use ``schema`` (asyncpg passes unknown query
    parameters on as server settings)."""
    parts = urlsplit(dsn)
    query = "&".join(q for q in (parts.query, urlencode({"search_path": schema})) if q)
    return urlunsplit(parts._replace(query=query))


@asynccontextmanager
async def fresh_schema() -> AsyncIterator[str]:
    """A DSN for a new, empty schema; the schema is dropped on exit."""
    dsn = admin_dsn()
    name = f"t_{secrets.token_hex(6)}"
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL at {dsn} is unreachable: {exc}", pytrace=False)
    try:
        await conn.execute(f"CREATE SCHEMA {name}")
    finally:
        await conn.close()
    try:
        yield with_search_path(dsn, name)
    finally:
        # A new connection: a test may have restarted PostgreSQL meanwhile.
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            await conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        finally:
            await conn.close()
