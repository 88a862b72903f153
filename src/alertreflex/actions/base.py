"""The action plugin interface.

An action type is a subclass of :class:`Action` registered under the entry-point group
``alertreflex.actions``; the built-in ``exec`` and ``http`` are registered the same way
in alertreflex's own ``pyproject.toml``. Its ``Params`` model validates a step's
parameters twice: when the config loads (the raw values, templates not yet rendered,
so that structural mistakes are caught early) and before every execution (the
rendered values).
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import InitVar, dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from alertreflex.core.models import Trigger

if TYPE_CHECKING:
    # Only a type here: config.containers need not load with every action.
    from alertreflex.config.containers import ContainerAccess

ENTRY_POINT_GROUP = "alertreflex.actions"


class ActionParams(BaseModel):
    """Base for parameter models: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")

    # A reversible action's firing step is undone by the engine (``Action.undo``) when
    # the alert resolves, without an on_resolved step: the config loader reads this.
    reversible: ClassVar[bool] = False


P = TypeVar("P", bound=ActionParams)


class StepOutcome(enum.StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"  # set by the runner (cancel_on_resolve), never by an action


@dataclass
class ArtifactData:
    """A file a step produced; stored with the run, capped at ``artifact_limit``."""

    name: str  # [A-Za-z0-9._-], unique within the step
    content_type: str
    data: bytes
    dropped: int = 0  # bytes the action already cut off past ``ActionContext.artifact_limit``


@dataclass
class StepResult:
    """What one step did. ``output`` is capped by the caller's ``output_limit``.

    A reversible action returns in ``memo`` what ``undo`` needs to put things back
    (JSON-able; stored with the alert, never shown with secrets; best stored before
    the change too, with ``ActionContext.remember``), and in ``restore_after`` how
    many seconds later to do so even if the alert still fires.
    """

    outcome: StepOutcome
    summary: str
    exit_code: int | None = None
    output: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    artifacts: list[ArtifactData] = field(default_factory=list)
    memo: dict[str, Any] | None = None
    restore_after: float | None = None


Memo = dict[str, Any]
StoreMemo = Callable[[Memo], Awaitable[Memo]]


@dataclass(frozen=True)
class ActionContext:
    """Everything an action may know about the run it is part of.

    A reversible action that reads a state to put it back later must survive a
    crash between its change and the record of its step: it stores its memo with
    :meth:`remember` *before* changing anything, and when the step runs again
    (``memo`` is then what it stored) it uses that memo and never reads the state
    again, which would find its own change.
    """

    run_id: str
    reflex: str
    team: str
    trigger: Trigger
    alert: dict[str, Any]
    notification: dict[str, Any]
    output_limit: int = 64 * 1024
    artifact_limit: int = 16 * 1024 * 1024
    # The memo this step stored in an interrupted attempt of this run, or None.
    memo: Memo | None = None
    # settings.containers of the run's config, for steps with a container target; None
    # outside a server (then the defaults apply).
    containers: ContainerAccess | None = None
    # Given by the runner for reversible steps. Not a field, so that the context's
    # fields stay plain data.
    store_memo: InitVar[StoreMemo | None] = None

    def __post_init__(self, store_memo: StoreMemo | None) -> None:
        self.__dict__["_store_memo"] = store_memo

    async def remember(self, memo: Memo) -> Memo:
        """Store ``memo`` durably (with the alert, for ``undo``) before the change it
        describes. Returns the memo in force: an earlier change of this step for the
        same alert that is not undone yet keeps its own, which holds the state from
        before alertreflex touched anything. Outside a server (``alertreflex test``,
        unit tests) nothing is stored and ``memo`` comes back."""
        store: StoreMemo | None = self.__dict__["_store_memo"]
        if store is None:
            return memo
        return await store(memo)


class Action(ABC, Generic[P]):
    """One action type. Instantiated once per engine and shared by all runs."""

    type_name: ClassVar[str]
    Params: ClassVar[type[ActionParams]]

    def describe(self, params: P) -> str:
        """A one-line human description of a rendered step, for logs and ``test``."""
        return f"{self.type_name} {params.model_dump_json(exclude_defaults=True, by_alias=True)}"

    @abstractmethod
    async def execute(self, params: P, ctx: ActionContext) -> StepResult:
        """Run the step. Must not raise for expected failures: return a failed result."""

    async def undo(self, params: P, memo: dict[str, Any], ctx: ActionContext) -> StepResult:
        """Put back what ``execute`` changed, from its ``memo``; for reversible actions.
        ``params`` are the firing step's, rendered again with the current alert."""
        raise NotImplementedError(f"{self.type_name} is not reversible")

    async def start(self) -> None:
        """Called once by the engine before the first run (start helpers, pools)."""

    async def close(self) -> None:
        """Release shared resources (clients, pools) at shutdown."""


class UnknownActionError(LookupError):
    pass


def params_models(types: dict[str, type[Action[Any]]]) -> dict[str, type[BaseModel]]:
    """What the config loader needs of each action type: its parameter model."""
    return {name: cls.Params for name, cls in types.items()}


def load_action_types() -> dict[str, type[Action[Any]]]:
    """All action types registered under the entry-point group, by name."""
    found: dict[str, type[Action[Any]]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        cls = ep.load()
        if not (isinstance(cls, type) and issubclass(cls, Action)):
            raise TypeError(f"entry point {ep.name} = {ep.value} is not an Action subclass")
        found[ep.name] = cls
    return found
