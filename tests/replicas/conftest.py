"""Replicas of alertreflex (real server processes) sharing one real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from alertreflex.store.migrations import migrate_store
from tests.pg import fresh_schema


@pytest.fixture
def shared_storage() -> Iterator[str]:
    """A migrated, empty schema of the test PostgreSQL, as a --storage URL."""
    schema = fresh_schema()
    loop = asyncio.new_event_loop()
    try:
        dsn = loop.run_until_complete(schema.__aenter__())
        loop.run_until_complete(migrate_store(dsn))
        yield dsn
    finally:
        loop.run_until_complete(schema.__aexit__(None, None, None))
        loop.close()
