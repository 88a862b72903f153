"""Index reflexes so that an alert only meets the reflexes that could match it.

Every reflex is owned by a team and only matches alerts whose ownership label equals
that team, so the first key is the team. Most reflexes also pin ``alertname`` to a few
literal values (``alertname="A"``, ``alertname=~"A|B"``), so the second key is each of
those values (or None for the rest). The cost of matching one alert is then the
candidates of its own (team, alertname) pair plus the team's unpinned reflexes,
whatever the number of reflexes elsewhere.

Label names are only looked up, never parsed, so UTF-8 names (``"service.name"``) need
nothing here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Generic, Protocol, TypeVar

from alertreflex.core.matchers import Matcher


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
            for alertname in _pinned_alertnames(item.matchers):
                self._by_key[(item.team, alertname)].append(item)
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


def _pinned_alertnames(matchers: Sequence[Matcher]) -> Sequence[str | None]:
    """The alertnames a reflex can match, fewest first; ``(None,)`` if any."""
    pins = [m.exact_values for m in matchers if m.name == "alertname"]
    known = sorted((len(values), sorted(values)) for values in pins if values is not None)
    return known[0][1] if known else (None,)
