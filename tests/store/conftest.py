"""A fresh SQLite store file per test, shared by the store tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from alertreflex.store.sqlite import SQLiteStore


@pytest.fixture
async def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = SQLiteStore(tmp_path / "store.db")
    await s.open()
    yield s
    await s.close()
