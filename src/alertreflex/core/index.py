"""Index reflexes so that an alert only meets the reflexes that could match it.

Every reflex is owned by a team and only matches alerts whose ownership label equals
that team, so the first key is the team. Most reflexes also pin ``alertname`` with an
equality matcher, so the second key is that value (or None for the rest). The cost of
matching one alert is then the candidates of its own (team, alertname) pair plus the
team's unpinned reflexes, whatever the number of reflexes elsewhere.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Generic, Protocol, TypeVar

from alertreflex.core.matchers import Matcher, MatchOp


class Matchable(Protocol):
    @property
    def team(self) -> str: ...

    @property
    def matchers(self) -> Sequence[Matcher]: ...


T = TypeVar("T", bound=Matchable)


class ReflexIndex(Generic[T]):
    def __init__(self, items: Iterable[T], ownership_label: str = "team") -> None:
        self.ownership_label = ownership_label
        self._by_key: dict[tuple[str, str | None], list[T]] = defaultdict(list)
        for item in items:
            self._by_key[(item.team, _pinned_alertname(item.matchers))].append(item)
        self._by_key = dict(self._by_key)

    def match(self, labels: Mapping[str, str]) -> list[T]:
        """Reflexes whose team owns the alert and whose matchers all match."""
        team = labels.get(self.ownership_label, "")
        if not team:
            return []
        pinned = self._by_key.get((team, labels.get("alertname", "")), ())
        loose = self._by_key.get((team, None), ())
        found = [r for r in pinned if all(m.matches(labels) for m in r.matchers)]
        found += [r for r in loose if all(m.matches(labels) for m in r.matchers)]
        return found


def _pinned_alertname(matchers: Sequence[Matcher]) -> str | None:
    for m in matchers:
        if m.name == "alertname" and m.op is MatchOp.EQUAL:
            return m.value
    return None
