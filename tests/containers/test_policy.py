"""Which containers a reflex may act on, as pure rules (no engine): the ownership
label, settings.containers.match with container-style label keys, and what a label
selector can be refused for before anything runs."""

from __future__ import annotations

import pytest

from alertreflex.core.container_policy import parse_label_matcher, refusal, selector_problems
from alertreflex.core.matchers import MatcherError

MATCH = [parse_label_matcher('com.example.automation!="off"'), parse_label_matcher('env=~"prod"')]


def refused(labels: dict[str, str]) -> str | None:
    return refusal("orders-1", labels, team="warehouse", ownership_label="team", match=MATCH)


def problems(selector: dict[str, str]) -> list[tuple[str, str]]:
    return selector_problems(selector, team="warehouse", ownership_label="team", match=MATCH)


def test_label_matchers_take_container_label_keys() -> None:
    """Keys with dots, dashes and slashes, as container labels have them, match with
    Alertmanager's operators and semantics (a missing label is "", regexes anchored),
    and print back as written; invalid ones are refused like Alertmanager's."""
    m = parse_label_matcher('com.docker.compose.project=~"shop|till"')
    assert m.key == "com.docker.compose.project"
    assert m.matches({"com.docker.compose.project": "shop"})
    assert not m.matches({"com.docker.compose.project": "shopping"})
    assert not m.matches({})
    assert str(m) == 'com.docker.compose.project=~"shop|till"'
    assert parse_label_matcher("app.kubernetes.io/name = orders").matches(
        {"app.kubernetes.io/name": "orders"}
    )
    assert parse_label_matcher('team="x"').matcher.name == "team"
    with pytest.raises(MatcherError, match="bad regex"):
        parse_label_matcher('com.example.x=~"(open"')


def test_a_container_must_be_the_teams_and_inside_match() -> None:
    """The ownership label decides first (missing, or another team), then every
    matcher of settings.containers.match; a container passing both is allowed."""
    mine = {"team": "warehouse", "env": "prod"}
    assert refused(mine) is None
    assert refused({"env": "prod"}) == (
        "container orders-1 has no label team: reflexes act only on containers labelled "
        "with their team (team=warehouse)"
    )
    assert refused({**mine, "team": "payments"}) == (
        "container orders-1 belongs to team 'payments' (label team=payments), not to 'warehouse'"
    )
    off = {**mine, "com.example.automation": "off"}
    assert refused(off) == (
        "container orders-1 is outside settings.containers.match: its labels fail "
        'com.example.automation!="off"'
    )


def test_selectors_that_can_never_pass_are_named_by_their_key() -> None:
    """A literal value pinning another team, or one that match refuses, is a problem
    at its key; templated values and labels that match does not constrain are not."""
    found = problems({"team": "payments", "env": "dev", "app": "x"})
    assert [key for key, _ in found] == ["team", "env"]
    assert problems({"team": "{{ alert.labels.team }}", "env": "prod"}) == []
    assert problems({"env": "{{ alert.labels.env }}", "app": "x"}) == []
