"""Group commit: many concurrent callers, one SQLite transaction and fsync per batch.

Callers submit small functions that run inside a transaction. While one batch is
being made durable (COMMIT, which fsyncs, in a helper thread), new submissions
queue up; when it is done, the next batch runs all of them in one transaction and
commits once (if one of them fails, the batch is redone with a SAVEPOINT around
each, so that one failure does not undo the others; functions must therefore be
safe to run again). Only after its batch's commit does each caller's future resolve: nobody is
told "done" before their write is on disk, yet a burst of N requests costs about
one fsync, not N.

The statements run on the event loop's thread: they take microseconds each, and
running them in a writer thread instead cost twice as much CPU here, the GIL
changing hands around every SQLite call. Only the COMMIT, which waits for the
disk with the GIL released, goes to the helper thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

R = TypeVar("R")

_Item = tuple[Callable[..., Any], tuple[Any, ...], asyncio.Future[Any]]


class GroupCommitWriter:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._pending: list[_Item] = []
        self._flusher: asyncio.Task[None] | None = None
        self._committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-commit")
        self.batches = 0  # for tests and benchmarks: how many commits were made

    def submit(self, fn: Callable[..., R], *args: Any) -> asyncio.Future[R]:
        """Run ``fn(conn, *args)`` in the next transaction; the future resolves after commit."""
        fut: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((fn, args, fut))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        return fut

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                await self._commit(batch)
        finally:
            self._flusher = None

    async def _commit(self, batch: list[_Item]) -> None:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Optimistic: no savepoints. Functions rarely fail (a full queue), and
                # when one does, the batch is redone with one savepoint per function.
                results = [(fut, True, fn(conn, *args)) for fn, args, fut in batch]
            except Exception:
                conn.rollback()
                conn.execute("BEGIN IMMEDIATE")
                results = [self._isolated(fn, args, fut) for fn, args, fut in batch]
            await asyncio.get_running_loop().run_in_executor(
                self._committer, conn.execute, "COMMIT"
            )
        except sqlite3.Error as exc:
            # The whole batch is lost (disk full, I/O error): every caller hears so,
            # and nobody was acknowledged. A COMMIT that failed leaves its transaction
            # open: rolled back, the connection takes the next batch. Should the
            # rollback fail too, the next batch's BEGIN fails and rolls back again.
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.rollback()
            results = [(fut, False, exc) for _fn, _args, fut in batch]
        self.batches += 1
        for fut, ok, value in results:
            if fut.done():  # the caller gave up (cancelled); the write stands regardless
                continue
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)

    def _isolated(
        self, fn: Callable[..., Any], args: tuple[Any, ...], fut: asyncio.Future[Any]
    ) -> tuple[asyncio.Future[Any], bool, Any]:
        conn = self._conn
        conn.execute("SAVEPOINT op")
        try:
            value = fn(conn, *args)
        except Exception as exc:
            conn.execute("ROLLBACK TO op")
            conn.execute("RELEASE op")
            return fut, False, exc
        conn.execute("RELEASE op")
        return fut, True, value

    async def close(self) -> None:
        while self._flusher is not None:
            await asyncio.shield(self._flusher)
        self._committer.shutdown(wait=True)
        self._conn.close()
