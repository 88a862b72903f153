"""The bounded worker pool: starts queued runs as limits allow.

Three places a run can wait: ``_delayed`` (a heap by ``not_before``, for resolve
delays), ``_ready`` and ``_blocked[reflex]`` (its reflex is at ``max_concurrent``).
A finished run hands its slot to the next blocked run of the same reflex, so
nothing is scanned twice.

Runs wait in line by when they became due (accepted, or their ``not_before`` if
later), not by when this process heard of them: a run resumed at start or taken
over from a replica that died keeps its place ahead of the runs that came after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import itertools
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from alertreflex.core.models import RunState, Trigger
from alertreflex.store.base import NewRun, RunRecord


@dataclass
class QueuedRun:
    id: str
    reflex: str
    team: str
    trigger: Trigger
    fingerprint: str
    starts_at: str
    context: dict[str, Any]
    not_before: float
    accepted_at: float
    steps: list[dict[str, Any]] = field(default_factory=list)  # from an interrupted attempt
    attempts: int = 0  # earlier attempts: a resumed run is not subject to its cooldown
    checked: bool = False  # approved or re-run by an operator: no policy is asked again
    claimed: bool = False  # stored running (Engine.ingest): its policies were decided there

    @classmethod
    def of(cls, run: NewRun | RunRecord, accepted_at: float) -> QueuedRun:
        """The in-memory form of a run just stored, or of one resumed from the store."""
        if isinstance(run, RunRecord):
            steps, attempts, checked = run.steps, run.attempts, run.checked
        else:
            steps, attempts, checked = [], 0, False
        claimed = isinstance(run, NewRun) and run.state is RunState.RUNNING
        return cls(
            id=run.id,
            reflex=run.reflex,
            team=run.team,
            trigger=run.trigger,
            fingerprint=run.fingerprint,
            starts_at=run.starts_at,
            context=run.context,
            not_before=run.not_before,
            accepted_at=accepted_at,
            steps=steps,
            attempts=attempts,
            checked=checked,
            claimed=claimed,
        )


class Dispatcher:
    def __init__(
        self,
        execute: Callable[[QueuedRun], Coroutine[Any, Any, None]],
        *,
        max_running: int,
        reflex_limit: Callable[[str], int],
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self._execute = execute
        self.max_running = max_running
        self._reflex_limit = reflex_limit
        self._on_change = on_change
        # Heaps of (place in line, tie-breaker, run).
        self._ready: list[tuple[float, int, QueuedRun]] = []
        self._delayed: list[tuple[float, int, QueuedRun]] = []
        self._blocked: dict[str, list[tuple[float, int, QueuedRun]]] = defaultdict(list)
        self._running: dict[str, int] = defaultdict(int)
        self._tasks: set[asyncio.Task[None]] = set()
        self._active: dict[str, tuple[QueuedRun, asyncio.Task[None]]] = {}
        self._seq = itertools.count()
        self._waiting = 0
        self._reserved = 0  # slots held for runs being claimed as they are stored
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._accepting = True

    @property
    def waiting(self) -> int:
        """Runs accepted and not started."""
        return self._waiting

    @property
    def ready(self) -> int:
        """Runs due now that wait for a free slot (not for their reflex's limit or a
        delay): more of them than slots means the pool is saturated."""
        return len(self._ready)

    @property
    def running(self) -> int:
        return len(self._tasks)

    def active(self) -> list[tuple[QueuedRun, asyncio.Task[None]]]:
        """The runs executing now, with their tasks (cancel_on_resolve cancels them)."""
        return list(self._active.values())

    def held(self) -> list[str]:
        """The ids of every run here, waiting or running: on a shared store, the
        leases this replica renews. A run dropped by a crash is not renewed, so its
        lease runs out and a replica takes it over."""
        ids = [r.id for _, _, r in self._ready]
        ids.extend(r.id for _, _, r in self._delayed)
        ids.extend(r.id for q in self._blocked.values() for _, _, r in q)
        ids.extend(self._active)
        return ids

    def reserve(self, reflex: str) -> bool:
        """Hold a slot for a run of ``reflex`` that is to start as soon as it is
        stored (``start_claimed``), when one is free now and no run waits for one;
        False when the run must queue. Every reservation ends in ``start_claimed``
        or ``release``."""
        if (
            not self._accepting
            or self._ready
            or len(self._tasks) + self._reserved >= self.max_running
            or self._running[reflex] >= self._reflex_limit(reflex)
        ):
            return False
        self._reserved += 1
        self._running[reflex] += 1
        return True

    def release(self, reflex: str) -> None:
        """Give back a slot ``reserve`` held: the run was not claimed after all."""
        self._reserved -= 1
        self._running[reflex] -= 1
        self._wake.set()

    def start_claimed(self, run: QueuedRun) -> None:
        """Start a run stored as claimed, in the slot ``reserve`` held for it."""
        self._reserved -= 1
        self._running[run.reflex] -= 1  # _start counts it again
        self._waiting += 1  # and _start counts it out
        self._start(run)
        self._on_change()

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._loop(), name="dispatcher")

    def submit(self, run: QueuedRun) -> None:
        self._waiting += 1
        if run.not_before > time.time():
            heapq.heappush(self._delayed, (run.not_before, next(self._seq), run))
        else:
            self._line_up(self._ready, run)
        self._wake.set()
        self._on_change()

    def _line_up(self, line: list[tuple[float, int, QueuedRun]], run: QueuedRun) -> None:
        heapq.heappush(line, (max(run.accepted_at, run.not_before), next(self._seq), run))

    async def _loop(self) -> None:
        while self._accepting:
            self._pump()
            timeout = self._delayed[0][0] - time.time() if self._delayed else None
            self._wake.clear()
            if timeout is not None and timeout <= 0:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _pump(self) -> None:
        now = time.time()
        while self._delayed and self._delayed[0][0] <= now:
            self._line_up(self._ready, heapq.heappop(self._delayed)[2])
        started = False
        while self._ready and len(self._tasks) + self._reserved < self.max_running:
            item = heapq.heappop(self._ready)
            run = item[2]
            if self._running[run.reflex] >= self._reflex_limit(run.reflex):
                heapq.heappush(self._blocked[run.reflex], item)
                continue
            self._start(run)
            started = True
        if started:
            self._on_change()

    def _start(self, run: QueuedRun) -> None:
        self._waiting -= 1
        self._running[run.reflex] += 1
        task = asyncio.create_task(self._execute(run), name=f"run-{run.id}")
        self._tasks.add(task)
        self._active[run.id] = (run, task)
        task.add_done_callback(functools.partial(self._done, run=run))

    def _done(self, task: asyncio.Task[None], *, run: QueuedRun) -> None:
        self._tasks.discard(task)
        self._active.pop(run.id, None)
        self._running[run.reflex] -= 1
        blocked = self._blocked.get(run.reflex)
        if blocked:
            heapq.heappush(self._ready, heapq.heappop(blocked))
            if not blocked:
                del self._blocked[run.reflex]
        self._wake.set()
        self._on_change()

    async def shutdown(self, grace: float) -> int:
        """Start nothing new; wait up to ``grace`` for running runs; cancel the rest.

        Returns how many runs were cancelled.
        """
        self._accepting = False
        self._wake.set()
        if self._loop_task is not None:
            await self._loop_task
        if not self._tasks:
            return 0
        _done, pending = await asyncio.wait(set(self._tasks), timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        return len(pending)
