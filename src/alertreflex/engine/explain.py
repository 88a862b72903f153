"""Why each reflex does or does not act on an alert: ``alertreflex test --explain``.

For every configured reflex this evaluates, without executing anything, what the
webhook and the runner would decide, in their order: ownership and matchers (the
webhook creates a run only for reflexes that match and have steps for the trigger),
then the runner's policies: ``dry_run``, and for firing runs the time window and the
cooldown. Each decision is a :class:`Check` with the evidence an
SRE needs: the alert's actual label value, the interval's name, the last run.

Whether a reflex matches is taken from the config's index, the code the webhook
uses; the per-matcher checks only explain that verdict. The reflex unit tests
(:mod:`alertreflex.engine.reflextests`) are built on the same explanations.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alertreflex.config.loader import Config, Reflex
from alertreflex.core.durations import format_duration
from alertreflex.core.matchers import Matcher
from alertreflex.core.models import AlertIn, NotificationIn, Trigger
from alertreflex.engine.preview import StepRenderer


class Status(enum.StrEnum):
    OK = "ok"
    FAIL = "fail"
    UNKNOWN = "unknown"  # cannot be decided here (the cooldown, offline)
    NOT_APPLICABLE = "n/a"  # e.g. time windows for a resolved alert
    INFO = "info"  # worth knowing, decides nothing (dry_run)


class Outcome(enum.StrEnum):
    """What would become of this reflex for the alert, in the runner's order."""

    NOT_OWNED = "not_owned"  # the alert belongs to another team (or none)
    NO_MATCH = "no_match"
    NO_STEPS = "no_steps"  # matches, but has no steps for this trigger: no run
    HELD = "held"  # paused, or the reflex disabled (by an operator or its breaker)
    DRY_RUN = "dry_run"  # a run that renders its steps and executes nothing
    OUTSIDE_TIME = "outside_time"  # a firing run skipped by its time window
    COOLDOWN = "cooldown"  # a firing run skipped by its cooldown
    RUNS = "runs"


@dataclass(frozen=True)
class Check:
    check: str  # ownership, match, time, cooldown, dry_run
    status: Status
    text: str

    def to_json(self) -> dict[str, str]:
        return {"check": self.check, "status": str(self.status), "text": self.text}


@dataclass(frozen=True)
class LastFiring:
    """The last firing run of a reflex that started, as a running alertreflex knows it."""

    run_id: str
    started_at: float  # Unix time


# Looks up the last started firing run of a reflex by name (None: there is none).
LastFiringLookup = Callable[[str], LastFiring | None]

# What holds a reflex in a running alertreflex (a pause or disable), as the runner
# words it in its skip reason; None: nothing.
HeldLookup = Callable[[str], str | None]


@dataclass
class Explanation:
    reflex: Reflex
    trigger: Trigger
    labels: Mapping[str, str]
    ownership_label: str
    at: datetime
    owned: bool  # the alert's ownership label is the reflex's team
    matched: bool  # the index's verdict: owned and every matcher passes
    checks: list[Check]
    outside_time: str | None  # the runner's skip reason, for firing runs
    in_cooldown: bool | None  # None: not known (offline)
    steps: list[dict[str, Any]] | None = None  # rendered, for reflexes that match
    held: str | None = None  # the pause or disable that skips this run

    @property
    def has_steps(self) -> bool:
        return bool(self.reflex.steps(self.trigger))

    @property
    def triggers(self) -> bool:
        """Whether the reflex acts on the alert, leaving aside dry_run and cooldown:
        what a reflex unit test asserts (cooldown depends on earlier alerts, and a
        dry_run reflex is tested for what it will do once it is switched on)."""
        return self.matched and self.has_steps and self.outside_time is None

    @property
    def outcome(self) -> Outcome:
        if not self.owned:
            return Outcome.NOT_OWNED
        if not self.matched:
            return Outcome.NO_MATCH
        if not self.has_steps:
            return Outcome.NO_STEPS
        if self.held is not None:  # checked before anything else at run time
            return Outcome.HELD
        if self.reflex.dry_run:  # the runner checks it first, even outside the window
            return Outcome.DRY_RUN
        if self.outside_time is not None:
            return Outcome.OUTSIDE_TIME
        if self.in_cooldown:
            return Outcome.COOLDOWN
        return Outcome.RUNS

    @property
    def reason(self) -> str:
        """One line: why the reflex does not trigger (empty when it does)."""
        if not self.owned:
            return (
                f"other team: the alert has {_shown(self.labels, self.ownership_label)}, "
                f'the reflex belongs to team "{self.reflex.team}"'
            )
        if not self.matched:
            failing = [
                f"{m} fails, the alert has {_shown(self.labels, m.name)}"
                for m in self.reflex.matchers
                if not m.matches(self.labels)
            ]
            return "not matched: " + ("; ".join(failing) or "the index says no")
        if not self.has_steps:
            return f"it matches but has no {self.trigger} steps, so no run is created"
        if self.held is not None:
            return self.held
        if self.outside_time is not None:
            return f"{self.outside_time} at {self.at.isoformat()}"
        return ""

    def to_json(self) -> dict[str, Any]:
        return {
            "reflex": self.reflex.name,
            "team": self.reflex.team,
            "source": self.reflex.source,
            "trigger": str(self.trigger),
            "outcome": str(self.outcome),
            "matched": self.matched,
            "dry_run": self.reflex.dry_run,
            "reason": self.reason,
            "checks": [c.to_json() for c in self.checks],
            "steps": self.steps,
        }


