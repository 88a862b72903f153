"""Feed episodes through a config's reflexes on a simulated clock.

The same decisions the engine makes, in the same places, with the engine's own
policy code where it is pure (matching and ownership through the config's index,
time intervals, cooldown and storm guards through ``firing_refusal`` and
``StormGuards``), and a simulated worker pool:

- a firing episode makes a firing run for every reflex that matches it and has
  firing steps; with ``resolve_delay`` it is a flap (skipped) when another episode of
  the same alert resolved within the delay, and it cancels that episode's waiting
  resolved run;
- a run is decided when it is due (after ``delay`` or ``resolve_delay``): a reflex
  disabled by its circuit breaker, ``dry_run``, a firing episode that resolved within
  its ``delay``, a resolved run whose firing run never acted (with ``delay`` or
  ``approval``), and, for firing runs, time intervals, cooldown and storm guards;
- ``approval: required`` parks the run (``awaiting_approval``) unless approvals are
  assumed given at once;
- runs start within ``max_concurrent`` and ``max_concurrent_runs``, in the order they
  became due, and last ``run_time``; firing runs are asked the firing policies (and
  ``delay``) again when they start, and every run the breaker, as the runner does (a
  run of the same reflex that started first sets the cooldown);
- each run that acts succeeds, or fails with probability ``fail_rate`` (seeded:
  the same replay gives the same answer); ``max_failures`` failures in a row, counted
  as runs end, disable the reflex for the rest of the replay, as the breaker would
  until an operator enables it again.

What it cannot know: the outcome of real actions, silences and inhibitions in
Alertmanager, operators' pauses and approvals, and Alertmanager's grouping delays
(a notification is assumed at the moment the episode fired or resolved).
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alertreflex.config.loader import Config, Reflex
from alertreflex.core.models import Trigger
from alertreflex.engine.metrics import Metrics
from alertreflex.engine.runner import DRY_RUN, firing_refusal
from alertreflex.engine.storm import StormGuards
from alertreflex.replay.history import Episode

RAN, FAILED, SKIPPED, AWAITING = "ran", "failed", "skipped", "awaiting_approval"
PENDING = "pending"  # not decided when the range ended (a delay or a worker still awaited)


@dataclass
class Assumptions:
    run_time: float = 10.0  # how long each run that acts lasts
    fail_rate: float = 0.0  # the share of runs that fail
    seed: int = 0
    approve: bool = False  # approvals given at once (else runs wait, and are counted)


@dataclass
class SimRun:
    reflex: str
    team: str
    trigger: Trigger
    episode: Episode
    due: float  # when it was decided (after its delay)
    state: str = ""
    category: str = ""  # why it was skipped (the engine's skip reasons)
    reason: str = ""
    started: float | None = None

    @property
    def acted(self) -> bool:
        return self.state in (RAN, FAILED)


# Events are (time, sequence, kind, episode or run): tuples, since comparing dataclass
# instances in the heap cost a fifth of the simulation (bench/replay.py).
_Event = tuple[float, int, str, Any]


class Simulation:
    def __init__(self, cfg: Config, assumptions: Assumptions | None = None) -> None:
        self.cfg = cfg
        self.a = assumptions or Assumptions()
        self.runs: list[SimRun] = []
        self._events: list[_Event] = []
        self._seq = itertools.count()
        self._rng = random.Random(self.a.seed)
        self._storms = StormGuards(Metrics())
        self._last_firing_start: dict[str, float] = {}
        self._resolved_seen: dict[str, list[tuple[float, float]]] = defaultdict(list)
        self._waiting_resolved: dict[tuple[str, str], SimRun] = {}
        self._firing: dict[tuple[str, str, float], SimRun] = {}
        self._ready: list[tuple[float, int, SimRun]] = []
        self._blocked: dict[str, deque[SimRun]] = defaultdict(deque)
        self._running: dict[str, int] = defaultdict(int)
        self._running_total = 0
        self._failures: dict[str, int] = defaultdict(int)
        self._disabled: dict[str, str] = {}

    def run(self, episodes: list[Episode], end: float) -> list[SimRun]:
        """Every run the episodes make until ``end``, in the order they became due."""
        for ep in episodes:
            if not ep.begun_before:
                self._push(ep.start, "fire", ep)
            if ep.end is not None and ep.end <= end:
                self._push(ep.end, "resolve", ep)
        while self._events:
            at, _, kind, what = heapq.heappop(self._events)
            if at > end:
                break
            if kind == "fire":
                self._fire(what, at)
            elif kind == "resolve":
                self._resolve(what, at)
            elif kind == "due":
                self._due(what, at)
            else:  # a run ended: its slot goes to the next
                self._running[what.reflex] -= 1
                self._running_total -= 1
                self._breaker(what)
                self._unblock(what.reflex)
            self._pump(at)
        for r in self.runs:
            if not r.state:
                r.state, r.reason = PENDING, "still waiting when the range ended"
        self.runs.sort(key=lambda r: (r.due, r.reflex))
        return self.runs

    def _push(self, at: float, kind: str, what: Episode | SimRun) -> None:
        heapq.heappush(self._events, (at, next(self._seq), kind, what))

    def _fire(self, ep: Episode, now: float) -> None:
        for reflex in self.cfg.index.match(ep.labels):
            if not reflex.on_firing:
                continue
            run = SimRun(reflex.name, reflex.team, Trigger.FIRING, ep, now + reflex.delay)
            self.runs.append(run)
            self._firing[(reflex.name, ep.fingerprint, ep.start)] = run
            if reflex.resolve_delay > 0:
                waiting = self._waiting_resolved.pop((reflex.name, ep.fingerprint), None)
                if waiting is not None and not waiting.state:
                    waiting.due = now  # decided now, not when due
                    _skip(waiting, "flap", "flap: fired again within resolve_delay")
                since = now - reflex.resolve_delay
                if any(s != ep.start and r > since for s, r in self._resolved_seen[ep.fingerprint]):
                    _skip(
                        run,
                        "flap",
                        "flap: continues an episode of this alert that resolved within"
                        " resolve_delay",
                    )
                    continue
            self._push(run.due, "due", run)

    def _resolve(self, ep: Episode, now: float) -> None:
        self._resolved_seen[ep.fingerprint].append((ep.start, now))
        for reflex in self.cfg.index.match(ep.labels):
            if not reflex.steps(Trigger.RESOLVED):
                continue
            run = SimRun(reflex.name, reflex.team, Trigger.RESOLVED, ep, now + reflex.resolve_delay)
            self.runs.append(run)
            if reflex.resolve_delay > 0:
                self._waiting_resolved[(reflex.name, ep.fingerprint)] = run
            self._push(run.due, "due", run)

    def _due(self, run: SimRun, now: float) -> None:
        if run.state:  # skipped meanwhile (a flap)
            return
        reflex = self.cfg.reflexes[run.reflex]
        ep = run.episode
        if run.trigger is Trigger.RESOLVED:
            self._waiting_resolved.pop((reflex.name, ep.fingerprint), None)
        if self._held(run, reflex):
            return
        if reflex.dry_run:
            _skip(run, "dry_run", DRY_RUN)
            return
        if run.trigger is Trigger.FIRING:
            if reflex.delay > 0 and ep.end is not None and ep.end <= now:
                _skip(run, "delay", "delay: the alert resolved before the delay was over")
                return
            refused = self._refusal(reflex, now)
            if refused is not None:
                _skip(run, *refused)
                return
            if reflex.approval_required and not self.a.approve:
                run.state = AWAITING
                run.reason = "awaiting approval (replay assumes none is given)"
                return
        elif (reflex.delay > 0 or reflex.approval_required) and not ep.begun_before:
            # (An episode that began before the range had its firing run then: assumed
            # to have acted.)
            fired = self._firing.get((reflex.name, ep.fingerprint, ep.start))
            if fired is None or not fired.acted:
                # A firing run not decided yet is queued (the runner's word), not "".
                state = (fired.state or "queued") if fired else "none"
                _skip(run, "delay", f"its firing run did not act ({state}): nothing to finish")
                return
        self._line_up(run)

    def _refusal(self, reflex: Reflex, now: float) -> tuple[str, str] | None:
        return firing_refusal(reflex, self.cfg.settings, now, self._last_firing_start, self._storms)

    def _line_up(self, run: SimRun) -> None:
        heapq.heappush(self._ready, (run.due, next(self._seq), run))

    def _pump(self, now: float) -> None:
        limit = self.cfg.settings.max_concurrent_runs
        while self._ready and self._running_total < limit:
            _, _, run = heapq.heappop(self._ready)
            reflex = self.cfg.reflexes[run.reflex]
            if self._running[run.reflex] >= reflex.max_concurrent:
                self._blocked[run.reflex].append(run)
                continue
            self._start(run, reflex, now)

    def _held(self, run: SimRun, reflex: Reflex) -> bool:
        """Skip ``run`` if its reflex's breaker holds it (a resolved run with restores
        to do still runs), as the runner does."""
        disabled = self._disabled.get(reflex.name)
        if disabled is not None and (run.trigger is Trigger.FIRING or not reflex.undo_steps):
            # The engine's category for a breaker's hold (controls.category): "disabled"
            # is an operator's.
            _skip(run, "breaker", disabled)
            return True
        return False

    def _unblock(self, name: str) -> None:
        """A slot of reflex ``name`` is free: its next blocked run lines up again."""
        blocked = self._blocked.get(name)
        if blocked:
            self._line_up(blocked.popleft())

    def _start(self, run: SimRun, reflex: Reflex, now: float) -> None:
        # The runner decides a run's policies when it starts, not when it became due: a
        # breaker that opened meanwhile holds it, and a firing run asks its policies
        # (and whether its alert resolved within its delay) again. A run skipped here
        # hands the reflex's slot on, as the dispatcher does when its task ends, or the
        # runs blocked behind it would never start.
        skipped = self._held(run, reflex)
        if not skipped and run.trigger is Trigger.FIRING:
            refused = self._refusal(reflex, now)  # asked again at start, as the runner does
            if refused is not None:
                _skip(run, *refused)
                skipped = True
            elif reflex.delay > 0 and run.episode.end is not None and run.episode.end <= now:
                _skip(run, "delay", "delay: the alert resolved before the run started")
                skipped = True
        if skipped:
            self._unblock(reflex.name)
            return
        if run.trigger is Trigger.FIRING:
            self._last_firing_start[reflex.name] = now
            self._storms.record(reflex, self.cfg.settings, now)
        run.started = now
        self._running[reflex.name] += 1
        self._running_total += 1
        self._push(now + self.a.run_time, "end", run)
        failed = self.a.fail_rate > 0 and self._rng.random() < self.a.fail_rate
        run.state = FAILED if failed else RAN

    def _breaker(self, run: SimRun) -> None:
        """Count a run that ended; ``max_failures`` failures in a row disable its reflex.
        Counted when the run ends, as the runner does, not when it starts: runs that
        started meanwhile still run."""
        name = run.reflex
        if run.state != FAILED:
            self._failures[name] = 0
            return
        self._failures[name] += 1
        limit = self.cfg.reflexes[name].max_failures
        if limit and self._failures[name] >= limit and name not in self._disabled:
            self._disabled[name] = (
                f"disabled by its circuit breaker: {limit} failed runs in a row (max_failures)"
            )


def _skip(run: SimRun, category: str, reason: str) -> None:
    run.state, run.category, run.reason = SKIPPED, category, reason


def simulate(
    cfg: Config, episodes: list[Episode], end: float, assumptions: Assumptions | None = None
) -> list[SimRun]:
    """Every run ``episodes`` would have made with ``cfg`` (see the module)."""
    return Simulation(cfg, assumptions).run(episodes, end)


def counts(runs: list[SimRun]) -> Mapping[str, Mapping[str, int]]:
    """Per reflex: runs by state, and skipped ones by category (``skipped:cooldown``)."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in runs:
        out[r.reflex][r.state] += 1
        if r.state == SKIPPED:
            out[r.reflex][f"skipped:{r.category}"] += 1
    return out
