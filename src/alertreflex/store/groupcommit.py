"""Group commit: one SQLite writer thread, many concurrent callers, few fsyncs.

Callers submit small functions that run inside a transaction. The writer takes
every function queued while the previous commit was being made durable, runs them
in one transaction (each inside its own SAVEPOINT, so one failure does not undo the
others), commits once, and only then resolves each caller's future. A caller is
therefore never told "done" before its own write is on disk, yet a burst of N
requests costs about one fsync, not N.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

R = TypeVar("R")

_MAX_BATCH = 1024
_Item = tuple[Callable[..., Any], tuple[Any, ...], asyncio.Future[Any], asyncio.AbstractEventLoop]


def _settle(items: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for fut, ok, value in items:
        if fut.done():  # the caller gave up (cancelled); the write stands regardless
            continue
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)


class GroupCommitWriter:
    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="sqlite-writer", daemon=True)
        self._started = threading.Event()
        self._error: BaseException | None = None
        self.batches = 0  # for tests and benchmarks: how many commits were made

    def start(self) -> None:
        self._thread.start()
        self._started.wait()
        if self._error is not None:
            raise self._error

    def submit(self, fn: Callable[..., R], *args: Any) -> asyncio.Future[R]:
        """Run ``fn(conn, *args)`` in the next transaction; the future resolves after commit."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[R] = loop.create_future()
        self._queue.put((fn, args, fut, loop))
        return fut

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:
            self._error = exc
            self._started.set()
            return
        self._started.set()
        stopping = False
        try:
            while not stopping:
                first = self._queue.get()
                if first is None:
                    break
                batch = [first]
                while len(batch) < _MAX_BATCH:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        stopping = True
                        break
                    batch.append(item)
                self._commit(conn, batch)
        finally:
            conn.close()

    def _commit(self, conn: sqlite3.Connection, batch: list[_Item]) -> None:
        results: list[tuple[asyncio.Future[Any], asyncio.AbstractEventLoop, bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, args, fut, loop in batch:
                conn.execute("SAVEPOINT op")
                try:
                    value = fn(conn, *args)
                except Exception as exc:
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    results.append((fut, loop, False, exc))
                else:
                    conn.execute("RELEASE op")
                    results.append((fut, loop, True, value))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            # The whole batch is lost (disk full, I/O error): every caller hears so,
            # and nobody was acknowledged.
            if conn.in_transaction:
                conn.rollback()
            results = [(fut, loop, False, exc) for _fn, _args, fut, loop in batch]
        self.batches += 1
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for fut, loop, ok, value in results:
            by_loop.setdefault(loop, []).append((fut, ok, value))
        for loop, items in by_loop.items():
            # A closed loop raises RuntimeError: nobody is waiting there any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, items)
