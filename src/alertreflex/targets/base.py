"""The interface of a place where programs run, and its errors."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Sink = Callable[[bytes], None]
"""Takes a program's output as it arrives (a capped buffer's ``feed``)."""


@dataclass(frozen=True)
class Program:
    """What to run: an argv list (never a shell command line) and its surroundings."""

    argv: Sequence[str]
    timeout: float
    env: Mapping[str, str] | None = None  # None: the target's own environment
    stdin: bytes | None = None  # None: no standard input
    cwd: str | None = None  # None: the target's default directory


@dataclass(frozen=True)
class Completion:
    """How a program ended. ``exit_code`` is None when the target could not tell (the
    program was killed and its end never reported)."""

    exit_code: int | None
    timed_out: bool = False
    note: str = ""  # what the caller should add to the step's summary, if anything
    killed_from: str = ""  # after a timeout: "host" (its process group) or "container"


class Target(ABC):
    """Somewhere to run a program, with its output captured and a real timeout."""

    #: Whether a program here can be given stdin that ends (see ContainerTarget).
    accepts_stdin: bool = True

    @abstractmethod
    def describe(self) -> str:
        """Where this is, for summaries: ``"container orders-1"``; "" for the host."""

    def details(self) -> dict[str, Any]:
        """What a step records about its target (``details.container``)."""
        return {}

    @abstractmethod
    async def run(self, program: Program, stdout: Sink, stderr: Sink) -> Completion:
        """Run ``program`` to its end or its timeout, at which it is killed with all it
        started. Raises :class:`TargetError` when it cannot be run at all."""


class TargetError(Exception):
    """The target cannot be reached or used; the message says why, for the step."""


class EngineUnreachable(TargetError):
    pass


class NoSuchContainer(TargetError):
    pass


class NotRunning(TargetError):
    pass


class NoMatch(TargetError):
    pass


class Ambiguous(TargetError):
    pass


class Refused(TargetError):
    pass


class ProgramNotFound(TargetError):
    pass
