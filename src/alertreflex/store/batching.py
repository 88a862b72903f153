"""Group commit for a networked store: concurrent writes share one transaction.

Each commit waits for the database's WAL flush. Under load most of a webhook's
time went to that wait and to taking a pooled connection, once per notification;
sharing one transaction among the notifications that arrived meanwhile pays both
once per batch. A batch that fails for any reason is not reported as such: its
items are tried again one by one, so one bad notification (or a deadlock with
another replica's batch) costs the others only a retry, never an error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

I = TypeVar("I")  # noqa: E741 - the item, as R is the result
R = TypeVar("R")


class Batcher(Generic[I, R]):
    """Up to ``parallel`` batches in flight (the database has more than one core):
    the items that arrive while they commit form the next ones, so batches grow
    with the load and cost nothing when it is low."""

    def __init__(
        self,
        run_batch: Callable[[list[I]], Awaitable[list[R]]],
        run_one: Callable[[I], Awaitable[R]],
        *,
        max_batch: int = 64,
        parallel: int = 4,
    ) -> None:
        self._run_batch = run_batch
        self._run_one = run_one
        self._max = max_batch
        self._waiting: list[tuple[I, asyncio.Future[R]]] = []
        self._parallel = parallel
        self._flushers: set[asyncio.Task[None]] = set()
        self.shared = 0  # items committed in a batch of several, for tests and figures

    async def submit(self, item: I) -> R:
        fut: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, fut))
        if len(self._flushers) < self._parallel:
            task = asyncio.create_task(self._flush())
            self._flushers.add(task)
            task.add_done_callback(self._flushers.discard)
        return await fut

    async def drain(self) -> None:
        """Wait for what was submitted (before the connections close)."""
        while self._flushers:
            await asyncio.wait(set(self._flushers))

    async def _flush(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[: self._max], self._waiting[self._max :]
            await self._commit(batch)

    async def _commit(self, batch: list[tuple[I, asyncio.Future[R]]]) -> None:
        if len(batch) > 1:
            try:
                results = await self._run_batch([item for item, _ in batch])
            except Exception:  # noqa: S110 - each item is tried again below, and reports
                pass
            else:
                self.shared += len(batch)
                for (_, fut), result in zip(batch, results, strict=True):
                    if not fut.done():
                        fut.set_result(result)
                return
        for item, fut in batch:
            try:
                result = await self._run_one(item)
            except Exception as exc:
                if not fut.done():
                    fut.set_exception(exc)
            else:
                if not fut.done():
                    fut.set_result(result)
