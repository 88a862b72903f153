"""Execute one run: policy checks, then its steps in order, recorded durably.

A step's record is written after it ends, so after a crash a run resumes at the
first step that had not ended; only a step that was cut off mid-way runs twice.
Every store call a run makes goes through ``StoreHealth.retry``: a write that fails
is made again (the run's progress is held in memory meanwhile) rather than leave
the run unfinished in the store and forgotten by the worker pool.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from pydantic import ValidationError

from alertreflex.actions.base import Action, ActionContext, StepOutcome, StepResult
from alertreflex.config.containers import ContainerAccess
from alertreflex.config.loader import Config, Reflex, Step
from alertreflex.config.schema import Settings
from alertreflex.core.durations import format_duration
from alertreflex.core.ids import new_id
from alertreflex.core.models import RunState, Trigger
from alertreflex.core.paths import format_path
from alertreflex.core.templates import TemplateError
from alertreflex.engine import controls, storm
from alertreflex.engine.amcheck import still_listed
from alertreflex.engine.approvals import WITHDRAWN, Approvals
from alertreflex.engine.controls import Controls
from alertreflex.engine.dispatcher import QueuedRun
from alertreflex.engine.metrics import Metrics
from alertreflex.engine.plan import plan_restore
from alertreflex.engine.redact import Redactor
from alertreflex.engine.storehealth import StoreHealth
from alertreflex.engine.storm import StormGuards
from alertreflex.store.base import (
    GLOBAL,
    Artifact,
    Claim,
    Control,
    Gate,
    GateRow,
    Guard,
    NewRun,
    Store,
    StoreError,
    Undo,
)

log = structlog.get_logger("alertreflex.runner")


def template_context(
    run: QueuedRun | NewRun, reflex: Reflex, secrets: dict[str, str]
) -> dict[str, Any]:
    return {
        "alert": run.context["alert"],
        "notification": run.context["notification"],
        "reflex": {"name": reflex.name, "team": reflex.team},
        "run_id": run.id,
        "trigger": str(run.trigger),
        "secrets": secrets,
    }


def render_step(
    step: Step, action: Action[Any], context: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """Render and validate a step's parameters: (params model, JSON-able dict).

    Raises TemplateError or ValueError with a message naming the parameter.
    """
    rendered = step.params.render(context)
    try:
        params = action.Params.model_validate(rendered)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = format_path(first["loc"])
        raise ValueError(f"after rendering, {where}: {first['msg']}") from None
    return params, params.model_dump(mode="json", by_alias=True)


DRY_RUN = "dry_run: steps rendered, nothing executed"  # the reason of a dry run's runs


def cooldown_why(ago: float, cooldown: float) -> str:
    """The skip reason of a firing run within its reflex's cooldown."""
    # Durations as the config writes them (12h, not 43200s).
    since = format_duration(max(0, round(ago)))
    return f"cooldown: last firing run started {since} ago, cooldown is {format_duration(cooldown)}"


def firing_refusal(
    reflex: Reflex,
    settings: Settings,
    now: float,
    last_firing_start: dict[str, float],
    storms: StormGuards,
) -> tuple[str, str] | None:
    """Why a new firing run of ``reflex`` must not start at ``now``, by the policies
    this process can decide alone (time intervals, cooldown, storm guards), as
    ``(category, reason)``; None when it may. The runner asks when a run starts, the
    intake when a notification arrives."""
    if reflex.active_time_intervals or reflex.mute_time_intervals:
        outside = reflex.outside_time(datetime.fromtimestamp(now, UTC))
        if outside is not None:
            return "time_interval", outside
    last = last_firing_start.get(reflex.name)
    if reflex.cooldown > 0 and last is not None and now - last < reflex.cooldown:
        return "cooldown", cooldown_why(now - last, reflex.cooldown)
    stormy = storms.check(reflex, settings, now)
    if stormy is not None:
        return "storm_guard", stormy
    return None


