"""Why each reflex does or does not act on an alert (``alertreflex test --explain``):
ownership, matchers with the alert's values, time windows, cooldown and dry_run."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from alertreflex.actions.base import Action, load_action_types, params_models
from alertreflex.config.loader import Config, load_config
from alertreflex.core.models import NotificationIn, Trigger
from alertreflex.engine.explain import (
    Explanation,
    LastFiring,
    Outcome,
    Status,
    explain_alert,
)
from alertreflex.engine.preview import StepRenderer, alert_payload, notification_of

CONFIG = """\
settings: {ownership_label: owner}
time_intervals:
  - name: office-hours
    time_intervals:
      - times: [{start_time: "09:00", end_time: "17:00"}]
        weekdays: ["monday:friday"]
        location: Europe/Berlin
  - name: weekend
    time_intervals:
      - weekdays: [saturday, sunday]
reflexes:
  - name: restart-worker
    team: warehouse
    match: ['alertname="WorkerStuck"', 'severity=~"warning|critical"', 'env!="dev"']
    active_time_intervals: [office-hours]
    mute_time_intervals: [weekend]
    cooldown: 12h
    on_firing:
      - exec: {command: ["systemctl", "restart", "worker-{{ alert.labels.worker }}"]}
  - name: note-everything
    team: warehouse
    match: []
    dry_run: true
    on_firing:
      - exec: {command: ["echo", "{{ alert.labels.alertname }}"]}
  - name: on-resolve-only
    team: warehouse
    match: ['alertname="WorkerStuck"']
    on_resolved:
      - exec: {command: ["echo", "resolved"]}
  - name: payments-page
    team: payments
    match: ['alertname="WorkerStuck"']
    on_firing:
      - exec: {command: ["true"]}
