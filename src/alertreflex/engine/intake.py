"""What becomes of a notification's runs as it arrives, and the account of it.

The runner checks a reflex's policies when a run starts. Those that depend only on
what is known when the notification arrives are decided here, before the store's
write, so that the webhook's answer says what happened to each run rather than
"created" for runs that will never act. A run due at once (no ``delay`` or
``resolve_delay`` to wait out) is stored ``skipped``, with its reason, when:

- the reflex is paused or disabled (a resolved run that has restores to do still
  runs them, as the runner would);
- the reflex is ``dry_run``: its steps are rendered now, into its record;
- it is a firing run outside the reflex's time intervals, within its cooldown of
  the last firing start known here, or refused by a storm guard as it stands.

A firing run of a reflex with ``approval: required`` will wait for an approval; a
run with a delay is *scheduled*, and all of it is decided when it is due. A firing
run with a worker free is claimed as it is stored (Engine.ingest). Queued
runs are checked again when they start: the state may change in between (a pause;
other runs of the same reflex starting first, which sets its cooldown), and on a
shared store the store decides cooldowns and storm guards in the transaction that
claims the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from alertreflex.actions.base import Action
from alertreflex.config.loader import Config, Reflex
from alertreflex.core.models import RunState, Trigger
from alertreflex.engine import controls
from alertreflex.engine.controls import Controls
from alertreflex.engine.redact import Redactor
from alertreflex.engine.runner import DRY_RUN, dry_steps, firing_refusal, template_context
from alertreflex.engine.storm import StormGuards
from alertreflex.store.base import Ingest, IngestResult, NewRun

# The answer to a body this process stored before, byte for byte (nothing parsed).
REPEAT_WHY = (
    "the same notification was received before, byte for byte: alertreflex acts once "
    "per episode, and decided its runs then"
)
_MAX_REASONS = 3  # distinct skip reasons in a ``why``


class Intake:
    """Decides the policies of new runs that are known at intake (see the module)."""

    def __init__(
        self,
        controls: Controls,
        storms: StormGuards,
        last_firing_start: dict[str, float],
        actions: dict[str, Action[Any]],
    ) -> None:
        self._controls = controls
        self._storms = storms
        self._last_firing_start = last_firing_start
        self._actions = actions

    def decide(self, runs: list[NewRun], cfg: Config, now: float) -> None:
        """Mark the runs of ``runs`` that are skipped at once (``NewRun.skip``)."""
        for run in runs:
            if run.not_before > now:
                continue  # scheduled: decided when it is due
            reflex = cfg.reflexes[run.reflex]  # planned from this very config
            firing = run.trigger is Trigger.FIRING
            steps_def = reflex.steps(run.trigger)
            held = self._controls.holding(reflex.name)
            if held is not None:
                if firing or not reflex.undo_steps:
                    _skip(run, controls.category(held), controls.why(held))
                    continue
                steps_def = reflex.undo_steps  # only the restores run
            if reflex.dry_run:
                run.steps = self._render(run, reflex, steps_def, cfg.secrets)
                _skip(run, "dry_run", DRY_RUN)
                continue
            if not firing:
                continue
            refused = firing_refusal(
                reflex, cfg.settings, now, self._last_firing_start, self._storms
            )
            if refused is not None:
                _skip(run, *refused)

    def _render(
        self, run: NewRun, reflex: Reflex, steps_def: tuple[Any, ...], secrets: dict[str, str]
    ) -> list[dict[str, Any]]:
        ctx = template_context(run, reflex, secrets)
        return dry_steps(self._actions, steps_def, ctx, Redactor(secrets))


def _skip(run: NewRun, category: str, reason: str) -> None:
    run.skip, run.skip_reason = category, reason


@dataclass
class Outcome:
    """What one notification did to runs: each new run's fate, and why none goes on
    when none does. The webhook answers it and logs it."""

    created: list[NewRun] = field(default_factory=list)  # new runs, as stored
    duplicate: bool = False  # no new run and no alert changed status
    notification_id: str = ""
    queued: int = 0  # will start as soon as a worker is free
    scheduled: int = 0  # will be decided after its delay or resolve_delay
    awaiting_approval: int = 0  # will wait for an operator (approval: required)
    skipped: dict[str, int] = field(default_factory=dict)  # by category
    why: str = ""  # when no run goes on
    existing: str = ""  # a run its episodes had before, when runs were wanted and none was new

    @property
    def runs_created(self) -> int:
        """New runs that go on: queued, scheduled or awaiting approval."""
        return self.queued + self.scheduled + self.awaiting_approval

    @property
    def runs_skipped(self) -> int:
        """New runs stored skipped at once."""
        return sum(self.skipped.values())

    def answer(self) -> dict[str, Any]:
        """The webhook's 200 body (documented in web/openapi.py and docs/reference/http-api.md)."""
        body: dict[str, Any] = {
            "status": "accepted",
            "runs_created": self.runs_created,
            "runs_skipped": self.runs_skipped,
            "runs": {
                "queued": self.queued,
                "scheduled": self.scheduled,
                "awaiting_approval": self.awaiting_approval,
                "skipped": self.skipped,
            },
            "duplicate": self.duplicate,
        }
        if self.why:
            body["why"] = self.why
        return body


def account(batch: Ingest, result: IngestResult, cfg: Config, now: float, where: str) -> Outcome:
    """The outcome of ``batch`` as the store wrote it (``result``). ``where`` names
    the store, for a ``why`` that says where the memory of past episodes lives."""
    out = Outcome(result.created, result.duplicate, batch.notification_id, existing=result.existing)
    for run in result.created:
        if run.state is RunState.SKIPPED:
            category = run.skipped_as
            out.skipped[category] = out.skipped.get(category, 0) + 1
        elif run.not_before > now:
            out.scheduled += 1
        elif run.trigger is Trigger.FIRING and _approval(cfg, run.reflex):
            out.awaiting_approval += 1
        else:
            out.queued += 1
    if not out.runs_created:
        out.why = _why(batch, result, where)
    return out


def _approval(cfg: Config, name: str) -> bool:
    reflex = cfg.reflexes.get(name)
    return reflex is not None and reflex.approval_required


def _why(batch: Ingest, result: IngestResult, where: str) -> str:
    """Why none of the notification's runs goes on, in a sentence."""
    several = len(batch.alerts) > 1
    if result.created:  # all skipped: their reasons say it
        reasons = list(dict.fromkeys(r.reason for r in result.created))
        return "; ".join(reasons[:_MAX_REASONS])
    if batch.runs:
        whose = "its episodes already have their" if several else "its episode already has its"
        see = f" (see run {result.existing})" if result.existing else ""
        return f"{whose} runs: alertreflex acts once per episode{see}; the state lives in {where}"
    if not batch.matched:
        return "no reflex matches its alerts" if several else "no reflex matches its alert"
    statuses = {a.status for a in batch.alerts}
    if len(statuses) == 1:
        return f"the reflexes that match have no on_{statuses.pop()} steps"
    return "the reflexes that match have no steps for the status of the alerts they match"