def dry_steps(
    actions: dict[str, Action[Any]],
    steps_def: tuple[Step, ...],
    ctx_vars: dict[str, Any],
    redactor: Redactor,
) -> list[dict[str, Any]]:
    """What the steps would do, rendered, secrets redacted: a dry run's record, and
    what an approver is shown. A step that cannot render records why."""
    out = []
    for i, step in enumerate(steps_def):
        rec: dict[str, Any] = {"index": i, "name": step.name, "action": step.action}
        try:
            _params, rec["params"] = render_step(step, actions[step.action], ctx_vars)
            rec["params"] = redactor.tree(rec["params"])
        except (TemplateError, ValueError) as exc:
            rec["error"] = redactor.text(str(exc))
        out.append(rec)
    return out


@dataclass
class Admission:
    """A firing start counted in memory (the reflex's cooldown, the storm windows)
    before the write that claims the run, so that runs starting meanwhile see it;
    taken back (``Runner.withdraw``) if the claim does not happen after all."""

    reflex: str
    at: float
    before: float | None  # the reflex's last firing start until then
    windows: list[tuple[str, Any]]  # what StormGuards.record counted


def _uncancel() -> None:
    """Carry on after a cancellation that was handled (a run cancelled on resolve)."""
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()


class Runner:
    def __init__(
        self,
        config: Callable[[], Config],
        store: Store,
        actions: dict[str, Action[Any]],
        metrics: Metrics,
        last_firing_start: dict[str, float],
        schedule: Callable[[QueuedRun], None],
        controls: Controls,
        approvals: Approvals,
        health: StoreHealth,
    ) -> None:
        self._health = health
        self._schedule = schedule
        self._approvals = approvals
        self._cancels: dict[str, str] = {}  # run id -> why it is being cancelled
        self._controls = controls
        self.storms = StormGuards(metrics)
        self._config = config
        self._store = store
        self._actions = actions
        self._metrics = metrics
        self._last_firing_start = last_firing_start

    def admit(self, reflex: Reflex, settings: Settings, now: float, *, first: bool) -> Admission:
        """Count a firing start of ``reflex`` now (in the storm windows only for a
        first attempt: a resumed run was counted when it began)."""
        windows = self.storms.record(reflex, settings, now) if first else []
        admitted = Admission(reflex.name, now, self._last_firing_start.get(reflex.name), windows)
        self._last_firing_start[reflex.name] = now
        return admitted

    def withdraw(self, admitted: Admission) -> None:
        """Take back a start counted by ``admit`` that did not happen."""
        if self._last_firing_start.get(admitted.reflex) == admitted.at:
            if admitted.before is None:
                del self._last_firing_start[admitted.reflex]
            else:
                self._last_firing_start[admitted.reflex] = admitted.before
        self.storms.unrecord(admitted.windows)

    def cancel(self, run: QueuedRun, task: asyncio.Task[None], reason: str) -> None:
        """Stop a running run for good (cancel_on_resolve); its processes are killed."""
        if run.id not in self._cancels:
            self._cancels[run.id] = reason
            task.cancel()

    async def __call__(self, run: QueuedRun) -> None:
        try:
            await self._run(run)
        except asyncio.CancelledError:
            why = self._cancels.pop(run.id, None)
            if why is None:
                raise  # shutdown: the run is marked interrupted and resumes at next start
            # Cancelled between steps (in a store write): the steps saved so far stand.
            _uncancel()
            rec = await self._health.retry(
                f"reading run {run.id}", lambda: self._store.get_run(run.id), write=False
            )
            if rec is not None and not rec.state.finished:
                steps = rec.steps
                await self._health.retry(
                    f"ending run {run.id}",
                    lambda: self._store.finish(run.id, RunState.CANCELLED, why, time.time(), steps),
                )
                self._metrics.runs.labels(run.reflex, str(run.trigger), "cancelled").inc()
        except Exception:
            # A bug must not kill the worker pool; the run stays unfinished in the
            # store and is picked up again at the next start.
            log.exception("run_crashed", run_id=run.id, reflex=run.reflex)

    async def _skip(
        self, run: QueuedRun, reason: str, category: str, steps: list[dict[str, Any]] | None = None
    ) -> None:
        now = time.time()
        await self._health.retry(
            f"ending run {run.id}",
            lambda: self._store.finish(
                run.id, RunState.SKIPPED, reason, now, steps or [], started=False
            ),
        )
        self._metrics.runs.labels(run.reflex, str(run.trigger), "skipped").inc()
        self._metrics.skips.labels(run.reflex, category).inc()
        log.info("run_skipped", run_id=run.id, reflex=run.reflex, reason=reason)

    async def _run(self, run: QueuedRun) -> None:
        cfg = self._config()
        reflex = cfg.reflexes.get(run.reflex)
        if reflex is None:
            await self._skip(run, f"reflex {run.reflex!r} is no longer configured", "removed")
            return
        redactor = Redactor(cfg.secrets)
        ctx_vars = template_context(run, reflex, cfg.secrets)
        steps = list(run.steps)
        if run.claimed:
            # Claimed in the write that stored it (Engine.ingest): its policies were
            # decided and its start counted there.
            attempt = 1
            steps_def, held = reflex.steps(run.trigger), None
        else:
            started, steps_def, held = await self._start(
                run, reflex, cfg, steps, ctx_vars, redactor
            )
            if started is None:
                return
            attempt = started
        if run.not_before <= run.accepted_at:
            self._metrics.action_start_latency.observe(max(0.0, time.time() - run.accepted_at))
        t0 = time.monotonic()
        state, reason = await self._steps(
            run, reflex, steps_def, steps, attempt, ctx_vars, redactor, cfg.settings, cfg.containers
        )
        if held is not None:
            reason = "; ".join(filter(None, [f"{controls.why(held)}: only restores ran", reason]))
        ended = time.time()
        await self._health.retry(
            f"ending run {run.id}", lambda: self._store.finish(run.id, state, reason, ended, steps)
        )
        if reflex.max_failures and state in (RunState.FAILED, RunState.TIMED_OUT):
            try:
                await self._breaker(reflex, reflex.max_failures)
            except StoreError as exc:  # the run has ended; its next failure checks again
                log.warning("breaker_not_checked", reflex=reflex.name, error=str(exc))
        self._metrics.run_duration.labels(reflex.name).observe(time.monotonic() - t0)
        self._metrics.runs.labels(reflex.name, str(run.trigger), str(state)).inc()
        log.info(
            "run_finished",
            run_id=run.id,
            reflex=reflex.name,
            trigger=str(run.trigger),
            state=str(state),
            reason=reason,
            attempt=attempt,
        )

    async def _start(
        self,
        run: QueuedRun,
        reflex: Reflex,
        cfg: Config,
        steps: list[dict[str, Any]],
        ctx_vars: dict[str, Any],
        redactor: Redactor,
    ) -> tuple[int | None, tuple[Step, ...], Control | None]:
        """Check the policies of a run about to start and claim it: (its attempt, the
        steps it runs, the hold it runs under), attempt None when it does not start
        (skipped, parked for approval, or finished since it was queued)."""
        steps_def = reflex.steps(run.trigger)
        now = time.time()
        # A pause or disable stops every run but restores: what an earlier run changed
        # is still put back (a resolved run keeps only its restore steps).
        held = self._controls.holding(reflex.name) if run.trigger is not Trigger.RESTORE else None
        if held is not None:
            if run.trigger is Trigger.FIRING or not reflex.undo_steps:
                await self._skip(run, controls.why(held), controls.category(held))
                return None, steps_def, held
            steps_def = reflex.undo_steps
        if reflex.dry_run:
            await self._skip(
                run,
                DRY_RUN,
                "dry_run",
                dry_steps(self._actions, steps_def, ctx_vars, redactor),
            )
            return None, steps_def, held
        if (
            reflex.cancel_on_resolve
            and run.trigger is Trigger.FIRING
            and run.attempts == 0
            and await self._episode_resolved(run)
        ):
            await self._skip(
                run,
                "cancel_on_resolve: the alert resolved before the run started",
                "cancel_on_resolve",
            )
            return None, steps_def, held
        # Policies that decide whether an episode's firing steps start at all; a resumed
        # run (attempts > 0) already passed them, and an operator's approval or re-run
        # overrides them.
        if run.trigger is Trigger.FIRING and run.attempts == 0 and not run.checked:
            refused = firing_refusal(
                reflex, cfg.settings, now, self._last_firing_start, self.storms
            )
            if refused is not None:
                category, why = refused
                await self._skip(run, why, category)
                return None, steps_def, held
            if reflex.delay > 0:
                gone = await self._gone_after_delay(run, reflex, cfg.settings.alertmanager_url)
                if gone is not None:
                    await self._skip(run, gone, "delay")
                    return None, steps_def, held
            if reflex.approval_required:
                await self._await_approval(run, reflex, steps_def, ctx_vars, redactor, now)
                return None, steps_def, held
        elif (
            run.trigger is Trigger.RESOLVED
            and (reflex.delay > 0 or reflex.approval_required)
            and run.attempts == 0
            and not run.checked
        ):
            if reflex.approval_required:
                withdrawn = await self._health.retry(
                    f"withdrawing approvals for run {run.id}",
                    lambda: self._store.withdraw_approvals(
                        reflex.name, run.fingerprint, run.starts_at, WITHDRAWN, now
                    ),
                )
                self._approvals.gone(withdrawn)
            # A firing run that never acted (resolved within its delay, or not approved)
            # leaves nothing for the resolved steps to finish.
            fired = await self._health.retry(
                f"reading the firing run of run {run.id}",
                lambda: self._store.run_state(
                    reflex.name, run.fingerprint, run.starts_at, str(Trigger.FIRING)
                ),
                write=False,
            )
            if fired not in (RunState.SUCCEEDED, RunState.FAILED, RunState.TIMED_OUT):
                await self._skip(
                    run,
                    f"its firing run did not act ({fired or 'none'}): nothing to finish",
                    "delay",
                )
                return None, steps_def, held
        admitted: Admission | None = None
        gate = self._gate(reflex, cfg.settings, enforce=not run.checked)
        if (
            self._store.shared
            and run.trigger is Trigger.FIRING
            and run.attempts == 0
            and (gate.cooldown > 0 or gate.guards)
        ):
            # Replicas share cooldowns and storm windows: the check above used this
            # replica's mirror of them; the store decides, atomically with the claim.
            # (Without either there is nothing to decide, and no lock to queue on.)
            claim = await self._health.retry(
                f"claiming run {run.id}", lambda: self._store.claim_gated(run.id, now, steps, gate)
            )
            self.adopt(claim.rows, now)
            if claim.refused:
                await self._skip(
                    run, self._refusal(claim, reflex, cfg.settings, now), claim.refused
                )
                return None, steps_def, held
            attempt = claim.attempt
        else:
            # Counted before the claim's await: a run of this reflex (or of any, for
            # the global storm guard) starting meanwhile must see this one.
            if run.trigger is Trigger.FIRING and not self._store.shared:
                admitted = self.admit(reflex, cfg.settings, now, first=run.attempts == 0)
            attempt = await self._health.retry(
                f"claiming run {run.id}", lambda: self._store.claim(run.id, now, steps)
            )
        if attempt is None:
            if admitted is not None:
                self.withdraw(admitted)
            return None, steps_def, held  # finished or skipped as a flap since it was queued
        if run.trigger is Trigger.RESOLVED and reflex.undo_steps:
            await self._health.retry(
                f"skipping the restore runs that run {run.id} replaces",
                lambda: self._store.cancel_restores(
                    reflex.name, run.fingerprint, f"the alert resolved: run {run.id} restores", now
                ),
            )
        return attempt, steps_def, held

    @staticmethod
    def _gate(reflex: Reflex, settings: Settings, *, enforce: bool) -> Gate:
        guards = [
            Guard(scope, g.max_runs, g.window)
            for scope, g in ((reflex.name, reflex.storm_guard), (GLOBAL, settings.storm_guard))
            if g is not None
        ]
        return Gate(reflex.name, reflex.cooldown, guards, enforce)

    def _refusal(self, claim: Claim, reflex: Reflex, settings: Settings, now: float) -> str:
        row = next(r for r in claim.rows if r.scope == claim.scope)
        if claim.refused == "cooldown":
            return cooldown_why(now - (row.last_start or now), reflex.cooldown)
        guard = reflex.storm_guard if claim.scope else settings.storm_guard
        assert guard is not None  # the store refused with this scope's guard
        scope = claim.scope or storm.ALL
        return self.storms.why(scope, row.window_runs, row.window_opened or now, guard)

    def adopt(self, rows: list[GateRow], now: float) -> None:
        """Mirror a shared store's gates: other replicas' starts count here too."""
        cfg = self._config()
        for row in rows:
            if row.scope == GLOBAL:
                scope, guard = storm.ALL, cfg.settings.storm_guard
            else:
                reflex = cfg.reflexes.get(row.scope)
                scope, guard = row.scope, reflex.storm_guard if reflex else None
                if row.last_start is not None:
                    self._last_firing_start[row.scope] = row.last_start
            if row.window_opened is not None:
                self.storms.adopt(scope, row.window_opened, row.window_runs, guard, now)

    async def _await_approval(
        self,
        run: QueuedRun,
        reflex: Reflex,
        steps_def: tuple[Step, ...],
        ctx_vars: dict[str, Any],
        redactor: Redactor,
        now: float,
    ) -> None:
        """Park the run until an operator decides; the approver sees these steps."""
        if await self._episode_resolved(run):
            await self._skip(run, WITHDRAWN, "resolved")
            return
        expires_at = now + reflex.approval_timeout
        shown = dry_steps(self._actions, steps_def, ctx_vars, redactor)
        if await self._health.retry(
            f"parking run {run.id} for approval",
            lambda: self._store.await_approval(run.id, shown, expires_at),
        ):
            self._approvals.waiting(
                run.id, expires_at, (reflex.name, run.fingerprint, run.starts_at)
            )
            log.warning(
                "run_awaiting_approval",
                run_id=run.id,
                reflex=reflex.name,
                expires_in=format_duration(reflex.approval_timeout),
            )

    async def _gone_after_delay(
        self, run: QueuedRun, reflex: Reflex, alertmanager_url: str | None
    ) -> str | None:
        """Why the firing steps must not run after the delay, or None if the alert
        still fires."""
        wait = format_duration(reflex.delay)
        if await self._episode_resolved(run):
            return f"delay: the alert resolved within {wait}"
        if alertmanager_url:
            labels = run.context["alert"]["labels"]
            listed = await still_listed(alertmanager_url, labels, run.fingerprint)
            if listed is False:
                return f"delay: after {wait} Alertmanager no longer lists the alert"
        return None

    async def _episode_resolved(self, run: QueuedRun) -> bool:
        return await self._health.retry(
            f"reading the episode of run {run.id}",
            lambda: self._store.episode_resolved(run.fingerprint, run.starts_at),
            write=False,
        )

    async def _breaker(self, reflex: Reflex, limit: int) -> None:
        """Disable ``reflex`` when its last ``limit`` runs that ran all failed."""
        held = self._controls.holding(reflex.name)
        if held is not None and held.scope == reflex.name:
            return
        # Re-enabling starts the count afresh: failures before it are forgiven.
        audit = await self._store.list_audit(target=reflex.name, limit=50)
        since = next((e.at for e in audit if e.action == "enable"), 0.0)
        failed = []
        for r in await self._store.list_runs(reflex=reflex.name, limit=4 * limit + 20):
            if r.created_at <= since:
                break
            if r.state in (RunState.FAILED, RunState.TIMED_OUT):
                failed.append(r)
            elif r.state is RunState.SUCCEEDED:
                break  # skipped, queued and running runs neither count nor break
            if len(failed) >= limit:
                last = failed[0]
                await self._controls.hold(
                    reflex.name,
                    "alertreflex",
                    f"{limit} failed run{'s' if limit > 1 else ''} in a row (max_failures), "
                    f"the last {last.id}: "
                    f"{last.reason}",
                    kind=controls.BREAKER,
                )
                return

    async def _execute(
        self,
        action: Action[Any],
        params: Any,
        actx: ActionContext,
        undo: dict[str, Any] | None = None,
    ) -> StepResult:
        try:
            if undo is None:
                return await action.execute(params, actx)
            return await action.undo(params, undo, actx)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a plugin bug is that step's failure, not ours
            log.exception("action_crashed", run_id=actx.run_id, action=action.type_name)
            return StepResult(
                StepOutcome.FAILED,
                f"action {action.type_name} crashed: {type(exc).__name__}: {exc}",
            )

    async def _undo(
        self,
        run: QueuedRun,
        step: Step,
        index: int,
        action: Action[Any],
        params: Any,
        actx: ActionContext,
    ) -> StepResult:
        now = time.time()
        undo = await self._health.retry(
            f"claiming what run {run.id} restores",
            lambda: self._store.take_undo(run.reflex, run.fingerprint, index, run.id, now),
        )
        if undo is None:
            return StepResult(StepOutcome.SUCCEEDED, "nothing to restore: no change was recorded")
        if undo.undone_by != run.id:
            return StepResult(
                StepOutcome.SUCCEEDED,
                f"nothing to restore: run {undo.undone_by} already restored it",
                details={"restored_by": undo.undone_by},
            )
        if undo.action != step.action:
            return StepResult(
                StepOutcome.FAILED,
                f"cannot restore: on_firing[{index}] is now a {step.action} step, "
                f"the change was made by a {undo.action} step (config changed meanwhile)",
            )
        return await self._execute(action, params, actx, undo=undo.memo)

    async def _store_memo(
        self, run: QueuedRun, reflex: Reflex, index: int, step: Step, memo: dict[str, Any]
    ) -> dict[str, Any]:
        """Record a reversible step's memo; returns the one in force (an earlier change
        of the step for this alert, still pending, is kept)."""
        undo = Undo(
            reflex=reflex.name,
            fingerprint=run.fingerprint,
            step=index,
            action=step.action,
            starts_at=run.starts_at,
            run_id=run.id,
            memo=memo,
            created_at=time.time(),
        )
        kept = await self._health.retry(
            f"recording what run {run.id} changes", lambda: self._store.remember_undo(undo)
        )
        return kept.memo

    async def _earlier_memo(
        self, run: QueuedRun, reflex: Reflex, index: int
    ) -> dict[str, Any] | None:
        """The memo this step of this run stored in an interrupted attempt, if any."""
        undo = await self._health.retry(
            f"reading what run {run.id} changed",
            lambda: self._store.pending_undo(reflex.name, run.fingerprint, index),
            write=False,
        )
        return undo.memo if undo is not None and undo.run_id == run.id else None

    async def _remember(
        self, run: QueuedRun, reflex: Reflex, index: int, step: Step, result: StepResult
    ) -> None:
        # Actions that stored their memo before changing anything find it kept here.
        await self._store_memo(run, reflex, index, step, result.memo or {})
        if result.restore_after is None:
            return
        now = time.time()
        plan = plan_restore(
            reflex=reflex.name,
            team=reflex.team,
            fingerprint=run.fingerprint,
            starts_at=run.starts_at,
            context=run.context,
            not_before=now + result.restore_after,
            new_id=new_id,
        )
        restore = await self._health.retry(
            f"adding the restore run of run {run.id}", lambda: self._store.add_run(plan, now)
        )
        if restore is not None:
            self._schedule(QueuedRun.of(restore, accepted_at=now))

    async def _save_artifacts(
        self,
        run_id: str,
        index: int,
        steps: list[dict[str, Any]],
        result: StepResult,
        limit: int,
    ) -> list[dict[str, Any]]:
        # Names are the action's own unless an earlier step of the run took them.
        taken = {a["name"] for s in steps[:index] for a in s.get("artifacts", ())}
        saved = []
        for a in result.artifacts:
            name = a.name if a.name not in taken else f"step{index}-{a.name}"
            taken.add(name)
            art = Artifact(
                run_id=run_id,
                name=name,
                content_type=a.content_type,
                size=min(len(a.data), limit),
                original_size=len(a.data) + a.dropped,
                created_at=time.time(),
                data=a.data[:limit],
            )
            await self._health.retry(
                f"saving an artifact of run {run_id}",
                functools.partial(self._store.save_artifact, art),
            )
            saved.append(art.to_json())
        return saved

    async def _steps(
        self,
        run: QueuedRun,
        reflex: Reflex,
        steps_def: tuple[Step, ...],
        steps: list[dict[str, Any]],
        attempt: int,
        ctx_vars: dict[str, Any],
        redactor: Redactor,
        settings: Settings,  # the run's config snapshot: a reload mid-run changes nothing
        containers: ContainerAccess,  # its settings.containers, TLS files read
    ) -> tuple[RunState, str]:
        for i, step in enumerate(steps_def):
            if i < len(steps) and steps[i].get("outcome"):
                continue  # ended in an earlier attempt
            action = self._actions[step.action]
            rec: dict[str, Any] = {
                "index": i,
                "name": step.name,
                "action": step.action,
                "attempt": attempt,
                "started_at": time.time(),
            }
            try:
                params, shown = render_step(step, action, ctx_vars)
                rec["params"] = redactor.tree(shown)
            except (TemplateError, ValueError) as exc:
                result = StepResult(StepOutcome.FAILED, f"cannot render step: {exc}")
            else:
                changes = step.reversible and step.undo_of is None
                actx = ActionContext(
                    run_id=run.id,
                    reflex=reflex.name,
                    team=reflex.team,
                    trigger=run.trigger,
                    alert=run.context["alert"],
                    notification=run.context["notification"],
                    output_limit=settings.output_limit,
                    artifact_limit=settings.artifact_limit,
                    containers=containers,
                    memo=(
                        await self._earlier_memo(run, reflex, i)
                        if changes and attempt > 1
                        else None
                    ),
                    store_memo=(
                        functools.partial(self._store_memo, run, reflex, i, step)
                        if changes
                        else None
                    ),
                )
                try:
                    if step.undo_of is None:
                        result = await self._execute(action, params, actx)
                    else:
                        result = await self._undo(run, step, step.undo_of, action, params, actx)
                except asyncio.CancelledError:
                    why = self._cancels.pop(run.id, None)
                    if why is None:
                        raise
                    # The action killed what it started on the way out.
                    _uncancel()
                    result = StepResult(StepOutcome.CANCELLED, why)
            if result.artifacts:
                rec["artifacts"] = await self._save_artifacts(
                    run.id, i, steps, result, settings.artifact_limit
                )
            if result.memo is not None and step.reversible and step.undo_of is None:
                await self._remember(run, reflex, i, step, result)
            rec.update(
                outcome=str(result.outcome),
                summary=redactor.text(result.summary),
                exit_code=result.exit_code,
                output=redactor.text(result.output),
                details=redactor.tree(result.details),
                finished_at=time.time(),
            )
            if i < len(steps):
                steps[i] = rec
            else:
                steps.append(rec)
            failed = result.outcome is not StepOutcome.SUCCEEDED
            if result.outcome is StepOutcome.CANCELLED:
                return RunState.CANCELLED, f"step {i} ({step.name}): {rec['summary']}"
            if failed and not step.continue_on_error:
                state = (
                    RunState.TIMED_OUT
                    if result.outcome is StepOutcome.TIMED_OUT
                    else RunState.FAILED
                )
                return state, f"step {i} ({step.name}): {rec['summary']}"
            if i + 1 < len(steps_def):
                await self._health.retry(
                    f"recording step {i} of run {run.id}",
                    functools.partial(self._store.save_steps, run.id, steps),
                )
        return RunState.SUCCEEDED, ""