"""

TUESDAY_10 = datetime.fromisoformat("2026-11-24T10:00:00+01:00")
TUESDAY_20 = datetime.fromisoformat("2026-11-24T20:00:00+01:00")
SATURDAY_10 = datetime.fromisoformat("2026-11-28T10:00:00+01:00")
STUCK = {"alertname": "WorkerStuck", "owner": "warehouse", "severity": "critical", "worker": "3"}


@pytest.fixture(scope="module")
def actions() -> dict[str, Action[Any]]:
    return {name: cls() for name, cls in load_action_types().items()}


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> Config:
    path: Path = tmp_path_factory.mktemp("explain") / "alertreflex.yml"
    path.write_text(CONFIG)
    return load_config(path, params_models(load_action_types()), read_secrets=False)


def note(labels: dict[str, str], status: str = "firing") -> NotificationIn:
    return notification_of(alert_payload(labels, status=status))


def explain(
    cfg: Config, labels: dict[str, str], at: datetime = TUESDAY_10, **kw: Any
) -> dict[str, Explanation]:
    n = note(labels, kw.pop("status", "firing"))
    return {e.reflex.name: e for e in explain_alert(cfg, n.alerts[0], n, at=at, **kw)}


def checks(e: Explanation) -> list[tuple[str, str]]:
    return [(str(c.status), c.text) for c in e.checks]


def test_every_reflex_is_explained_in_config_order(cfg: Config) -> None:
    """All reflexes of all teams get an explanation, whatever the alert."""
    found = explain(cfg, STUCK)
    assert list(found) == ["restart-worker", "note-everything", "on-resolve-only", "payments-page"]


def test_a_reflex_that_runs(cfg: Config, actions: dict[str, Action[Any]]) -> None:
    """Every check passes, the cooldown is not known offline; steps are rendered."""
    e = explain(cfg, STUCK, renderer=StepRenderer(cfg, actions))["restart-worker"]
    at = TUESDAY_10.isoformat()
    assert checks(e) == [
        ("ok", 'ownership: owner="warehouse" is the reflex\'s team'),
        ("ok", 'match alertname="WorkerStuck": the alert has alertname="WorkerStuck"'),
        ("ok", 'match severity=~"warning|critical": the alert has severity="critical"'),
        ("ok", 'match env!="dev": the alert has no env label'),
        ("ok", f"time: active_time_intervals (office-hours): office-hours holds at {at}"),
        ("ok", f"time: mute_time_intervals: weekend does not hold at {at}"),
        ("unknown", "cooldown 12h: depends on the last firing run; offline not checked"),
    ]
    assert e.outcome is Outcome.RUNS
    assert e.triggers
    assert e.reason == ""
    assert e.steps is not None
    assert e.steps[0]["params"]["command"] == ["systemctl", "restart", "worker-3"]


def test_a_failing_matcher_shows_the_alerts_value(cfg: Config) -> None:
    """Each matcher passes or fails on its own, with the value the alert has."""
    e = explain(cfg, {**STUCK, "severity": "info", "env": "dev"})["restart-worker"]
    assert checks(e)[1:4] == [
        ("ok", 'match alertname="WorkerStuck": the alert has alertname="WorkerStuck"'),
        ("fail", 'match severity=~"warning|critical": the alert has severity="info"'),
        ("fail", 'match env!="dev": the alert has env="dev"'),
    ]
    assert e.outcome is Outcome.NO_MATCH
    assert not e.triggers
    assert e.reason == (
        'not matched: severity=~"warning|critical" fails, the alert has severity="info"; '
        'env!="dev" fails, the alert has env="dev"'
    )


def test_ownership_names_the_ownership_label(cfg: Config) -> None:
    """The configured ownership label (owner) is checked first and named."""
    found = explain(cfg, STUCK)
    other = found["payments-page"]
    assert checks(other)[0] == (
        "fail",
        "ownership: the alert has owner=\"warehouse\"; a reflex of team 'payments' only sees "
        'alerts with owner="payments"',
    )
    assert other.outcome is Outcome.NOT_OWNED
    assert other.reason == (
        'other team: the alert has owner="warehouse", the reflex belongs to team "payments"'
    )
    # The matchers are still evaluated, for the JSON output.
    assert checks(other)[1] == (
        "ok",
        'match alertname="WorkerStuck": the alert has alertname="WorkerStuck"',
    )
    unowned = explain(cfg, {"alertname": "WorkerStuck", "team": "warehouse"})["restart-worker"]
    assert checks(unowned)[0][1].startswith("ownership: the alert has no owner label;")
    assert unowned.outcome is Outcome.NOT_OWNED


def test_outside_the_active_interval(cfg: Config) -> None:
    """Tuesday 20:00 is outside office hours: the run would be skipped, naming it."""
    e = explain(cfg, STUCK, at=TUESDAY_20)["restart-worker"]
    at = TUESDAY_20.isoformat()
    assert ("fail", f"time: active_time_intervals (office-hours): none holds at {at}") in checks(e)
    assert e.outcome is Outcome.OUTSIDE_TIME
    assert e.reason == f"outside active_time_intervals (office-hours) at {at}"
    assert e.matched
    assert not e.triggers


def test_inside_a_mute_interval(cfg: Config) -> None:
    """Saturday is muted (and outside office hours, which come first)."""
    e = explain(cfg, STUCK, at=SATURDAY_10)["restart-worker"]
    at = SATURDAY_10.isoformat()
    assert checks(e)[4:6] == [
        ("fail", f"time: active_time_intervals (office-hours): none holds at {at}"),
        ("fail", f"time: mute_time_intervals: weekend holds at {at}"),
    ]
    assert e.outside_time == "outside active_time_intervals (office-hours)"


def test_cooldown_from_the_last_firing_run(cfg: Config) -> None:
    """With a lookup of the last started firing run, the cooldown is decided."""
    started = datetime(2026, 11, 24, 8, 0, tzinfo=UTC).timestamp()  # 09:00 in Berlin
    asked: list[str] = []

    def lookup(name: str) -> LastFiring | None:
        asked.append(name)
        return LastFiring("run-1", started) if name == "restart-worker" else None

    e = explain(cfg, STUCK, lookup=lookup)["restart-worker"]
    assert checks(e)[-1] == (
        "fail",
        "cooldown 12h: last firing run run-1 started 2026-11-24T08:00:00Z (1h ago); skipped "
        "until 2026-11-24T20:00:00Z",
    )
    assert e.outcome is Outcome.COOLDOWN
    assert e.triggers  # a test leaves the cooldown aside
    # Only reflexes that match and have a cooldown are looked up.
    assert asked == ["restart-worker"]
    later = explain(cfg, STUCK, at=datetime(2026, 11, 25, 10, tzinfo=UTC), lookup=lookup)
    assert checks(later["restart-worker"])[-1] == (
        "ok",
        "cooldown 12h: last firing run run-1 started 2026-11-24T08:00:00Z (1d2h ago); over",
    )
    never = explain(cfg, STUCK, lookup=lambda name: None)["restart-worker"]
    assert checks(never)[-1] == (
        "ok",
        "cooldown 12h: no firing run of this reflex has started yet",
    )
    unmatched = explain(cfg, {**STUCK, "severity": "info"}, lookup=lookup)["restart-worker"]
    assert checks(unmatched)[-1] == (
        "unknown",
        "cooldown 12h: not looked up, the reflex does not match",
    )


def test_dry_run_and_no_steps(cfg: Config) -> None:
    """A dry_run reflex says so; a reflex without firing steps creates no run."""
    found = explain(cfg, STUCK)
    dry = found["note-everything"]
    assert checks(dry)[1] == ("ok", "match: no matchers, every alert of the team")
    assert checks(dry)[-1] == (
        "info",
        "dry_run: the run records its rendered steps and executes nothing",
    )
    assert dry.outcome is Outcome.DRY_RUN
    assert dry.triggers
    resolved_only = found["on-resolve-only"]
    assert resolved_only.outcome is Outcome.NO_STEPS
    assert resolved_only.reason == "it matches but has no firing steps, so no run is created"


def test_resolved_alerts_skip_time_and_cooldown(cfg: Config) -> None:
    """Time windows and cooldown limit firing runs only; resolved is explained so."""
    found = explain(cfg, STUCK, at=SATURDAY_10, trigger=Trigger.RESOLVED)
    e = found["restart-worker"]
    assert checks(e)[-2:] == [
        ("n/a", "time: windows limit firing runs only"),
        ("n/a", "cooldown: limits firing runs only"),
    ]
    assert e.outcome is Outcome.NO_STEPS
    assert found["on-resolve-only"].outcome is Outcome.RUNS


def test_to_json(cfg: Config, actions: dict[str, Action[Any]]) -> None:
    """The JSON form carries every check and the rendered steps."""
    e = explain(cfg, STUCK, at=TUESDAY_20, renderer=StepRenderer(cfg, actions))["restart-worker"]
    doc = e.to_json()
    assert doc["reflex"] == "restart-worker"
    assert doc["team"] == "warehouse"
    assert doc["outcome"] == "outside_time"
    assert doc["matched"] is True
    assert doc["source"].endswith("alertreflex.yml:12")  # the line of "- name: restart-worker"
    assert {"check": "cooldown", "status": str(Status.UNKNOWN)} == {
        k: v for k, v in doc["checks"][-1].items() if k != "text"
    }
    assert doc["steps"][0]["describe"] == "exec systemctl restart worker-3"


def test_run_time_brakes_are_stated(tmp_path: Path) -> None:
    """delay, storm guard and circuit breaker depend on what happens at run time:
    explained as notes, without changing the verdict."""
    path = tmp_path / "c.yml"
    path.write_text(
        """\
