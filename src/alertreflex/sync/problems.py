"""What is wrong with a team's files, located in the repository."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SyncProblem:
    """One problem: ``file`` is repository-relative, ``line`` 0 when unknown."""

    team: str | None
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        who = f"team {self.team}: " if self.team else ""
        return f"{who}{where}: {self.message}"


class InvalidRevision(ValueError):
    """The revision's files are invalid; nothing was delivered."""

    def __init__(self, revision: str, problems: Sequence[SyncProblem]) -> None:
        self.revision = revision
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"commit {revision[:12]} is invalid, nothing delivered:\n{lines}")
