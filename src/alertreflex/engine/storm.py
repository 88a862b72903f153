"""Storm guards: at most ``max_runs`` firing runs per ``window``, per reflex
(``storm_guard`` on the reflex) and for all reflexes together (``settings.storm_guard``).

Fixed windows: a window opens with the first firing run after the last one closed;
once it holds ``max_runs`` runs, further firing runs are skipped until it closes.
So an alert storm costs at most ``max_runs`` actions per window, and the window's
end is a time the skip reason can name. The embedded store keeps them in memory (a
restart opens new windows); on a shared store the windows live in the database,
counted in the transaction that starts a run, and this mirrors them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from alertreflex.config.loader import Reflex
from alertreflex.config.schema import Settings, StormGuard
from alertreflex.core.durations import format_duration
from alertreflex.engine.metrics import Metrics

log = structlog.get_logger("alertreflex.storm")

ALL = "global"  # the scope label of the guard over all reflexes


@dataclass
class _Window:
    opened: float
    runs: int = 0


class StormGuards:
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._windows: dict[str, _Window] = {}

    def check(self, reflex: Reflex, settings: Settings, now: float) -> str | None:
        """Why a firing run of ``reflex`` may not start now, or None."""
        for scope, guard in ((reflex.name, reflex.storm_guard), (ALL, settings.storm_guard)):
            if guard is None:
                continue
            window = self._current(scope, guard, now)
            if window.runs >= guard.max_runs:
                return self.why(scope, window.runs, window.opened, guard)
        return None

    @staticmethod
    def why(scope: str, runs: int, opened: float, guard: StormGuard) -> str:
        """The skip reason of a firing run that ``scope``'s guard stops."""
        until = datetime.fromtimestamp(opened + guard.window, UTC)
        what = f"reflex {scope}" if scope != ALL else "all reflexes"
        return (
            f"storm guard: {runs} firing runs of {what} within "
            f"{format_duration(guard.window)}, stopped until "
            f"{until.strftime('%Y-%m-%d %H:%M:%S')} UTC"
        )

    def record(self, reflex: Reflex, settings: Settings, now: float) -> list[tuple[str, _Window]]:
        """A firing run of ``reflex`` started: the windows it counted in, for
        ``unrecord`` if the start does not happen after all."""
        counted = []
        for scope, guard in ((reflex.name, reflex.storm_guard), (ALL, settings.storm_guard)):
            if guard is None:
                continue
            window = self._current(scope, guard, now)
            window.runs += 1
            counted.append((scope, window))
            if window.runs == guard.max_runs:
                self._metrics.storm.labels(scope).set(1)
                log.warning(
                    "storm_guard_tripped",
                    scope=scope,
                    max_runs=guard.max_runs,
                    window=format_duration(guard.window),
                )
        return counted

    def unrecord(self, counted: list[tuple[str, _Window]]) -> None:
        """Take back what ``record`` counted, in windows that are still open."""
        for scope, window in counted:
            if self._windows.get(scope) is window and window.runs > 0:
                window.runs -= 1

    def tripped(
        self, reflexes: dict[str, Reflex], settings: Settings, now: float
    ) -> list[tuple[str, float]]:
        """The guards stopping firing runs now: (scope, when their window closes)."""
        out = []
        for scope, window in self._windows.items():
            reflex = reflexes.get(scope)
            if scope == ALL:
                guard = settings.storm_guard
            else:
                guard = reflex.storm_guard if reflex is not None else None
            if guard is None:
                continue
            until = window.opened + guard.window
            if window.runs >= guard.max_runs and now < until:
                out.append((scope, until))
        return sorted(out)

    def refresh(self, reflexes: dict[str, Reflex], settings: Settings, now: float) -> None:
        """Set every scope's gauge from its window: one that closed reads 0 even when
        no firing run has come since (it would keep an alert on it firing)."""
        stopping = {scope for scope, _ in self.tripped(reflexes, settings, now)}
        for scope in self._windows:
            self._metrics.storm.labels(scope).set(1 if scope in stopping else 0)

    def adopt(
        self, scope: str, opened: float, runs: int, guard: StormGuard | None, now: float
    ) -> None:
        """Take a window as a shared store holds it (other replicas count into it)."""
        if guard is None:
            return
        before = self._windows.get(scope)
        was = before is not None and before.runs >= guard.max_runs
        self._windows[scope] = _Window(opened=opened, runs=runs)
        tripped = runs >= guard.max_runs and now < opened + guard.window
        self._metrics.storm.labels(scope).set(1 if tripped else 0)
        if tripped and not was:
            log.warning(
                "storm_guard_tripped",
                scope=scope,
                max_runs=guard.max_runs,
                window=format_duration(guard.window),
            )

    def _current(self, scope: str, guard: StormGuard, now: float) -> _Window:
        window = self._windows.get(scope)
        if window is None or now >= window.opened + guard.window:
            if window is not None and window.runs >= guard.max_runs:
                log.info("storm_guard_reset", scope=scope)
            window = self._windows[scope] = _Window(opened=now)
            self._metrics.storm.labels(scope).set(0)
        return window
