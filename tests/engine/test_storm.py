"""Storm guard windows, with explicit times."""

from __future__ import annotations

from alertreflex.config.loader import Reflex
from alertreflex.config.schema import Settings, StormGuard
from alertreflex.engine.metrics import Metrics
from alertreflex.engine.storm import StormGuards


def reflex(guard: StormGuard | None) -> Reflex:
    return Reflex(
        name="r",
        team="t",
        description="",
        matchers=(),
        on_firing=(),
        on_resolved=(),
        cooldown=0,
        max_concurrent=1,
        dry_run=False,
        resolve_delay=0,
        source="x:1",
        storm_guard=guard,
    )


def test_fixed_window_stops_past_max_runs_until_it_closes() -> None:
    metrics = Metrics()
    guards = StormGuards(metrics)
    r = reflex(StormGuard(max_runs=2, window=60))
    s = Settings()
    for t in (1000.0, 1010.0):
        assert guards.check(r, s, t) is None
        guards.record(r, s, t)
    assert metrics.storm.labels("r")._value.get() == 1
    why = guards.check(r, s, 1059.0)
    assert why == (
        "storm guard: 2 firing runs of reflex r within 1m, stopped until 1970-01-01 00:17:40 UTC"
    )
    # The window opened at 1000 closes at 1060: a new one opens.
    assert guards.check(r, s, 1060.0) is None
    assert metrics.storm.labels("r")._value.get() == 0
    guards.record(r, s, 1060.0)
    assert guards.check(r, s, 1061.0) is None


def test_no_guard_no_limit() -> None:
    guards = StormGuards(Metrics())
    r = reflex(None)
    for t in range(100):
        assert guards.check(r, Settings(), float(t)) is None
        guards.record(r, Settings(), float(t))


def test_the_gauge_falls_when_the_window_closes_without_another_run() -> None:
    """The tripped gauge must not outlive the window (an alert watches it), even when
    no firing run comes to open the next one."""
    metrics = Metrics()
    guards = StormGuards(metrics)
    r = reflex(StormGuard(max_runs=1, window=60))
    s = Settings()
    guards.record(r, s, 1000.0)
    guards.refresh({"r": r}, s, 1059.0)
    assert metrics.storm.labels("r")._value.get() == 1
    guards.refresh({"r": r}, s, 1060.0)
    assert metrics.storm.labels("r")._value.get() == 0