def _shown(labels: Mapping[str, str], name: str) -> str:
    if name not in labels:
        return f"no {name} label"
    return f'{name}="{labels[name]}"'


def ownership_check(reflex: Reflex, labels: Mapping[str, str], label: str) -> Check:
    team = labels.get(label, "")
    if team and team == reflex.team:
        return Check(
            "ownership", Status.OK, f"ownership: {_shown(labels, label)} is the reflex's team"
        )
    return Check(
        "ownership",
        Status.FAIL,
        f"ownership: the alert has {_shown(labels, label)}; a reflex of team {reflex.team!r} "
        "only sees "
        f'alerts with {label}="{reflex.team}"',
    )


def matcher_check(m: Matcher, labels: Mapping[str, str]) -> Check:
    status = Status.OK if m.matches(labels) else Status.FAIL
    return Check("match", status, f"match {m}: the alert has {_shown(labels, m.name)}")


def time_checks(reflex: Reflex, at: datetime) -> list[Check]:
    """The reflex's time intervals at ``at``; the verdict itself is Reflex.outside_time."""
    when = at.isoformat()
    if not reflex.active_time_intervals and not reflex.mute_time_intervals:
        return [Check("time", Status.OK, "time: no time intervals, any time")]
    checks = []
    if reflex.active_time_intervals:
        holding = [t.name for t in reflex.active_time_intervals if t.contains(at)]
        names = ", ".join(t.name for t in reflex.active_time_intervals)
        if holding:
            text = f"time: active_time_intervals ({names}): {', '.join(holding)} holds at {when}"
            checks.append(Check("time", Status.OK, text))
        else:
            text = f"time: active_time_intervals ({names}): none holds at {when}"
            checks.append(Check("time", Status.FAIL, text))
    for t in reflex.mute_time_intervals:
        if t.contains(at):
            text = f"time: mute_time_intervals: {t.name} holds at {when}"
            checks.append(Check("time", Status.FAIL, text))
        else:
            text = f"time: mute_time_intervals: {t.name} does not hold at {when}"
            checks.append(Check("time", Status.OK, text))
    return checks


def cooldown_check(
    reflex: Reflex, at: datetime, lookup: LastFiringLookup | None, *, matched: bool = True
) -> tuple[Check, bool | None]:
    """The cooldown at ``at`` and whether it would skip the run (None: unknown)."""
    if reflex.cooldown <= 0:
        return Check("cooldown", Status.OK, "cooldown: none"), False
    cooldown = format_duration(reflex.cooldown)
    if lookup is not None and not matched:
        # Only a reflex that matches is worth a request to the server.
        text = f"cooldown {cooldown}: not looked up, the reflex does not match"
        return Check("cooldown", Status.UNKNOWN, text), None
    if lookup is None:
        text = f"cooldown {cooldown}: depends on the last firing run; offline not checked"
        return Check("cooldown", Status.UNKNOWN, text), None
    last = lookup(reflex.name)
    if last is None:
        text = f"cooldown {cooldown}: no firing run of this reflex has started yet"
        return Check("cooldown", Status.OK, text), False
    started = datetime.fromtimestamp(last.started_at, UTC)
    ago = at.timestamp() - last.started_at
    since = f"last firing run {last.run_id} started {_rfc3339(started)}"
    if ago < 0:
        text = f"cooldown {cooldown}: {since}, after {at.isoformat()}; cannot tell"
        return Check("cooldown", Status.UNKNOWN, text), None
    elapsed = format_duration(round(ago))
    if ago < reflex.cooldown:
        until = datetime.fromtimestamp(last.started_at + reflex.cooldown, UTC)
        text = f"cooldown {cooldown}: {since} ({elapsed} ago); skipped until {_rfc3339(until)}"
        return Check("cooldown", Status.FAIL, text), True
    text = f"cooldown {cooldown}: {since} ({elapsed} ago); over"
    return Check("cooldown", Status.OK, text), False


