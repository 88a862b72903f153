"""The store under test: every store test runs against SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from alertreflex.store.base import Store
from alertreflex.store.migrations import migrate_store
from alertreflex.store.postgres import PostgresStore
from alertreflex.store.sqlite import SQLiteStore
from tests.pg import fresh_schema


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        s: Store = SQLiteStore(tmp_path / "store.db")
        await s.open()
        yield s
        await s.close()
        return
    async with fresh_schema() as dsn:
        await migrate_store(dsn)
        s = PostgresStore(dsn, replica="test-replica")
        await s.open()
        yield s
        await s.close()
