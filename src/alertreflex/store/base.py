"""The store interface: where notifications, episodes and runs live.

The engine only talks to :class:`Store`. SQLite is the embedded default; a
PostgreSQL backend for several replicas implements the same interface.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from alertreflex.core.models import RunState, Trigger


class StoreError(RuntimeError):
    """The store could not do what was asked (disk full, locked, unreachable)."""


class QueueFullError(StoreError):
    """Accepting this notification would grow the run queue past its bound."""


@dataclass(slots=True)
class AlertRecord:
    fingerprint: str
    starts_at: str
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    ends_at: str | None
    generator_url: str


@dataclass
class NewRun:
    """A run the webhook wants to create; the store decides whether it is new."""

    id: str
    reflex: str
    team: str
    fingerprint: str
    starts_at: str
    trigger: Trigger
    not_before: float
    context: dict[str, Any]
    # The reflex's resolve_delay, for firing runs: an episode of the same fingerprint
    # that resolved less than this long ago means this firing continues it (a flap).
    flap_window: float = 0.0
    state: RunState = RunState.QUEUED
    reason: str = ""
    # A policy the engine decided before the write (paused, dry_run, cooldown, ...):
    # ``skip`` is its category (the reason label of alertreflex_runs_skipped_total),
    # ``skip_reason`` the run's reason; "" queues the run. The store sets state and
    # reason from them (``initial``), again if it redoes the batch; a flap may still
    # skip a run decided queued. ``steps``: what a dry run would have done, rendered.
    skip: str = ""
    skip_reason: str = ""
    steps: list[dict[str, Any]] = field(default_factory=list)
    # The engine holds a worker slot for this run and has decided its policies: a
    # store that can claims it in the same transaction (state running, attempt 1)
    # if it is still queued after the flap check. One that does not leaves it queued.
    start: bool = False

    def initial(self) -> None:
        """Set ``state`` and ``reason`` as the engine decided, before the store looks."""
        if self.skip:
            self.state, self.reason = RunState.SKIPPED, self.skip_reason
        else:
            self.state, self.reason = RunState.QUEUED, ""

    @property
    def skipped_as(self) -> str:
        """Why it was stored skipped (a category: ``paused``, ``flap``, ...), or ""."""
        if self.state is not RunState.SKIPPED:
            return ""
        return self.skip or "flap"  # the store skips only flaps itself


@dataclass
class Ingest:
    notification_id: str
    received_at: float
    receiver: str
    status: str
    group_key: str
    body: bytes
    alerts: list[AlertRecord]
    runs: list[NewRun]
    capacity: int  # how many new queued runs the queue may still take
    digest: str = ""  # of the body: identical repeats are counted on this row
    # (alert, reflex) pairs that matched, with or without steps for the alert's
    # status: the webhook's answer says why no run was wanted. The store ignores it.
    matched: int = 0


@dataclass
class IngestResult:
    created: list[NewRun] = field(default_factory=list)  # queued and skipped, as stored
    changed_alerts: int = 0
    cancelled_resolved: list[str] = field(default_factory=list)  # ids of flap-skipped runs
    # When runs were wanted and none was new: the id of one that was there before
    # (its episode already had its runs), for the answer to point to.
    existing: str = ""

    @property
    def duplicate(self) -> bool:
        return not self.created and self.changed_alerts == 0


@dataclass
class RunRecord:
    id: str
    reflex: str
    team: str
    fingerprint: str
    starts_at: str
    trigger: Trigger
    state: RunState
    reason: str
    created_at: float
    not_before: float
    started_at: float | None
    finished_at: float | None
    attempts: int
    notification_id: str
    context: dict[str, Any]
    steps: list[dict[str, Any]]
    expires_at: float | None = None  # awaiting_approval: when it expires
    approved_by: str | None = None
    manual_by: str | None = None  # a manual re-run: who asked for it
    rerun_of: str | None = None
    pruned_at: float | None = None  # retention removed its context, steps and artifacts

    @property
    def checked(self) -> bool:
        """An operator let it run (approved, or re-ran it): policies are not asked again."""
        return self.approved_by is not None or self.manual_by is not None

    def to_json(self, full: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "reflex": self.reflex,
            "team": self.team,
            "fingerprint": self.fingerprint,
            "starts_at": self.starts_at,
            "trigger": str(self.trigger),
            "state": str(self.state),
            "reason": self.reason,
            "created_at": self.created_at,
            "not_before": self.not_before,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "attempts": self.attempts,
            "notification_id": self.notification_id,
            "expires_at": self.expires_at,
            "approved_by": self.approved_by,
            "manual_by": self.manual_by,
            "rerun_of": self.rerun_of,
            "pruned_at": self.pruned_at,
        }
        if full:
            out["alert"] = self.context.get("alert")
            out["notification"] = self.context.get("notification")
            out["steps"] = self.steps
        return out


@dataclass
class Artifact:
    """A file a step produced (a thread dump), stored with its run."""

    run_id: str
    name: str
    content_type: str
    size: int  # bytes kept
    original_size: int  # bytes produced; more than size when the cap cut it
    created_at: float
    data: bytes = b""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "content_type": self.content_type,
            "size": self.size,
            "truncated": self.original_size > self.size,
            "created_at": self.created_at,
        }


@dataclass
class Undo:
    """What a reversible step changed for one alert (reflex, fingerprint, step), to
    be put back when the alert resolves, after its ``max_duration``, or at shutdown."""

    reflex: str
    fingerprint: str
    step: int
    action: str
    starts_at: str  # the episode whose firing run made the change
    run_id: str
    memo: dict[str, Any]
    created_at: float
    undone_by: str | None = None
    undone_at: float | None = None


GLOBAL = ""  # the scope of a control that holds every reflex


@dataclass
class Guard:
    """A storm guard's limit: at most ``max_runs`` firing runs per ``window`` seconds
    in ``scope`` (a reflex name, or GLOBAL for all reflexes together)."""

    scope: str
    max_runs: int
    window: float


@dataclass
class Gate:
    """What a firing run's start must pass on a shared store, checked and recorded
    in the transaction that claims it, so that two replicas never both decide alone."""

    reflex: str
    cooldown: float
    guards: list[Guard]
    enforce: bool = True  # False: an operator approved or re-ran it: only record it


@dataclass
class GateRow:
    """A scope's shared state: the last firing start (cooldown) and the storm
    guard's fixed window (opened at, runs in it)."""

    scope: str
    last_start: float | None
    window_opened: float | None
    window_runs: int