def policy_notes(reflex: Reflex, trigger: Trigger) -> list[Check]:
    """The brakes that depend on what happens at run time, stated, not decided."""
    notes = []
    if trigger is Trigger.FIRING and reflex.delay > 0:
        text = (
            f"delay {format_duration(reflex.delay)}: the firing steps run only if the "
            "alert still fires then"
        )
        notes.append(Check("delay", Status.INFO, text))
    if trigger is Trigger.FIRING and reflex.storm_guard is not None:
        g = reflex.storm_guard
        text = (
            f"storm guard: at most {g.max_runs} firing runs per "
            f"{format_duration(g.window)} (the current window is not checked here)"
        )
        notes.append(Check("storm_guard", Status.INFO, text))
    if reflex.max_failures:
        n = reflex.max_failures
        runs = "a failed run" if n == 1 else f"{n} failed runs in a row"
        text = f"circuit breaker: disables itself after {runs}"
        notes.append(Check("breaker", Status.INFO, text))
    if trigger is Trigger.FIRING and reflex.approval_required:
        text = (
            "approval required: the run waits for an operator, and expires after "
            f"{format_duration(reflex.approval_timeout)}"
        )
        notes.append(Check("approval", Status.INFO, text))
    if trigger is Trigger.FIRING and reflex.cancel_on_resolve:
        notes.append(
            Check("cancel_on_resolve", Status.INFO, "cancelled if the alert resolves meanwhile")
        )
    return notes


def _rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def explain_reflex(
    reflex: Reflex,
    alert: AlertIn,
    trigger: Trigger,
    *,
    matched: bool,
    label: str,
    at: datetime,
    lookup: LastFiringLookup | None = None,
    held_by: HeldLookup | None = None,
) -> Explanation:
    """Every check of one reflex; ``matched`` is the index's verdict for the alert."""
    labels = alert.labels
    owner = ownership_check(reflex, labels, label)
    checks = [owner]
    if reflex.matchers:
        checks += [matcher_check(m, labels) for m in reflex.matchers]
    else:
        checks.append(Check("match", Status.OK, "match: no matchers, every alert of the team"))
    outside: str | None = None
    in_cooldown: bool | None = False
    if trigger is Trigger.FIRING:
        checks += time_checks(reflex, at)
        outside = reflex.outside_time(at)
        cooldown, in_cooldown = cooldown_check(reflex, at, lookup, matched=matched)
        checks.append(cooldown)
    else:
        checks.append(Check("time", Status.NOT_APPLICABLE, "time: windows limit firing runs only"))
        checks.append(Check("cooldown", Status.NOT_APPLICABLE, "cooldown: limits firing runs only"))
    held = _held_check(reflex, trigger, held_by)
    if held is not None:
        checks.append(held)
    checks += policy_notes(reflex, trigger)
    if reflex.dry_run:
        text = "dry_run: the run records its rendered steps and executes nothing"
        checks.append(Check("dry_run", Status.INFO, text))
    return Explanation(
        reflex=reflex,
        trigger=trigger,
        labels=labels,
        ownership_label=label,
        at=at,
        owned=owner.status is Status.OK,
        matched=matched,
        checks=checks,
        outside_time=outside,
        in_cooldown=in_cooldown,
        held=held.text if held is not None and held.status is Status.FAIL else None,
    )


def _held_check(reflex: Reflex, trigger: Trigger, held_by: HeldLookup | None) -> Check | None:
    if held_by is None:
        return None
    why = held_by(reflex.name)
    if why is None:
        return Check("brakes", Status.OK, "brakes: not paused, not disabled")
    if trigger is Trigger.FIRING or not reflex.undo_steps:
        return Check("brakes", Status.FAIL, why)
    return Check("brakes", Status.INFO, f"{why}: only its restore steps run")


def explain_alert(
    cfg: Config,
    alert: AlertIn,
    n: NotificationIn,
    *,
    at: datetime,
    trigger: Trigger | None = None,
    renderer: StepRenderer | None = None,
    lookup: LastFiringLookup | None = None,
    held_by: HeldLookup | None = None,
) -> list[Explanation]:
    """An explanation for every configured reflex, in config order.

    With a ``renderer``, reflexes that match get their rendered steps. ``lookup``
    reads the last firing run from a running alertreflex, for the cooldown; without
    it the cooldown is reported as not checked.
    """
    trig = trigger or Trigger(alert.status)
    matched = {r.name for r in cfg.index.match(alert.labels)}
    out = []
    for reflex in cfg.reflexes.values():
        exp = explain_reflex(
            reflex,
            alert,
            trig,
            matched=reflex.name in matched,
            label=cfg.settings.ownership_label,
            at=at,
            lookup=lookup,
            held_by=held_by,
        )
        if renderer is not None and exp.matched:
            exp.steps = renderer.render(reflex, alert, n, trig)
        out.append(exp)
    return out