reflexes:
  - name: careful
    team: t
    match: ['alertname="A"']
    delay: 30s
    storm_guard: {max_runs: 3, window: 10m}
    max_failures: 4
    approval: required
    approval_timeout: 20m
    cancel_on_resolve: true
    on_firing: [{exec: {command: ["true"]}}]
    on_resolved: [{exec: {command: ["true"]}}]
"""
    )
    cfg = load_config(path, params_models(load_action_types()), read_secrets=False)
    labels = {"alertname": "A", "team": "t"}
    n = note(labels)
    (firing,) = explain_alert(cfg, n.alerts[0], n, at=TUESDAY_10)
    notes = {c.check: (c.status, c.text) for c in firing.checks if c.status is Status.INFO}
    assert notes == {
        "delay": (
            Status.INFO,
            "delay 30s: the firing steps run only if the alert still fires then",
        ),
        "storm_guard": (
            Status.INFO,
            "storm guard: at most 3 firing runs per 10m (the current window is not checked here)",
        ),
        "breaker": (Status.INFO, "circuit breaker: disables itself after 4 failed runs in a row"),
        "approval": (
            Status.INFO,
            "approval required: the run waits for an operator, and expires after 20m",
        ),
        "cancel_on_resolve": (Status.INFO, "cancelled if the alert resolves meanwhile"),
    }
    assert firing.outcome is Outcome.RUNS
    resolved = note(labels, "resolved")
    (exp,) = explain_alert(cfg, resolved.alerts[0], resolved, at=TUESDAY_10)
    assert [c.check for c in exp.checks if c.status is Status.INFO] == ["breaker"]