@dataclass
class Claim:
    attempt: int | None  # None: someone else claimed or finished it
    refused: str = ""  # "cooldown" or "storm_guard": the run did not start
    scope: str = ""  # the scope that refused it
    rows: list[GateRow] = field(default_factory=list)  # the gate's state after this


@dataclass
class Control:
    """A brake in force: ``scope`` is GLOBAL or a reflex name; ``kind`` says who put
    it there: ``pause`` (an operator) or ``breaker`` (consecutive failures)."""

    scope: str
    kind: str
    reason: str
    by: str
    since: float

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Control:
        """The inverse of to_json (``alertreflex test --explain --url`` reads them)."""
        scope = doc["scope"]
        return cls(
            scope=GLOBAL if scope == "global" else scope,
            kind=doc["kind"],
            reason=doc["reason"],
            by=doc["by"],
            since=doc["since"],
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "scope": self.scope or "global",
            "kind": self.kind,
            "reason": self.reason,
            "by": self.by,
            "since": self.since,
        }


@dataclass
class AuditEntry:
    """Who did what, when and why: pause, resume, approve, reject, rerun, breaker."""

    at: float
    who: str
    action: str
    target: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)
    id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "who": self.who,
            "action": self.action,
            "target": self.target,
            "reason": self.reason,
            "details": self.details,
        }


@dataclass
class Pruned:
    """What one pruning batch removed: the history of ``runs`` (their context,
    steps and artifacts; the rows stay), ``notifications``, and ``episodes``
    forgotten with the rows of their runs."""

    runs: int = 0
    notifications: int = 0
    episodes: int = 0

    @property
    def total(self) -> int:
        return self.runs + self.notifications + self.episodes


