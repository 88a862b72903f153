"""The brakes: a global pause and per-reflex disables, kept in the store (a restart
keeps them) and mirrored in memory for the runner, which checks them for every run.

Every change is audited with who did it and why, in the same transaction.
"""

from __future__ import annotations

import time

import structlog

from alertreflex.engine.metrics import Metrics
from alertreflex.store.base import GLOBAL, AuditEntry, Control, Store

log = structlog.get_logger("alertreflex.controls")

PAUSE = "pause"  # an operator's
BREAKER = "breaker"  # a reflex's circuit breaker


def why(control: Control) -> str:
    """The skip reason a run gets while ``control`` holds it."""
    if control.scope == GLOBAL:
        return f"paused by {control.by}: {control.reason}"
    if control.kind == BREAKER:
        return f"disabled by its circuit breaker: {control.reason}"
    return f"reflex disabled by {control.by}: {control.reason}"


def category(control: Control) -> str:
    """The ``reason`` label of ``alertreflex_runs_skipped_total``."""
    if control.scope == GLOBAL:
        return "paused"
    return "breaker" if control.kind == BREAKER else "disabled"


class Controls:
    def __init__(self, store: Store, metrics: Metrics) -> None:
        self._store = store
        self._metrics = metrics
        self._held: dict[str, Control] = {}

    async def load(self) -> None:
        self._held = {c.scope: c for c in await self._store.controls()}
        self._publish()

    def holding(self, reflex: str) -> Control | None:
        """What stops ``reflex`` now: the global pause first, then its own disable."""
        return self._held.get(GLOBAL) or self._held.get(reflex)

    def all(self) -> list[Control]:
        return sorted(self._held.values(), key=lambda c: c.scope)

    async def hold(self, scope: str, who: str, reason: str, kind: str = PAUSE) -> Control:
        """Pause everything (``scope`` GLOBAL) or disable one reflex."""
        now = time.time()
        control = Control(scope=scope, kind=kind, reason=reason, by=who, since=now)
        action = "pause" if scope == GLOBAL else ("breaker_open" if kind == BREAKER else "disable")
        await self._store.set_control(
            scope, control, AuditEntry(now, who, action, scope or "global", reason)
        )
        self._held[scope] = control
        self._publish()
        log.warning(action, scope=scope or "global", by=who, reason=reason)
        return control

    async def release(self, scope: str, who: str, reason: str) -> Control | None:
        """Resume everything or re-enable one reflex; returns what was in force."""
        now = time.time()
        action = "resume" if scope == GLOBAL else "enable"
        before = await self._store.set_control(
            scope, None, AuditEntry(now, who, action, scope or "global", reason)
        )
        self._held.pop(scope, None)
        self._publish()
        log.warning(action, scope=scope or "global", by=who, reason=reason)
        return before

    def _publish(self) -> None:
        self._metrics.paused.set(1 if GLOBAL in self._held else 0)
        self._metrics.disabled.clear()
        for c in self._held.values():
            if c.scope != GLOBAL:
                self._metrics.disabled.labels(c.scope, c.kind).set(1)
