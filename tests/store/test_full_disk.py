"""The SQLite store on a real full disk (a small tmpfs): writes fail with StoreError
and nothing worse, reads go on, and the same connection writes again once there is
room, with nothing half-written."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from alertreflex.core.models import RunState
from alertreflex.store.base import StoreError
from alertreflex.store.sqlite import SQLiteStore
from tests.store.test_store import _alert, _batch, _run
from tests.tmpfs import fill, small_tmpfs


async def test_writes_fail_while_the_disk_is_full_and_work_again_after(tmp_path: Path) -> None:
    """With the disk full every write (a lone one, a batch of concurrent ones, the
    probe) raises StoreError naming the cause, reads still answer, and after the
    filler is deleted the same store commits again and the file is intact."""
    with small_tmpfs(tmp_path / "disk") as disk:
        store = SQLiteStore(disk / "store.db")
        await store.open()
        try:
            runs = [_run(fp=f"fp{i}") for i in range(6)]
            await store.ingest(_batch([_alert(fp=f"fp{i}") for i in range(6)], runs))
            assert await store.claim(runs[0].id, time.time(), []) == 1
            filler = fill(disk)

            with pytest.raises(StoreError, match="database or disk is full"):
                await store.save_steps(runs[0].id, [{"index": 0, "output": "x" * 5000}])
            together = await asyncio.gather(
                *(store.claim(r.id, time.time(), []) for r in runs[1:]),
                return_exceptions=True,
            )
            assert all(isinstance(e, StoreError) for e in together), together
            with pytest.raises(StoreError):
                await store.check_writable()
            with pytest.raises(StoreError):
                await store.ingest(_batch([_alert(fp="late")], [_run(fp="late")]))
            rec = await store.get_run(runs[1].id)
            assert rec is not None and rec.state is RunState.QUEUED  # nothing applied

            filler.unlink()
            await store.check_writable()
            await store.save_steps(runs[0].id, [{"index": 0, "output": "x" * 5000}])
            claimed = await asyncio.gather(*(store.claim(r.id, time.time(), []) for r in runs[1:]))
            assert claimed == [1] * 5
            late = await store.ingest(_batch([_alert(fp="late")], [_run(fp="late")]))
            assert len(late.created) == 1
            first = await store.get_run(runs[0].id)
            assert first is not None and first.steps[0]["output"] == "x" * 5000
        finally:
            await store.close()
        conn = sqlite3.connect(disk / "store.db")
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            states = conn.execute("SELECT state, count(*) FROM runs GROUP BY state").fetchall()
        finally:
            conn.close()
        assert sorted(states) == [("queued", 1), ("running", 6)]
