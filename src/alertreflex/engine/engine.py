"""The engine: accepts notifications, keeps the config, owns the worker pool."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from alertreflex.actions.base import Action
from alertreflex.config.loader import Config
from alertreflex.core.durations import format_duration
from alertreflex.core.ids import new_id
from alertreflex.core.models import NotificationIn, RunState, Trigger
from alertreflex.engine.approvals import Approvals
from alertreflex.engine.controls import Controls
from alertreflex.engine.dispatcher import Dispatcher, QueuedRun
from alertreflex.engine.intake import Intake, Outcome, account
from alertreflex.engine.metrics import Metrics
from alertreflex.engine.plan import plan_ingest, plan_restore
from alertreflex.engine.repeats import Repeats
from alertreflex.engine.runner import Admission, Runner, firing_refusal
from alertreflex.engine.storehealth import StoreHealth
from alertreflex.store.base import (
    AuditEntry,
    NewRun,
    Pruned,
    QueueFullError,
    RunRecord,
    Store,
    StoreError,
)

log = structlog.get_logger("alertreflex.engine")

# How long a clean shutdown waits for restore runs (log levels put back, silences
# expired) after the running runs' grace period.
RESTORE_AT_SHUTDOWN_TIMEOUT = 15.0
# A shared store is read this often for the other replicas' pauses and disables;
# every TAKE_OVER_EVERY-th time also for their approvals and orphaned runs.
SHARE_INTERVAL = 1.0
TAKE_OVER_EVERY = 2
# Pruning after settings.retention: every PRUNE_EVERY (sooner for a retention
# shorter than twice that), in batches of PRUNE_BATCH rows with a pause between them
# for other writers; often enough that each pass is a few short batches, so the store
# levels off at retention x rate instead of growing for an hour between passes.
PRUNE_EVERY = 60.0
PRUNE_BATCH = 200
# A resolved episode's facts (it ran, it resolved) are kept at least this long after
# it resolved, however short the retention: Alertmanager may still send its resolved
# notification again (a retry, the other member of an HA pair, seconds to minutes
# later), which must find the episode already handled. Prometheus itself re-sends a
# resolved alert to Alertmanager for 15 minutes, which Alertmanager's notification
# log keeps from becoming a new notification.
FORGET_RESOLVED_AFTER = 15 * 60.0
# Free pages given back to the file system after a pass (SQLite; 4 KiB each), a
# chunk per transaction so that the webhook's commits never wait long for one.
RECLAIM_CHUNK = 256
RECLAIM_CHUNKS = 16
# Identical repeats are counted in memory and added to their notification this often.
COUNT_REPEATS_EVERY = 5.0


class Refused(Exception):
    """An operator's request that cannot be carried out now; the message says why."""


class NotFound(Refused):
    pass


