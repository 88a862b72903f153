"""``simulate``: what a config's reflexes would do with alert episodes, on a simulated
clock, pure (no server, no Prometheus). Each test states the engine behaviour the
simulation mirrors: ownership, the worker pool's limits, cooldowns and storm guards
asked again when a run starts, the circuit breaker, seeded failures, delay,
approval, dry_run, episodes cut by the replay's range, and resolve_delay flaps."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from alertreflex.actions.base import load_action_types, params_models
from alertreflex.config.loader import Config, load_config
from alertreflex.core.fingerprint import fingerprint
from alertreflex.core.models import Trigger
from alertreflex.engine.runner import DRY_RUN
from alertreflex.replay.history import Episode
from alertreflex.replay.simulate import (
    AWAITING,
    FAILED,
    PENDING,
    RAN,
    SKIPPED,
    Assumptions,
    SimRun,
    counts,
    simulate,
)

TYPES = params_models(load_action_types())
T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC: any fixed instant
M = 60.0
END = T0 + 86400.0  # the replay's range ends a day later

STEPS = 'on_firing: [{exec: {command: ["true"]}}]'
BOTH = STEPS + '\n    on_resolved: [{exec: {command: ["true"]}}]'


def _cfg(tmp_path: Path, text: str) -> Config:
    f = tmp_path / "alertreflex.yml"
    f.write_text(text)
    return load_config(f, TYPES, read_secrets=False)


def _reflex(name: str, alertname: str, extra: str = "", steps: str = STEPS) -> str:
    """One reflex of team shop matching ``alertname``, ``extra`` its further keys."""
    lines = [
        f"  - name: {name}",
        "    team: shop",
        f"    match: ['alertname=\"{alertname}\"']",
        f"    {steps}",
    ]
    lines += [f"    {line}" for line in extra.strip().splitlines()]
    return "\n".join(lines) + "\n"


def _reflexes(*reflexes: str, settings: str = "") -> str:
    return (f"settings:\n{settings}" if settings else "") + "reflexes:\n" + "".join(reflexes)


def _alert(alertname: str = "A", team: str = "shop", **more: str) -> dict[str, str]:
    return {"alertname": alertname, "team": team, **more}


def _ep(
    labels: Mapping[str, str], start: float, end: float | None, *, begun_before: bool = False
) -> Episode:
    return Episode(labels, fingerprint(labels), start, end, begun_before)


def _of(runs: list[SimRun], trigger: Trigger, reflex: str | None = None) -> list[SimRun]:
    return [r for r in runs if r.trigger is trigger and (reflex is None or r.reflex == reflex)]


# Ownership


def test_another_teams_alert_makes_no_run(tmp_path: Path) -> None:
    """A reflex only matches alerts carrying its team's ownership label: the same
    alert name under another team makes no run at all; its own team's makes a firing
    and a resolved run."""
    cfg = _cfg(tmp_path, _reflexes(_reflex("r", "A", steps=BOTH)))
    mine = _ep(_alert(instance="a"), T0, T0 + 5 * M)
    theirs = _ep(_alert(team="other", instance="b"), T0, T0 + 5 * M)
    runs = simulate(cfg, [mine, theirs], END)
    assert [(r.trigger, r.state, r.episode) for r in runs] == [
        (Trigger.FIRING, RAN, mine),
        (Trigger.RESOLVED, RAN, mine),
    ]
    assert {r.team for r in runs} == {"shop"}


def test_a_custom_ownership_label_decides_the_owner(tmp_path: Path) -> None:
    """With ``settings.ownership_label: owner`` the owner is read from ``owner``: an
    alert with ``owner="shop"`` matches shop's reflex, one with only ``team="shop"``
    (no owner label) matches nothing."""
    cfg = _cfg(
        tmp_path,
        _reflexes(_reflex("r", "A"), settings="  ownership_label: owner\n"),
    )
    owned = _ep({"alertname": "A", "owner": "shop"}, T0, None)
    by_team = _ep({"alertname": "A", "team": "shop"}, T0, None)
    other = _ep({"alertname": "A", "owner": "other"}, T0, None)
    runs = simulate(cfg, [owned, by_team, other], END)
    assert [(r.reflex, r.state, r.episode) for r in runs] == [("r", RAN, owned)]


# The worker pool


def test_max_concurrent_1_serialises_the_runs_of_a_reflex(tmp_path: Path) -> None:
    """With ``max_concurrent: 1`` three episodes firing at once make three runs due at
    once that start one after the other, each ``run_time`` after the last."""
    cfg = _cfg(tmp_path, _reflexes(_reflex("r", "A", "max_concurrent: 1")))
    eps = [_ep(_alert(instance=str(i)), T0, None) for i in range(3)]
    runs = simulate(cfg, eps, END, Assumptions(run_time=30))
    assert [r.state for r in runs] == [RAN] * 3
    assert [r.due for r in runs] == [T0] * 3
    assert sorted(r.started or 0 for r in runs) == [T0, T0 + 30, T0 + 60]


def test_max_concurrent_above_1_runs_side_by_side(tmp_path: Path) -> None:
    """``max_concurrent: 2``: two of three simultaneous runs start at once, the third
    when the first slot frees."""
    cfg = _cfg(tmp_path, _reflexes(_reflex("r", "A", "max_concurrent: 2")))
    eps = [_ep(_alert(instance=str(i)), T0, None) for i in range(3)]
    runs = simulate(cfg, eps, END, Assumptions(run_time=30))
    assert sorted(r.started or 0 for r in runs) == [T0, T0, T0 + 30]


def test_max_concurrent_runs_limits_all_reflexes_together(tmp_path: Path) -> None:
    """``settings.max_concurrent_runs: 1`` serialises runs of different reflexes (each
    allowing several at once), in the order they became due."""
    cfg = _cfg(
        tmp_path,
        _reflexes(
            _reflex("a", "A", "max_concurrent: 5"),
            _reflex("b", "B", "max_concurrent: 5"),
            settings="  max_concurrent_runs: 1\n",
        ),
    )
    eps = [_ep(_alert("A"), T0, None), _ep(_alert("B"), T0 + 1, None)]
    runs = simulate(cfg, eps, END, Assumptions(run_time=30))
    assert [(r.reflex, r.state, r.due, r.started) for r in runs] == [
        ("a", RAN, T0, T0),
        ("b", RAN, T0 + 1, T0 + 30),
    ]


# Cooldown and storm guards


def _busy_slot(tmp_path: Path, extra: str) -> Config:
    """One worker (max_concurrent_runs 1), reflex ``busy`` to hold it, and reflex ``r``
    (firing and resolved steps) with ``extra``."""
    return _cfg(
        tmp_path,
        _reflexes(
            _reflex("busy", "Busy"),
            _reflex("r", "A", extra, steps=BOTH),
            settings="  max_concurrent_runs: 1\n",
        ),
    )


def test_cooldown_is_asked_again_when_a_queued_run_starts(tmp_path: Path) -> None:
    """Two firing runs of a reflex with a cooldown, both due while the only worker is
    busy: both pass the cooldown when due (no firing run of the reflex started yet);
    the first starts when the worker frees and sets the cooldown, so the second is
    skipped with ``cooldown`` when its turn comes, as the runner asks at start."""
    cfg = _busy_slot(tmp_path, "cooldown: 1m")
    busy = _ep(_alert("Busy"), T0, None)
    first, second = _ep(_alert(instance="1"), T0 + 1, None), _ep(_alert(instance="2"), T0 + 2, None)
    runs = simulate(cfg, [busy, first, second], END, Assumptions(run_time=30))
    r1, r2 = _of(runs, Trigger.FIRING, "r")
    assert (r1.episode, r1.state, r1.started) == (first, RAN, T0 + 30)
    assert (r2.episode, r2.state, r2.category, r2.started) == (second, SKIPPED, "cooldown", None)
    assert r2.reason == "cooldown: last firing run started 30s ago, cooldown is 1m"


def test_cooldown_at_arrival_skips_at_once(tmp_path: Path) -> None:
    """A firing episode within the cooldown of the reflex's last firing start is
    skipped when it fires (the intake's decision); after the cooldown one runs again."""
    cfg = _cfg(tmp_path, _reflexes(_reflex("r", "A", "cooldown: 10m")))
    eps = [_ep(_alert(instance=str(i)), T0 + t * M, None) for i, t in enumerate((0, 5, 11))]
    runs = simulate(cfg, eps, END)
    assert [(r.state, r.category) for r in runs] == [(RAN, ""), (SKIPPED, "cooldown"), (RAN, "")]
    assert runs[1].reason == "cooldown: last firing run started 5m ago, cooldown is 10m"


def test_a_run_skipped_when_it_starts_hands_its_slot_on(tmp_path: Path) -> None:
    """A queued run skipped at its start frees its reflex's turn: the runs blocked
    behind it (max_concurrent 1) are still decided, as the dispatcher moves the next
    blocked run on when a run's task ends, skipped or not. Here the third run is
    skipped too (same cooldown), and the resolved run behind them runs."""
    cfg = _cfg(tmp_path, _reflexes(_reflex("r", "A", "max_concurrent: 1\ncooldown: 1m", BOTH)))
    # A resolved run (which sets no cooldown) holds the reflex's only slot from T0-5.
    before = _ep(_alert(instance="x"), T0 - 3600, T0 - 5, begun_before=True)
    eps = [_ep(_alert(instance=str(i)), T0, T0 + 10 if i == 2 else None) for i in range(3)]
    runs = simulate(cfg, [before, *eps], END, Assumptions(run_time=30))
    assert [r.state for r in runs] == [RAN, RAN, SKIPPED, SKIPPED, RAN]
    firing = _of(runs, Trigger.FIRING)
    assert [r.started for r in firing] == [T0 + 25, None, None]
    assert [r.category for r in firing] == ["", "cooldown", "cooldown"]
    # Blocked behind the firing runs, it starts once the reflex's slot is free again.
    assert _of(runs, Trigger.RESOLVED)[-1].started == T0 + 55
    assert all(r.state for r in runs)  # none is left undecided


def test_reflex_storm_guard_window(tmp_path: Path) -> None:
    """``storm_guard: {max_runs: 2, window: 10m}``: the window opens with the first
    firing run; the third firing run within it is skipped (``storm_guard``, naming the
    reflex); a firing run after the window closed opens a new one and runs. Resolved
    runs are not counted nor stopped."""
    cfg = _cfg(
        tmp_path,
        _reflexes(
            _reflex("r", "A", "max_concurrent: 5\nstorm_guard: {max_runs: 2, window: 10m}", BOTH)
        ),
    )
    starts = [0, 1, 2, 11]
    eps = [_ep(_alert(instance=str(i)), T0 + t * M, T0 + t * M + 30) for i, t in enumerate(starts)]
    runs = simulate(cfg, eps, END)
    firing = _of(runs, Trigger.FIRING)
    assert [(r.state, r.category) for r in firing] == [
        (RAN, ""),
        (RAN, ""),
        (SKIPPED, "storm_guard"),
        (RAN, ""),
    ]
    assert firing[2].reason.startswith("storm guard: 2 firing runs of reflex r within 10m")
    assert [r.state for r in _of(runs, Trigger.RESOLVED)] == [RAN] * 4


def test_global_storm_guard_counts_all_reflexes(tmp_path: Path) -> None:
    """``settings.storm_guard`` counts the firing runs of every reflex in one window:
    two runs of reflex a and then one of reflex b within it, and b is skipped with
    ``storm_guard`` naming all reflexes."""
    cfg = _cfg(
        tmp_path,
        _reflexes(
            _reflex("a", "A", "max_concurrent: 5"),
            _reflex("b", "B"),
            settings="  storm_guard: {max_runs: 2, window: 10m}\n",
        ),
    )
    eps = [
        _ep(_alert("A", instance="1"), T0, None),
        _ep(_alert("A", instance="2"), T0 + M, None),
        _ep(_alert("B"), T0 + 2 * M, None),
        _ep(_alert("B", instance="later"), T0 + 10 * M, None),
    ]
    runs = simulate(cfg, eps, END)
    assert [(r.reflex, r.state, r.category) for r in runs] == [
        ("a", RAN, ""),
        ("a", RAN, ""),
        ("b", SKIPPED, "storm_guard"),
        ("b", RAN, ""),  # the window opened at T0 closed at T0+10m
    ]
    assert runs[2].reason.startswith("storm guard: 2 firing runs of all reflexes within 10m")


# Circuit breaker and failures


def test_breaker_disables_after_max_failures(tmp_path: Path) -> None:
    """``max_failures: 2`` with every run failing: two firing runs fail, the breaker
    opens, and the third firing run is skipped (category ``breaker``, the engine's
    label for a breaker's hold)."""
    cfg = _cfg(tmp_path, _reflexes(_reflex("r", "A", "max_failures: 2")))
    eps = [_ep(_alert(instance=str(i)), T0 + i * 10 * M, None) for i in range(3)]
    runs = simulate(cfg, eps, END, Assumptions(fail_rate=1.0))
    assert [(r.state, r.category) for r in runs] == [
        (FAILED, ""),
        (FAILED, ""),
        (SKIPPED, "breaker"),
    ]
    assert runs[2].reason == (
        "disabled by its circuit breaker: 2 failed runs in a row (max_failures)"
    )
    assert runs[2].started is None


def test_breaker_holds_a_run_queued_before_it_opened(tmp_path: Path) -> None:
    """The breaker is decided when a run ends and held against runs when they start:
    three runs queued at once behind ``max_concurrent: 1`` fail, fail, and the third,
    starting after the second failure ended, is skipped by the breaker."""
    cfg = _cfg(tmp_path, _reflexes(_reflex("r", "A", "max_concurrent: 1\nmax_failures: 2")))
    eps = [_ep(_alert(instance=str(i)), T0, None) for i in range(3)]
    runs = simulate(cfg, eps, END, Assumptions(run_time=10, fail_rate=1.0))
    assert [(r.state, r.category, r.started) for r in runs] == [
        (FAILED, "", T0),
        (FAILED, "", T0 + 10),
        (SKIPPED, "breaker", None),
    ]


def test_runs_started_before_the_breaker_opened_still_run(tmp_path: Path) -> None:
    """Runs that started side by side before any of them failed all run: the breaker
    counts failures as runs end, as the runner does, and stops only later runs."""
    cfg = _cfg(tmp_path, _reflexes(_reflex("r", "A", "max_concurrent: 3\nmax_failures: 2")))
    eps = [_ep(_alert(instance=str(i)), T0, None) for i in range(3)]
    eps.append(_ep(_alert(instance="later"), T0 + M, None))
    runs = simulate(cfg, eps, END, Assumptions(run_time=10, fail_rate=1.0))
    assert [(r.state, r.started) for r in runs] == [
        (FAILED, T0),
        (FAILED, T0),
        (FAILED, T0),
        (SKIPPED, None),
    ]
    assert runs[3].category == "breaker"


def test_breaker_lets_resolved_runs_with_restores_through(tmp_path: Path) -> None:
    """Once the breaker opened, a resolved run of a reflex with reversible steps still
    runs (to put back what was changed), while a reflex without any has its resolved
    run skipped, as a disabled reflex's runs are in the engine."""
    level = (
        "on_firing: [{log_level: {url: 'http://{{ alert.labels.instance }}/actuator/loggers',"
        " level: DEBUG}}]"
    )
    cfg = _cfg(
        tmp_path,
        _reflexes(
            _reflex("level", "L", "max_failures: 1", steps=level),
            _reflex("plain", "P", "max_failures: 1", steps=BOTH),
        ),
    )
    assert cfg.reflexes["level"].undo_steps  # its resolved run is the restore
    eps = [
        _ep(_alert("L", instance="a"), T0, T0 + 5 * M),
        _ep(_alert("P", instance="a"), T0, T0 + 5 * M),
        _ep(_alert("L", instance="b"), T0 + 10 * M, None),
    ]
    runs = simulate(cfg, eps, END, Assumptions(fail_rate=1.0))
    assert [(r.reflex, r.trigger, r.state, r.category) for r in _of(runs, Trigger.RESOLVED)] == [
        ("level", Trigger.RESOLVED, FAILED, ""),  # it ran (and failed: fail_rate 1)
        ("plain", Trigger.RESOLVED, SKIPPED, "breaker"),
    ]
    later = _of(runs, Trigger.FIRING, "level")[-1]
    assert (later.state, later.category) == (SKIPPED, "breaker")


def test_fail_rate_is_seeded(tmp_path: Path) -> None:
    """Failures are drawn from a generator seeded by ``seed``: the same seed gives the
    same outcome run for run; with ``fail_rate`` 0.5 some runs fail and some run."""
    cfg = _cfg(tmp_path, _reflexes(_reflex("r", "A")))
    eps = [_ep(_alert(instance=str(i)), T0 + i * M, None) for i in range(40)]

    def states(seed: int) -> list[str]:
        return [r.state for r in simulate(cfg, eps, END, Assumptions(fail_rate=0.5, seed=seed))]

    assert states(7) == states(7)
    assert {RAN, FAILED} <= set(states(7))
    assert states(7) != states(8)
    assert [r.state for r in simulate(cfg, eps, END, Assumptions(fail_rate=0.0))] == [RAN] * 40


# delay and approval


def test_delay_skips_an_episode_that_resolved_within_it(tmp_path: Path) -> None:
    """``delay: 5m``: an episode resolved after 2 minutes has its firing run skipped
    when due (category ``delay``) and its resolved run skipped because its firing run
    did not act (it was still waiting out its delay: queued); an episode that lasts
    longer runs its firing steps 5 minutes after it fired, and its resolved steps."""
    cfg = _cfg(tmp_path, _reflexes(_reflex("r", "A", "delay: 5m", BOTH)))
    blip = _ep(_alert(instance="blip"), T0, T0 + 2 * M)
    real = _ep(_alert(instance="real"), T0 + 60 * M, T0 + 80 * M)
    runs = simulate(cfg, [blip, real], END)
    fired_blip, fired_real = _of(runs, Trigger.FIRING)
    assert (fired_blip.state, fired_blip.category, fired_blip.due) == (
        SKIPPED,
        "delay",
        T0 + 5 * M,
    )
    assert fired_blip.reason.startswith("delay: the alert resolved")
    resolved_blip, resolved_real = _of(runs, Trigger.RESOLVED)
    assert (resolved_blip.state, resolved_blip.category) == (SKIPPED, "delay")
    assert resolved_blip.reason == "its firing run did not act (queued): nothing to finish"
    assert (fired_real.state, fired_real.started) == (RAN, T0 + 65 * M)
    assert (resolved_real.state, resolved_real.started) == (RAN, T0 + 80 * M)


def test_delay_is_asked_again_when_a_queued_run_starts(tmp_path: Path) -> None:
    """A firing run past its delay that waits for its reflex's slot, and whose alert
    resolves meanwhile, is skipped with ``delay`` when its turn comes (the runner
    asks whether the episode resolved when it starts): it must not act after its
    resolved run already found that it had not."""
    cfg = _cfg(tmp_path, _reflexes(_reflex("r", "A", "delay: 1m\nmax_concurrent: 1", BOTH)))
    long = _ep(_alert(instance="long"), T0, None)
    short = _ep(_alert(instance="short"), T0, T0 + 5 * M)
    runs = simulate(cfg, [long, short], END, Assumptions(run_time=600))
    by_ep = {r.episode.labels["instance"]: r for r in _of(runs, Trigger.FIRING)}
    assert (by_ep["long"].state, by_ep["long"].started) == (RAN, T0 + M)
    assert (by_ep["short"].state, by_ep["short"].category) == (SKIPPED, "delay")
    (resolved,) = _of(runs, Trigger.RESOLVED)
    assert (resolved.state, resolved.category) == (SKIPPED, "delay")


def test_approval_required_waits_unless_approvals_are_assumed(tmp_path: Path) -> None:
    """``approval: required``: with no approval assumed the firing run waits
    (``awaiting_approval``) and the resolved run is skipped (nothing to finish); with
    ``Assumptions(approve=True)`` both run."""
    cfg = _cfg(tmp_path, _reflexes(_reflex("r", "A", "approval: required", BOTH)))
    eps = [_ep(_alert(), T0, T0 + 5 * M)]
    waiting = simulate(cfg, eps, END)
    assert [(r.trigger, r.state, r.category) for r in waiting] == [
        (Trigger.FIRING, AWAITING, ""),
        (Trigger.RESOLVED, SKIPPED, "delay"),
    ]
    assert waiting[0].started is None
    assert waiting[1].reason == (
        "its firing run did not act (awaiting_approval): nothing to finish"
    )
    approved = simulate(cfg, eps, END, Assumptions(approve=True))
    assert [(r.trigger, r.state, r.started) for r in approved] == [
        (Trigger.FIRING, RAN, T0),
        (Trigger.RESOLVED, RAN, T0 + 5 * M),
    ]


def test_dry_run_skips_every_run(tmp_path: Path) -> None:
    """``dry_run: true``: firing and resolved runs are skipped with category
    ``dry_run`` and the engine's reason; nothing starts."""
    cfg = _cfg(tmp_path, _reflexes(_reflex("r", "A", "dry_run: true", BOTH)))
    runs = simulate(cfg, [_ep(_alert(), T0, T0 + 5 * M)], END)
    assert [(r.trigger, r.state, r.category, r.reason, r.started) for r in runs] == [
        (Trigger.FIRING, SKIPPED, "dry_run", DRY_RUN, None),
        (Trigger.RESOLVED, SKIPPED, "dry_run", DRY_RUN, None),
    ]


# The replay's range


def test_an_episode_begun_before_the_range_only_resolves(tmp_path: Path) -> None:
    """An episode already firing when the range began had its firing run before it:
    no firing run, but its resolution within the range makes a resolved run."""
    cfg = _cfg(tmp_path, _reflexes(_reflex("r", "A", steps=BOTH)))
    ep = _ep(_alert(), T0 - 3600, T0 + 5 * M, begun_before=True)
    runs = simulate(cfg, [ep], END)
    assert [(r.trigger, r.state, r.started) for r in runs] == [(Trigger.RESOLVED, RAN, T0 + 5 * M)]


def test_an_episode_still_firing_at_the_end_makes_no_resolved_run(tmp_path: Path) -> None:
    """An episode still firing (``end`` None), or resolving only after the replay's
    end, makes its firing run and no resolved run."""
    cfg = _cfg(tmp_path, _reflexes(_reflex("r", "A", steps=BOTH)))
    ongoing = _ep(_alert(instance="a"), T0, None)
    after = _ep(_alert(instance="b"), T0, END + 60)
    runs = simulate(cfg, [ongoing, after], END)
    assert [(r.trigger, r.state) for r in runs] == [(Trigger.FIRING, RAN)] * 2


# resolve_delay flaps


def test_resolve_delay_flap_is_one_episode(tmp_path: Path) -> None:
    """``resolve_delay: 5m``: the alert resolves, fires again 1 minute later (a new
    episode of the same fingerprint), and resolves for good later. The waiting resolved
    run is skipped as a flap when the alert fires again, the second firing run is
    skipped as a flap too, and the final resolution runs the resolved steps once, 5
    minutes after it."""
    cfg = _cfg(tmp_path, _reflexes(_reflex("r", "A", "resolve_delay: 5m", BOTH)))
    first = _ep(_alert(), T0, T0 + 10 * M)
    again = _ep(_alert(), T0 + 11 * M, T0 + 30 * M)
    runs = simulate(cfg, [first, again], END)
    assert [(r.trigger, r.episode, r.state, r.category) for r in runs] == [
        (Trigger.FIRING, first, RAN, ""),
        (Trigger.RESOLVED, first, SKIPPED, "flap"),
        (Trigger.FIRING, again, SKIPPED, "flap"),
        (Trigger.RESOLVED, again, RAN, ""),
    ]
    flapped = runs[1]
    assert flapped.due == T0 + 11 * M  # decided when the alert fired again
    assert flapped.reason == "flap: fired again within resolve_delay"
    assert runs[2].reason.startswith("flap: continues an episode")
    assert runs[3].started == T0 + 35 * M


def test_resolve_delay_without_a_flap(tmp_path: Path) -> None:
    """A new episode after the resolve_delay is over is no flap: the first episode's
    resolved run ran after the delay, and the new one runs its firing steps."""
    cfg = _cfg(tmp_path, _reflexes(_reflex("r", "A", "resolve_delay: 5m", BOTH)))
    first = _ep(_alert(), T0, T0 + 10 * M)
    later = _ep(_alert(), T0 + 20 * M, None)
    runs = simulate(cfg, [first, later], END)
    assert [(r.trigger, r.episode, r.state, r.started) for r in runs] == [
        (Trigger.FIRING, first, RAN, T0),
        (Trigger.RESOLVED, first, RAN, T0 + 15 * M),
        (Trigger.FIRING, later, RAN, T0 + 20 * M),
    ]


# counts


def test_counts_by_reflex_state_and_skip_category(tmp_path: Path) -> None:
    """``counts`` gives per reflex the runs by state and the skipped ones by category
    too (``skipped:<category>``); a reflex with no run is absent."""
    cfg = _cfg(
        tmp_path,
        _reflexes(
            _reflex("r", "A", "cooldown: 1h", BOTH),
            _reflex("dry", "D", "dry_run: true"),
            _reflex("never", "N"),
        ),
    )
    eps = [
        _ep(_alert(instance="1"), T0, T0 + M),
        _ep(_alert(instance="2"), T0 + 2 * M, None),
        _ep(_alert("D"), T0, None),
    ]
    got = counts(simulate(cfg, eps, END))
    assert {name: dict(c) for name, c in got.items()} == {
        "r": {RAN: 2, SKIPPED: 1, "skipped:cooldown": 1},
        "dry": {SKIPPED: 1, "skipped:dry_run": 1},
    }


@pytest.mark.parametrize("assumptions", [None, Assumptions()])
def test_default_assumptions(tmp_path: Path, assumptions: Assumptions | None) -> None:
    """Without assumptions (or the defaults) runs last 10s and all succeed."""
    cfg = _cfg(tmp_path, _reflexes(_reflex("r", "A", "max_concurrent: 1")))
    eps = [_ep(_alert(instance=str(i)), T0, None) for i in range(2)]
    runs = simulate(cfg, eps, END, assumptions)
    assert [(r.state, r.started) for r in runs] == [(RAN, T0), (RAN, T0 + 10)]


def test_a_run_not_decided_when_the_range_ends_is_pending(tmp_path: Path) -> None:
    """A firing run still waiting out its delay when the range ends is neither run nor
    skipped: it is reported pending, so that no run goes uncounted."""
    cfg = _cfg(tmp_path, _reflexes(_reflex("r", "A", "delay: 10m")))
    runs = simulate(cfg, [_ep(_alert(), END - 5 * M, None)], END)
    assert [(r.state, r.reason) for r in runs] == [(PENDING, "still waiting when the range ended")]
    assert counts(runs)["r"] == {PENDING: 1}


def test_the_resolution_of_an_episode_begun_before_the_range_runs_after_a_delay(
    tmp_path: Path,
) -> None:
    """With ``delay``, a resolved run finishes what its firing run did; for an episode
    that began before the range the firing run happened then, and is taken to have
    acted: its resolved steps run rather than being skipped for a firing run unseen."""
    cfg = _cfg(tmp_path, _reflexes(_reflex("r", "A", "delay: 2m", BOTH)))
    runs = simulate(cfg, [_ep(_alert(), T0, T0 + 30 * M, begun_before=True)], END)
    assert [(r.trigger, r.state) for r in runs] == [(Trigger.RESOLVED, RAN)]
