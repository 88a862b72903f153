"""The reflex index: ownership first, then alertname, so unrelated reflexes cost nothing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from alertreflex.core.index import ReflexIndex
from alertreflex.core.matchers import Matcher, parse_matchers


class CountingMatcher(Matcher):
    """A matcher that counts how often it is evaluated."""

    calls = 0

    def matches(self, labels: Mapping[str, str]) -> bool:
        CountingMatcher.calls += 1
        return super().matches(labels)


@dataclass(frozen=True)
class R:
    name: str
    team: str
    matchers: tuple[Matcher, ...]


def _reflex(name: str, team: str, text: str) -> R:
    ms = tuple(CountingMatcher(m.name, m.op, m.value) for m in parse_matchers(text))
    return R(name, team, ms)


def test_only_candidates_are_evaluated() -> None:
    """With 10,000 reflexes of other teams and alertnames, an alert evaluates a handful."""
    mine = [
        _reflex("pinned", "t", '{alertname="A", severity="critical"}'),
        _reflex("loose", "t", '{severity=~"crit.*"}'),
    ]
    others = [_reflex(f"o{i}", f"team{i % 100}", f'{{alertname="X{i}"}}') for i in range(10_000)]
    others += [_reflex(f"p{i}", "t", f'{{alertname="Other{i}"}}') for i in range(1_000)]
    index = ReflexIndex([*others, *mine])
    CountingMatcher.calls = 0
    found = index.match({"alertname": "A", "severity": "critical", "team": "t"})
    assert [r.name for r in found] == ["pinned", "loose"]
    assert CountingMatcher.calls == 3


def test_alert_without_team_matches_nothing() -> None:
    """No ownership label, no reflex: not even one with no matchers."""
    index = ReflexIndex([_reflex("any", "t", "{}")])
    assert index.match({"alertname": "A"}) == []
    assert [r.name for r in index.match({"alertname": "A", "team": "t"})] == ["any"]


def test_custom_ownership_label() -> None:
    """The ownership label is configurable."""
    index = ReflexIndex([_reflex("r", "db", "{}")], ownership_label="owner")
    assert index.match({"team": "db"}) == []
    assert [r.name for r in index.match({"owner": "db"})] == ["r"]


def test_regex_on_alertname_is_not_pinned() -> None:
    """A regex on alertname cannot be indexed by value; it is still found."""
    index = ReflexIndex([_reflex("re", "t", '{alertname=~"Bucket.*"}')])
    assert [r.name for r in index.match({"alertname": "BucketFull", "team": "t"})] == ["re"]
    assert index.match({"alertname": "Other", "team": "t"}) == []


def test_alertname_alternatives_are_pinned() -> None:
    """alertname=~"A|B" is indexed under A and B: other alertnames never evaluate it."""
    index = ReflexIndex([_reflex("ab", "t", '{alertname=~"A|B", severity="page"}')])
    CountingMatcher.calls = 0
    assert index.match({"alertname": "C", "severity": "page", "team": "t"}) == []
    assert CountingMatcher.calls == 0
    for name in ("A", "B"):
        found = index.match({"alertname": name, "severity": "page", "team": "t"})
        assert [r.name for r in found] == ["ab"]


def test_alertname_equal_and_alternatives_pin_the_smaller_set() -> None:
    """With alertname="A" and alertname=~"A|B", the reflex is only a candidate for A."""
    index = ReflexIndex([_reflex("r", "t", '{alertname=~"A|B", alertname="A"}')])
    assert [r.name for r in index.match({"alertname": "A", "team": "t"})] == ["r"]
    CountingMatcher.calls = 0
    assert index.match({"alertname": "B", "team": "t"}) == []
    assert CountingMatcher.calls == 0


def test_missing_alertname_matches_an_empty_alternative() -> None:
    """alertname=~"A|" also matches alerts without alertname, as "" is one alternative."""
    index = ReflexIndex([_reflex("r", "t", '{alertname=~"A|"}')])
    assert [r.name for r in index.match({"team": "t"})] == ["r"]
    assert [r.name for r in index.match({"alertname": "A", "team": "t"})] == ["r"]
    assert index.match({"alertname": "B", "team": "t"}) == []


def test_utf8_label_names_match_and_index() -> None:
    """Reflexes on UTF-8 label names (Prometheus 3) are found like any other."""
    index = ReflexIndex(
        [_reflex("otel", "t", '{alertname="Slow", "service.name"=~"check.*", "k8s.ns"!=""}')]
    )
    labels = {"alertname": "Slow", "service.name": "checkout", "k8s.ns": "shop", "team": "t"}
    assert [r.name for r in index.match(labels)] == ["otel"]
    assert index.match({**labels, "service.name": "cart"}) == []
    assert index.match({**labels, "k8s.ns": ""}) == []
