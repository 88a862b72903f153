"""Time windows on a real server: firing runs outside ``active_time_intervals`` or
inside ``mute_time_intervals`` are recorded as skipped with the reason; resolved
steps are not limited."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.payloads import alert, notification

_YEAR = datetime.now(UTC).year

_INTERVALS = f"""\
time_intervals:
  - name: long-ago
    time_intervals: [{{years: ['2001']}}]
  - name: this-year
    time_intervals: [{{years: ['{_YEAR - 1}:{_YEAR + 1}']}}]
"""


def test_outside_the_active_interval_firing_is_skipped_with_the_reason(make_server) -> None:  # type: ignore[no-untyped-def]
    """A reflex active only in 2001 records its firing run as skipped; its resolved
    steps still run (time windows limit what starts, not what is put back)."""
    srv = make_server(
        _INTERVALS
        + """\
reflexes:
  - name: r
    team: t
    match: []
    active_time_intervals: [long-ago]
    on_firing: [{exec: {command: ["true"]}}]
    on_resolved: [{exec: {command: ["true"]}}]
"""
    )
    labels = {"alertname": "A", "team": "t"}
    srv.post(notification(alert(labels)))
    run = srv.wait_runs(1, states=("skipped",))[0]
    assert run["reason"] == "outside active_time_intervals (long-ago)"
    assert srv.metric('alertreflex_runs_skipped_total{reason="time_interval",reflex="r"}') == 1
    srv.post(notification(alert(labels, status="resolved")))
    assert srv.wait_runs(1, trigger="resolved", states=("succeeded",))


def test_inside_the_active_interval_firing_runs_and_mute_wins(make_server) -> None:  # type: ignore[no-untyped-def]
    """Active this year: the run executes; a mute interval covering now skips it."""
    srv = make_server(
        _INTERVALS
        + """\
reflexes:
  - name: active
    team: t
    match: ['alertname="A"']
    active_time_intervals: [long-ago, this-year]
    on_firing: [{exec: {command: ["true"]}}]
  - name: muted
    team: t
    match: ['alertname="B"']
    active_time_intervals: [this-year]
    mute_time_intervals: [this-year]
    on_firing: [{exec: {command: ["true"]}}]
"""
    )
    srv.post(notification(alert({"alertname": "A", "team": "t"})))
    assert srv.wait_runs(1, states=("succeeded",))[0]["reflex"] == "active"
    srv.post(notification(alert({"alertname": "B", "team": "t"})))
    muted = srv.wait_runs(1, states=("skipped",))[0]
    assert muted["reason"] == "inside mute_time_intervals (this-year)"
