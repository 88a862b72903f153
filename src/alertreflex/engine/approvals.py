"""Runs that wait for an operator (``approval: required``): their deadlines, and the
decisions. The store holds the state; this keeps the deadlines in memory to expire
them on time, and reloads them at start so that a restart neither loses nor
forgets a waiting run.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import structlog

from alertreflex.engine.metrics import Metrics
from alertreflex.store.base import AuditEntry, RunRecord, Store, StoreError

log = structlog.get_logger("alertreflex.approvals")

WITHDRAWN = "the alert resolved before anyone approved the run"


class Approvals:
    def __init__(
        self, store: Store, metrics: Metrics, on_approved: Callable[[RunRecord], None]
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._on_approved = on_approved
        self._deadlines: dict[str, float] = {}
        self._episodes: dict[str, tuple[str, str, str]] = {}  # run id -> reflex, fp, starts_at
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.create_task(self._expire_loop(), name="approval-expiry")

    async def refresh(self) -> None:
        """Read the waiting runs from the store: at start, and every few seconds on a
        shared store, where other replicas park and decide runs too."""
        deadlines: dict[str, float] = {}
        episodes: dict[str, tuple[str, str, str]] = {}
        for run in await self._store.list_runs(state="awaiting_approval", limit=100_000):
            deadlines[run.id] = run.expires_at or 0.0
            episodes[run.id] = (run.reflex, run.fingerprint, run.starts_at)
        self._deadlines, self._episodes = deadlines, episodes
        self._publish()
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def pending(self) -> int:
        return len(self._deadlines)

    def waiting(self, run_id: str, expires_at: float, episode: tuple[str, str, str]) -> None:
        """A run of ``episode`` (reflex, fingerprint, starts_at) now awaits approval
        until ``expires_at``."""
        self._deadlines[run_id] = expires_at
        self._episodes[run_id] = episode
        self._publish()
        self._wake.set()

    def gone(self, run_ids: list[str]) -> None:
        for run_id in run_ids:
            self._deadlines.pop(run_id, None)
            self._episodes.pop(run_id, None)
        self._publish()

    async def withdraw(self, resolved: set[tuple[str, str]]) -> None:
        """Skip the waiting runs of episodes that just resolved: nobody should approve
        an action for an alert that is gone."""
        hit = {e for e in self._episodes.values() if (e[1], e[2]) in resolved}
        for reflex, fingerprint, starts_at in hit:
            try:
                withdrawn = await self._store.withdraw_approvals(
                    reflex, fingerprint, starts_at, WITHDRAWN, time.time()
                )
            except StoreError:
                # The notification is committed; the run expires or its resolved
                # run withdraws it instead.
                log.exception("approval_withdraw_failed", reflex=reflex)
                continue
            self.gone(withdrawn)
            for run_id in withdrawn:
                self._metrics.runs.labels(reflex, "firing", "skipped").inc()
                log.info("run_withdrawn", run_id=run_id, reflex=reflex)

    async def decide(self, run_id: str, approve: bool, who: str, reason: str) -> RunRecord | None:
        """Approve or reject; None if the run is not awaiting approval (any more)."""
        now = time.time()
        verb = "approve" if approve else "reject"
        run = await self._store.decide(
            run_id, approve, AuditEntry(now, who, verb, run_id, reason), now
        )
        if run is None:
            return None
        self.gone([run_id])
        log.warning(f"run_{verb}d", run_id=run_id, reflex=run.reflex, by=who, reason=reason)
        if approve:
            self._on_approved(run)
        else:
            self._metrics.runs.labels(run.reflex, str(run.trigger), "rejected").inc()
        return run

    async def _expire_loop(self) -> None:
        while True:
            now = time.time()
            due = [d for d in self._deadlines.values() if d <= now]
            if due:
                try:
                    expired = await self._store.expire_approvals(now)
                except Exception:  # the store may be down for a while: try again soon
                    log.exception("approval_expiry_failed")
                    await asyncio.sleep(5)
                    continue
                for run_id, reflex in expired:
                    self._metrics.runs.labels(reflex, "firing", "expired").inc()
                    log.warning("run_expired", run_id=run_id, reflex=reflex)
                # Also forget deadlines that passed for runs decided elsewhere.
                self.gone([r for r, d in self._deadlines.items() if d <= now])
            self._wake.clear()
            timeout = min(self._deadlines.values()) - time.time() if self._deadlines else None
            if timeout is not None and timeout <= 0:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _publish(self) -> None:
        self._metrics.awaiting.set(len(self._deadlines))