class Engine:
    def __init__(
        self,
        config: Config,
        store: Store,
        actions: dict[str, Action[Any]],
        metrics: Metrics | None = None,
    ) -> None:
        self._config = config
        self.store = store
        self.actions = actions
        self.metrics = metrics or Metrics()
        # Whether the store takes writes: /-/ready and a gauge read it.
        self.store_health = StoreHealth(store, self.metrics)
        self._last_firing_start: dict[str, float] = {}
        self._sharing: asyncio.Task[None] | None = None
        self._pruning: asyncio.Task[None] | None = None
        self._counting: asyncio.Task[None] | None = None
        # Bodies stored here, whose byte-identical repeats need no ingest.
        self.repeats = Repeats()
        # Queue room promised to notifications being written: those written together
        # in one batch must not all count the same free room.
        self._reserved = 0
        # Set while the pool has room in its line (see pace).
        self._room = asyncio.Event()
        self._room.set()
        # A replica reloads when another one was told to (its files may have changed
        # too): the latest reload signal seen, and the ones this replica sent.
        self.on_peer_reload: Callable[[], Awaitable[object]] | None = None
        self._reload_seen: str | None = None
        self._reload_sent: set[str] = set()
        self.controls = Controls(store, self.metrics)
        self.approvals = Approvals(
            store,
            self.metrics,
            on_approved=lambda run: self.dispatcher.submit(
                QueuedRun.of(run, accepted_at=time.time())
            ),
        )
        self._runner = runner = Runner(
            lambda: self._config,
            store,
            actions,
            self.metrics,
            self._last_firing_start,
            schedule=lambda run: self.dispatcher.submit(run),
            controls=self.controls,
            approvals=self.approvals,
            health=self.store_health,
        )
        self._intake = Intake(self.controls, runner.storms, self._last_firing_start, actions)
        # Where the memory of past episodes lives, for the answer to a notification
        # whose episodes already ran (a store kept from an earlier try, say).
        self._store_where = str(getattr(store, "where", None) or getattr(store, "path", store.kind))
        self.dispatcher = Dispatcher(
            runner,
            max_running=config.settings.max_concurrent_runs,
            reflex_limit=self._reflex_limit,
            on_change=self._pool_changed,
        )
        self.metrics.reflexes.set(len(config.reflexes))
        self.metrics.queue_limit.set(config.settings.max_queued_runs)
        self._alerts_firing = self.metrics.alerts.labels("firing")
        self._alerts_resolved = self.metrics.alerts.labels("resolved")

    @property
    def config(self) -> Config:
        return self._config

    def _reflex_limit(self, name: str) -> int:
        reflex = self._config.reflexes.get(name)
        return reflex.max_concurrent if reflex else 1

    def _saturated(self) -> bool:
        return self.dispatcher.ready >= self._config.settings.max_concurrent_runs

    def _pool_changed(self) -> None:
        """A run was queued, started or ended: wake held notifications, update gauges."""
        if not self._saturated():
            self._room.set()
        self.metrics.queued.set(self.dispatcher.waiting)
        self.metrics.running.set(self.dispatcher.running)

    @property
    def unfinished(self) -> int:
        """Runs accepted and not finished: what max_queued_runs bounds."""
        return self.dispatcher.waiting + self.dispatcher.running

    @property
    def queue_full(self) -> bool:
        """No room for one more run: a notification that is not a known repeat is
        refused before it is even parsed."""
        return self.unfinished + self._reserved >= self._config.settings.max_queued_runs

    async def pace(self) -> None:
        """Hold a new notification while the pool is saturated, at most
        settings.intake_pacing. Accepting faster than runs start only grows the queue
        (and takes CPU from the runs): held, the sender keeps to the pace of execution.
        Nothing is refused here; past the wait the notification is taken as usual."""
        max_wait = self._config.settings.intake_pacing
        if not max_wait or not self._saturated():
            return
        self._room.clear()
        self.metrics.paced.inc()
        t0 = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._room.wait(), max_wait)
        self.metrics.paced_seconds.inc(time.monotonic() - t0)

    def repeat(self, digest: str) -> bool:
        """Whether the body with this digest repeats one stored here; if so it is
        counted as received, and nothing else needs doing."""
        stored = self.repeats.repeat(digest, time.time())
        if stored is None:
            return False
        self.metrics.duplicates.inc()
        if stored.firing:
            self._alerts_firing.inc(stored.firing)
        if stored.resolved:
            self._alerts_resolved.inc(stored.resolved)
        return True

    async def start(self) -> None:
        """Resume unfinished runs from the store, then start the worker pool."""
        for action in self.actions.values():
            await action.start()
        self._last_firing_start.update(await self.store.last_firing_starts())
        await self.controls.load()
        recovered = await self.store.recover()
        for rec in recovered:
            if rec.state is RunState.INTERRUPTED:
                log.warning("run_resumed", run_id=rec.id, reflex=rec.reflex, attempts=rec.attempts)
            self.dispatcher.submit(QueuedRun.of(rec, accepted_at=rec.created_at))
        if recovered:
            log.info("runs_recovered", count=len(recovered))
        await self.approvals.start()
        self.dispatcher.start()
        self._pruning = asyncio.create_task(self._prune_loop(), name="prune")
        self._counting = asyncio.create_task(self._count_loop(), name="count-repeats")
        if self.store.shared:
            self._reload_seen = (await self.store.signals()).get("reload")
            self.store.renew_leases_of(self.dispatcher.held)
            self._sharing = asyncio.create_task(self._share(), name="share")

    async def announce_reload(self) -> None:
        """An operator reloaded this replica: the others reload too."""
        if not self.store.shared:
            return
        value = new_id()
        self._reload_sent.add(value)
        await self.store.signal("reload", value)

    async def _follow_reloads(self) -> None:
        value = (await self.store.signals()).get("reload")
        if value is None or value == self._reload_seen:
            return
        self._reload_seen = value
        if value not in self._reload_sent and self.on_peer_reload is not None:
            log.info("reloading_for_peer")
            await self.on_peer_reload()

    async def prune(self, now: float) -> Pruned:
        """Remove history older than settings.retention, and the facts of episodes
        that resolved long enough ago, batch by batch (see Store.prune)."""
        total = Pruned()
        retention = self._config.settings.retention
        if retention <= 0:
            return total
        forget_before = now - max(retention, FORGET_RESOLVED_AFTER)
        while True:
            batch = await self.store.prune(now - retention, forget_before, PRUNE_BATCH, now)
            total.runs += batch.runs
            total.notifications += batch.notifications
            total.episodes += batch.episodes
            for what in ("runs", "notifications", "episodes"):
                self.metrics.pruned.labels(what).inc(getattr(batch, what))
            if max(batch.runs, batch.notifications, batch.episodes) < PRUNE_BATCH:
                break
            await asyncio.sleep(0.05)  # short transactions, with room between them
        if total.total:
            reclaimed = 0
            for _ in range(RECLAIM_CHUNKS):
                chunk = await self.store.reclaim(RECLAIM_CHUNK)
                reclaimed += chunk
                if chunk < RECLAIM_CHUNK:
                    break
                await asyncio.sleep(0.05)
            log.info(
                "pruned",
                runs=total.runs,
                notifications=total.notifications,
                episodes=total.episodes,
                older_than=format_duration(retention),
                pages_reclaimed=reclaimed,
            )
        return total

    def _prune_interval(self) -> float:
        retention = self._config.settings.retention
        return PRUNE_EVERY if retention <= 0 else min(PRUNE_EVERY, max(1.0, retention / 2))

    async def _prune_loop(self) -> None:
        while True:
            await asyncio.sleep(self._prune_interval())
            try:
                await self.prune(time.time())
            except StoreError as exc:
                self.store_health.failed("pruning", exc)
                log.warning("prune_failed", error=str(exc))

    async def _share(self) -> None:
        """On a store shared by replicas: see the others' pauses, disables and
        approvals, and take over the runs of replicas that stopped."""
        tick = 0
        more = False  # the last sweep took a full batch: there may be more to take
        while True:
            await asyncio.sleep(SHARE_INTERVAL)
            tick += 1
            try:
                await self.controls.load()
                self._runner.adopt(await self.store.gates(), time.time())
                await self._follow_reloads()
                if tick % TAKE_OVER_EVERY and not more:
                    continue
                await self.approvals.refresh()
                # A pool's worth at a time, oldest first: the survivors of a replica
                # that died share its runs (each sweeps and takes a batch) rather than
                # the first to sweep queueing all of them behind its own work.
                settings = self._config.settings
                limit = min(
                    settings.max_queued_runs - self.unfinished, settings.max_concurrent_runs
                )
                taken = await self.store.take_over(time.time(), limit=limit)
                more = limit > 0 and len(taken) >= limit
            except StoreError as exc:
                log.warning("store_unavailable", error=str(exc))
                continue
            except Exception:
                # A bug here must not stop the sharing (pauses, take-over) for good.
                log.exception("share_failed")
                continue
            # After a long outage this replica may take back runs it still holds
            # (their leases ran out): they are not started twice.
            mine = set(self.dispatcher.held()) if taken else set()
            for rec in taken:
                if rec.id in mine:
                    continue
                log.warning(
                    "run_taken_over", run_id=rec.id, reflex=rec.reflex, state=str(rec.state)
                )
                self.dispatcher.submit(QueuedRun.of(rec, accepted_at=rec.created_at))

    def apply_config(self, config: Config) -> None:
        """Switch to a new, already validated config. Queued runs of removed reflexes
        are skipped when they come up."""
        self._config = config
        self.repeats.forget()  # a new reflex may match alerts whose repeats are known
        self.dispatcher.max_running = config.settings.max_concurrent_runs
        self.metrics.reflexes.set(len(config.reflexes))
        self.metrics.queue_limit.set(config.settings.max_queued_runs)

    async def ingest(self, notification: NotificationIn, body: bytes, digest: str = "") -> Outcome:
        """Store a notification and its new runs durably, then queue the runs; what
        became of each is decided as far as it can be now (engine/intake.py).

        ``digest`` (of ``body``): once stored, its byte-identical repeats are
        recognised without an ingest. Raises QueueFullError when the run queue is at
        its bound (nothing is stored), StoreError when the store cannot commit.
        """
        cfg = self._config
        now = time.time()
        room = cfg.settings.max_queued_runs - self.unfinished - self._reserved
        batch = plan_ingest(notification, body, cfg, now=now, capacity=0, new_id=new_id)
        batch.digest = digest
        admitted: list[tuple[NewRun, Admission]] = []
        if batch.runs:
            self._intake.decide(batch.runs, cfg, now)
            admitted = self._start_at_once(batch.runs, cfg, now)
        # At most every planned run that is not skipped may be new: that much room is
        # held for this write until its runs are queued, so that writes in one batch
        # share the room.
        wanted = sum(1 for r in batch.runs if not r.skip)
        batch.capacity = reserved = max(0, min(wanted, room))
        self._reserved += reserved
        try:
            result = await self.store.ingest(batch)
        except BaseException as exc:
            for run, admission in admitted:
                self._runner.withdraw(admission)
                self.dispatcher.release(run.reflex)
            if isinstance(exc, StoreError) and not isinstance(exc, QueueFullError):
                self.store_health.failed("storing a notification", exc)
            # A full queue was refused before any write: it says nothing about the store.
            raise
        finally:
            self._reserved -= reserved
        for run, admission in admitted:
            if run.state is not RunState.RUNNING:
                # Not claimed after all: a flap, an episode stored before, or a store
                # that queues every run.
                self._runner.withdraw(admission)
                self.dispatcher.release(run.reflex)
        if self.store_health.failing_since is not None:
            self.store_health.succeeded()
        for run in result.created:
            if run.state is RunState.RUNNING:
                self.dispatcher.start_claimed(QueuedRun.of(run, accepted_at=now))
            elif run.state is RunState.QUEUED:
                self.dispatcher.submit(QueuedRun.of(run, accepted_at=now))
            else:  # skipped at intake; the webhook's log line says why
                self.metrics.runs.labels(run.reflex, str(run.trigger), "skipped").inc()
                self.metrics.skips.labels(run.reflex, run.skipped_as).inc()
        firing = sum(1 for a in notification.alerts if a.status == "firing")
        if firing:
            self._alerts_firing.inc(firing)
        if firing < len(notification.alerts):
            self._alerts_resolved.inc(len(notification.alerts) - firing)
        if result.duplicate:
            self.metrics.duplicates.inc()
        if digest and not self.store.shared:
            fingerprints = frozenset(a.fingerprint for a in notification.alerts)
            if result.changed_alerts:
                self.repeats.changed(fingerprints)
            self.repeats.remember(
                digest,
                batch.notification_id,
                fingerprints,
                firing,
                len(notification.alerts) - firing,
            )
        if firing < len(notification.alerts):
            if self.dispatcher.running:
                self._cancel_resolved(notification)
            if self.approvals.pending:
                await self.approvals.withdraw(
                    {
                        (a.fingerprint, a.starts_at)
                        for a in notification.alerts
                        if a.status != "firing"
                    }
                )
        if admitted:
            # Let the runs just started reach their first action before this
            # notification's answer is built, logged and sent: the alert waited long
            # enough, Alertmanager's request can wait the few hundred microseconds.
            await asyncio.sleep(0)
        return account(batch, result, cfg, now, self._store_where)

    def _start_at_once(
        self, runs: list[NewRun], cfg: Config, now: float
    ) -> list[tuple[NewRun, Admission]]:
        """The new firing runs that can start as soon as they are stored: a worker is
        free and nothing waits for one, their policies let them start now (asked
        again for each, as earlier ones count), and no delay or approval stands in
        between. The store claims them in the transaction that stores them, which
        saves a commit on the way from the alert to its action. On a shared store
        only runs of reflexes with no cooldown and no storm guard: replicas decide
        those together when they claim a run (claim_gated)."""
        shared = self.store.shared
        gated = shared and cfg.settings.storm_guard is not None
        admitted = []
        for run in runs:
            if run.skip or run.trigger is not Trigger.FIRING or run.not_before > now:
                continue
            reflex = cfg.reflexes[run.reflex]
            if gated or (shared and (reflex.cooldown > 0 or reflex.storm_guard is not None)):
                continue
            if reflex.approval_required or firing_refusal(
                reflex, cfg.settings, now, self._last_firing_start, self._runner.storms
            ):
                continue  # queued: the runner decides when it starts
            if not self.dispatcher.reserve(run.reflex):
                continue
            run.start = True
            admitted.append((run, self._runner.admit(reflex, cfg.settings, now, first=True)))
        return admitted

    def _cancel_resolved(self, notification: NotificationIn) -> None:
        """cancel_on_resolve: stop firing runs whose alert just resolved."""
        resolved = {
            (a.fingerprint, a.starts_at) for a in notification.alerts if a.status != "firing"
        }
        for run, task in self.dispatcher.active():
            if (
                run.trigger is not Trigger.FIRING
                or (run.fingerprint, run.starts_at) not in resolved
            ):
                continue
            reflex = self._config.reflexes.get(run.reflex)
            if reflex is not None and reflex.cancel_on_resolve:
                log.warning("run_cancelled_on_resolve", run_id=run.id, reflex=run.reflex)
                self._runner.cancel(run, task, "cancelled: the alert resolved (cancel_on_resolve)")

    def refresh_gauges(self) -> None:
        """Gauges that depend on the clock, brought up to date before a scrape."""
        cfg = self._config
        self._runner.storms.refresh(cfg.reflexes, cfg.settings, time.time())

    def storms_tripped(self) -> list[tuple[str, float]]:
        """Storm guards stopping firing runs now: (reflex name or "global", until)."""
        cfg = self._config
        return self._runner.storms.tripped(cfg.reflexes, cfg.settings, time.time())

    async def rerun(self, run_id: str, who: str, reason: str) -> tuple[NewRun, RunRecord]:
        """Run a finished run again: a new manual run, linked to the old one, audited.
        Returns (new run, old run); raises Refused saying why it cannot."""
        of = await self.store.get_run(run_id)
        if of is None:
            raise NotFound(f"no run with id {run_id!r}")
        if not of.state.finished:
            raise Refused(f"run {run_id} is {of.state}: only a finished run re-runs")
        if of.pruned_at is not None:
            raise Refused(
                f"run {run_id} is older than settings.retention: its alert and steps were "
                "removed, so it cannot run again"
            )
        if of.reflex not in self._config.reflexes:
            raise Refused(f"reflex {of.reflex!r} is no longer configured")
        held = self.controls.holding(of.reflex)
        if held is not None:
            what = f"reflex {of.reflex} is disabled" if held.scope else "alertreflex is paused"
            raise Refused(f"{what} ({held.reason}): resume it first")
        now = time.time()
        run = NewRun(
            id=new_id(),
            reflex=of.reflex,
            team=of.team,
            fingerprint=of.fingerprint,
            starts_at=of.starts_at,
            trigger=of.trigger,
            not_before=now,
            context=of.context,
        )
        audit = AuditEntry(now, who, "rerun", of.id, reason, {"run": run.id})
        await self.store.add_rerun(run, of, audit, now)
        queued = QueuedRun.of(run, accepted_at=now)
        queued.checked = True
        self.dispatcher.submit(queued)
        log.warning("run_rerun", run_id=run.id, rerun_of=of.id, by=who, reason=reason)
        return run, of

    async def restore_all(self, timeout: float) -> int:
        """Put back everything reversible steps changed (a clean shutdown: nobody would
        be left to restore it). One restore run per alert, all at once, within timeout."""
        now = time.time()
        runs: dict[tuple[str, str], QueuedRun] = {}
        for undo in await self.store.pending_undos():
            key = (undo.reflex, undo.fingerprint)
            if key in runs or undo.reflex not in self._config.reflexes:
                continue
            firing = await self.store.get_run(undo.run_id)
            if firing is None:
                continue
            restore = await self.store.add_run(
                plan_restore(
                    reflex=undo.reflex,
                    team=firing.team,
                    fingerprint=undo.fingerprint,
                    starts_at=undo.starts_at,
                    context=firing.context,
                    not_before=now,
                    new_id=new_id,
                ),
                now,
            )
            if restore is not None:
                runs[key] = QueuedRun.of(restore, accepted_at=now)
        if not runs:
            return 0
        log.info("restoring_at_shutdown", runs=len(runs))
        tasks = [asyncio.ensure_future(self._runner(run)) for run in runs.values()]
        done, late = await asyncio.wait(tasks, timeout=timeout)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)
            n = await self.store.interrupt_running(
                f"interrupted: restoring at shutdown took longer than {timeout:g}s"
            )
            log.warning("restore_at_shutdown_incomplete", interrupted=n)
        return len(done)

    async def _count_loop(self) -> None:
        while True:
            await asyncio.sleep(COUNT_REPEATS_EVERY)
            await self._count_repeats()

    async def _count_repeats(self) -> None:
        counts = self.repeats.take_counts()
        if not counts:
            return
        try:
            await self.store.count_repeats(counts)
        except StoreError as exc:  # only counts are lost; nothing depends on them
            log.warning("repeats_not_counted", notifications=len(counts), error=str(exc))

    async def shutdown(self, grace: float) -> None:
        for task in (self._sharing, self._pruning, self._counting):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.approvals.stop()
        cancelled = await self.dispatcher.shutdown(grace)
        try:
            await self._leave_the_store(grace, cancelled)
        except StoreError as exc:
            # What could not be written is found at the next start: runs left running
            # are resumed from their last recorded step, pending undos restored.
            log.error("shutdown_not_recorded", error=str(exc))
        await self._count_repeats()
        await self.store_health.close()
        for action in self.actions.values():
            await action.close()

    async def _leave_the_store(self, grace: float, cancelled: int) -> None:
        if cancelled:
            n = await self.store.interrupt_running(
                f"interrupted: alertreflex shut down; still running after the {grace:g}s grace"
            )
            log.warning("runs_interrupted", count=n)
        # On a shared store the other replicas still watch these alerts (and put
        # things back when they resolve): one replica stopping restores nothing.
        if self._config.settings.restore_on_shutdown and not self.store.shared:
            await self.restore_all(RESTORE_AT_SHUTDOWN_TIMEOUT)
        released = await self.store.release()
        if released:
            log.info("runs_released", count=released)