class Store(ABC):
    kind = ""  # "sqlite" or "postgresql", for metrics and messages
    # Shared by several replicas: each must poll it for the others' changes.
    shared = False

    @abstractmethod
    async def open(self) -> None:
        """Create or check the schema; must be called before anything else."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def ingest(self, batch: Ingest) -> IngestResult:
        """Store a notification, its episodes and new runs in one durable transaction.

        Raises QueueFullError (and stores nothing) if the new queued runs exceed
        ``batch.capacity``.
        """

    @abstractmethod
    async def recover(self) -> list[RunRecord]:
        """At start: mark runs left ``running`` as interrupted; return all unfinished runs."""

    async def claim_gated(
        self, run_id: str, now: float, steps: list[dict[str, Any]], gate: Gate
    ) -> Claim:
        """``claim`` a firing run if ``gate`` lets it start. A store of one process
        leaves the gate to the runner's memory (nobody else decides)."""
        return Claim(await self.claim(run_id, now, steps))

    async def gates(self) -> list[GateRow]:
        """The shared gate states, for replicas to mirror; none without sharing."""
        return []

    async def signal(self, name: str, value: str) -> None:  # noqa: B027
        """Tell the other replicas of a shared store something (``reload``)."""

    async def signals(self) -> dict[str, str]:
        """The latest value of every signal; none without sharing."""
        return {}

    def renew_leases_of(self, held: Callable[[], list[str]]) -> None:  # noqa: B027
        """On a shared store: ``held`` lists the runs this process holds, whose
        leases it keeps renewing. A store of one process has no leases."""

    async def take_over(self, now: float, limit: int = 1000) -> list[RunRecord]:
        """Up to ``limit`` unfinished runs left by replicas that stopped, now this
        one's to run. A store of one process has none (``recover`` takes them)."""
        return []

    async def release(self) -> int:
        """At a clean stop, give up this process's waiting runs to the others."""
        return 0

    @abstractmethod
    async def claim(self, run_id: str, now: float, steps: list[dict[str, Any]]) -> int | None:
        """Mark a queued or interrupted run running; return its attempt number, or None
        if it is no longer claimable (finished, or skipped as a flap meanwhile)."""

    @abstractmethod
    async def save_steps(self, run_id: str, steps: list[dict[str, Any]]) -> None:
        """Durably record step progress of a running run."""

    @abstractmethod
    async def finish(
        self,
        run_id: str,
        state: RunState,
        reason: str,
        now: float,
        steps: list[dict[str, Any]],
        *,
        started: bool = True,
    ) -> None:
        """Record a run's final (or interrupted) state."""

    @abstractmethod
    async def interrupt_running(self, reason: str) -> int:
        """Mark every running run interrupted (shutdown after the grace period)."""

    @abstractmethod
    async def notifications_between(
        self, start: float, end: float, after: tuple[float, str] = (0.0, ""), limit: int = 500
    ) -> list[tuple[float, str, bytes]]:
        """Stored notifications received from ``start`` until before ``end``, as
        (received_at, id, body), in that order, the first ``limit`` past ``after``
        (the last row of the page before): an export reads them page by page."""

    @abstractmethod
    async def last_firing_starts(self) -> dict[str, float]:
        """For cooldowns: per reflex, when its last firing run started."""

    @abstractmethod
    async def list_runs(
        self,
        *,
        reflex: str | None = None,
        state: str | None = None,
        trigger: str | None = None,
        fingerprint: str | None = None,
        limit: int = 50,
    ) -> list[RunRecord]: ...

    @abstractmethod
    async def get_run(self, run_id: str) -> RunRecord | None: ...

    @abstractmethod
    async def add_run(self, run: NewRun, now: float) -> NewRun | None:
        """Insert a run outside a notification (a restore). If the episode already has
        a queued one for that trigger, bring its ``not_before`` forward and return it;
        return None if it already ran."""

    @abstractmethod
    async def cancel_restores(self, reflex: str, fingerprint: str, reason: str, now: float) -> int:
        """Skip queued restore runs of an alert: its resolved run restores instead."""

    @abstractmethod
    async def save_artifact(self, artifact: Artifact) -> None:
        """Store (or replace, on a resumed attempt) one artifact of a run."""

    @abstractmethod
    async def list_artifacts(self, run_id: str) -> list[Artifact]:
        """A run's artifacts, without their data."""

    @abstractmethod
    async def get_artifact(self, run_id: str, name: str) -> Artifact | None: ...

    @abstractmethod
    async def remember_undo(self, undo: Undo) -> Undo:
        """Record what a step changes (a reversible action calls it before changing
        anything). If an earlier change of the same step for the same alert is still
        pending, that one is kept and returned: it holds the state from before
        alertreflex touched anything."""

    @abstractmethod
    async def pending_undo(self, reflex: str, fingerprint: str, step: int) -> Undo | None:
        """The undo of a step for an alert that nobody has claimed yet, if any: a
        resumed step finds there what its interrupted attempt stored."""

    @abstractmethod
    async def take_undo(
        self, reflex: str, fingerprint: str, step: int, run_id: str, now: float
    ) -> Undo | None:
        """Claim the pending undo of a step for ``run_id`` (again, if the same run is
        resumed). Returns it with ``undone_by`` set to whoever holds it, or None if
        nothing was ever remembered."""

    @abstractmethod
    async def pending_undos(self) -> list[Undo]:
        """Undos nobody has claimed yet, oldest first."""

    @abstractmethod
    async def ping(self) -> None:
        """Raise StoreError if the store cannot serve requests."""

    async def check_writable(self) -> None:
        """Make one small durable write; raise StoreError if the store cannot take it.
        This tells that a failing store recovered while nothing else writes to it."""
        await self.ping()

    @abstractmethod
    async def episode_resolved(self, fingerprint: str, starts_at: str) -> bool:
        """Whether a resolved notification arrived for the episode."""

    @abstractmethod
    async def run_state(
        self, reflex: str, fingerprint: str, starts_at: str, trigger: str
    ) -> RunState | None:
        """The state of an episode's run for ``trigger`` (not superseded), if any."""

    @abstractmethod
    async def controls(self) -> list[Control]:
        """The brakes in force."""

    @abstractmethod
    async def set_control(
        self, scope: str, control: Control | None, audit: AuditEntry
    ) -> Control | None:
        """Put ``control`` in force for ``scope`` (None lifts it) and record ``audit``,
        in one transaction. Returns the control that was in force before."""

    @abstractmethod
    async def add_audit(self, entry: AuditEntry) -> None: ...

    @abstractmethod
    async def list_audit(self, *, target: str | None = None, limit: int = 100) -> list[AuditEntry]:
        """Newest first."""

    @abstractmethod
    async def await_approval(
        self, run_id: str, steps: list[dict[str, Any]], expires_at: float
    ) -> bool:
        """Park a queued run in awaiting_approval with its rendered ``steps`` (what the
        approver sees). False if it is no longer queued."""

    @abstractmethod
    async def decide(
        self, run_id: str, approve: bool, audit: AuditEntry, now: float
    ) -> RunRecord | None:
        """Approve (queued again, ``approved_by`` set) or reject an awaiting run, and
        record ``audit``, in one transaction. None if the run is not awaiting approval."""

    @abstractmethod
    async def expire_approvals(self, now: float) -> list[tuple[str, str]]:
        """Mark awaiting runs past their ``expires_at`` expired (audited); returns
        (run id, reflex) of each."""

    @abstractmethod
    async def withdraw_approvals(
        self, reflex: str, fingerprint: str, starts_at: str, reason: str, now: float
    ) -> list[str]:
        """Skip an episode's runs still awaiting approval (its alert resolved)."""

    @abstractmethod
    async def add_rerun(self, run: NewRun, of: RunRecord, audit: AuditEntry, now: float) -> None:
        """Insert a manual re-run of ``of`` (outside the episode's once-only key) and
        record ``audit``, in one transaction."""

    @abstractmethod
    async def prune(self, before: float, forget_before: float, limit: int, now: float) -> Pruned:
        """One short transaction, called again until it removes less than ``limit``
        of each kind. Up to ``limit`` each:

        - runs finished before ``before`` lose their history (context, steps,
          artifacts; ``pruned_at`` is set), but keep their row: it is what stops
          their episode from running again while it fires;
        - notifications last received before ``before`` are deleted;
        - episodes resolved before ``forget_before`` are forgotten with their runs,
          unless one of those is unfinished.

        Runs whose changes still wait to be put back keep everything."""

    async def count_repeats(self, repeats: dict[str, tuple[int, float]]) -> None:  # noqa: B027
        """Add identical repeats of stored notifications: notification id ->
        (how many more, last received at). Counts only: nothing else changed."""

    async def reclaim(self, pages: int) -> int:
        """Give up to ``pages`` free pages back to the file system, of those beyond a
        quarter of the file (kept for the next writes); how many it gave. A database
        server does this itself."""
        return 0

    @abstractmethod
    async def firing_episodes(self, limit: int = 100) -> list[AlertRecord]:
        """Episodes whose last notification said firing, newest first."""

    @abstractmethod
    async def run_ids_by_prefix(self, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` ids of runs that start with ``prefix`` (taken literally),
        in order: how a short id given by a person is resolved, as git does."""
