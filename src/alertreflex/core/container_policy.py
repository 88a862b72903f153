"""Which containers a reflex may act on: pure rules, shared by the config check and
the engine.

A step with a ``container`` target acts only on a container that

* carries the ownership label (``settings.containers.ownership_label``, by default
  the alerts' ``team``) with the reflex's own team as its value, exactly as a reflex
  only ever matches alerts of its own team; and
* satisfies every matcher of ``settings.containers.match``, the operator's bound on
  what automation may touch at all.

The engine checks both on the container it inspected, right before acting. The config
check refuses what can never pass: a label selector whose literal values pin another
team or contradict ``settings.containers.match``.

Matchers are Alertmanager's (operators, quoting, anchored RE2 regexes, a missing label
is ""), with one extension: a label key may also hold ``.``, ``-`` and ``/``, since
container labels are named that way (``com.docker.compose.project="shop"``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from alertreflex.core.matchers import LABEL_NAME_PATTERN, Matcher, MatcherError, parse_matcher
from alertreflex.core.templates import looks_templated

# Docker label keys are free text; these are the characters their conventions use.
_KEY = r"[A-Za-z0-9_][A-Za-z0-9_.:/-]*"
_KEYED = re.compile(rf"\A\s*({_KEY})\s*(=~|=|!=|!~)(.*)\Z", re.S)
_PLAIN_NAME = re.compile(LABEL_NAME_PATTERN)
# The name the parsed Matcher carries when the real key is not an Alertmanager label
# name; matching looks the real key up and hands its value over under this name.
_STAND_IN = "label"


@dataclass(frozen=True)
class LabelMatcher:
    """An Alertmanager matcher on one container label."""

    key: str
    matcher: Matcher

    def matches(self, labels: Mapping[str, str]) -> bool:
        return self.matcher.matches({self.matcher.name: labels.get(self.key, "")})

    def __str__(self) -> str:
        return self.key + str(self.matcher)[len(self.matcher.name) :]


def parse_label_matcher(text: str) -> LabelMatcher:
    """``app="orders"``, ``com.docker.compose.service=~"web|api"``; MatcherError if invalid."""
    found = _KEYED.match(text)
    if found is None or _PLAIN_NAME.fullmatch(found.group(1)):
        matcher = parse_matcher(text)  # Alertmanager's own grammar and messages
        return LabelMatcher(matcher.name, matcher)
    key, op, rest = found.groups()
    try:
        matcher = parse_matcher(f"{_STAND_IN}{op}{rest}")
    except MatcherError as exc:
        raise MatcherError(text, exc.reason) from None
    return LabelMatcher(key, matcher)


def refusal(
    container: str,
    labels: Mapping[str, str],
    *,
    team: str,
    ownership_label: str,
    match: Iterable[LabelMatcher],
) -> str | None:
    """Why a reflex of ``team`` may not act on this container, or None if it may."""
    owner = labels.get(ownership_label)
    if owner is None:
        return (
            f"container {container} has no label {ownership_label}: reflexes act only on "
            f"containers labelled with their team ({ownership_label}={team})"
        )
    if owner != team:
        return (
            f"container {container} belongs to team {owner!r} "
            f"(label {ownership_label}={owner}), not to {team!r}"
        )
    for m in match:
        if not m.matches(labels):
            return (
                f"container {container} is outside settings.containers.match: its labels fail {m}"
            )
    return None


def selector_problems(
    selector: Mapping[str, str],
    *,
    team: str,
    ownership_label: str,
    match: Iterable[LabelMatcher],
) -> list[tuple[str, str]]:
    """What makes a label selector unable to ever select an allowed container, as
    (label key, message); values that are templates are left to the engine."""
    problems = []
    literal = {k: v for k, v in selector.items() if isinstance(v, str) and not looks_templated(v)}
    owner = literal.get(ownership_label)
    if owner is not None and owner != team:
        problems.append(
            (
                ownership_label,
                f"selects containers of team {owner!r} ({ownership_label}={owner}), but "
                f"this reflex belongs to team {team!r}: reflexes act only on their own "
                "team's containers",
            )
        )
    for m in match:
        if m.key in literal and not m.matches(literal):
            problems.append(
                (
                    m.key,
                    f"{m.key}={literal[m.key]} selects only containers that "
                    f"settings.containers.match refuses ({m})",
                )
            )
    return problems
