"""A team's Prometheus rules: read (2.x YAML or 1.x text), owned, checked, merged.

Every rule of ``teams/X/`` carries ``team="X"`` (added when absent, refused when it
names another team), so that an alert is always routed to, and automated by, the
team whose repository directory defined it. The team's groups are merged into one
rule file; group names must be unique within a team (Prometheus refuses a repeated
group name in one file), alert names may repeat across teams.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from alertreflex.config.yamlfile import LocatedDocument, YamlError, load_yaml
from alertreflex.sync.problems import SyncProblem
from alertreflex.sync.promtool import check_rules, rule_of
from alertreflex.sync.rules1x import RuleSyntaxError, convert_rules_1x

LineOf = Callable[[tuple[Any, ...]], int]
Report = Callable[[int, str], None]  # (line, message)


@dataclass
class RuleSource:
    """One rule file of a team: ``path`` in the repository, ``disk`` its checkout."""

    team: str
    path: str
    disk: Path


@dataclass
class TeamRules:
    team: str
    groups: list[dict[str, Any]] = field(default_factory=list)
    problems: list[SyncProblem] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        """Rules per group: what Prometheus must list once it has reloaded."""
        return {g["name"]: len(g.get("rules") or ()) for g in self.groups}


def team_rules(team: str, sources: list[RuleSource], label: str, promtool: str | None) -> TeamRules:
    out = TeamRules(team)
    first_seen: dict[str, str] = {}  # group name -> "file:line"
    for src in sources:
        loaded = _load(src, out.problems, promtool)
        if loaded is None:
            continue
        groups, line_of = loaded
        for g, group in enumerate(groups):
            name = str(group.get("name"))
            where = f"{src.path}:{line_of(('groups', g, 'name'))}"
            if name in first_seen:
                out.problems.append(
                    SyncProblem(
                        team,
                        src.path,
                        line_of(("groups", g, "name")),
                        f"rule group {name!r} is already defined at {first_seen[name]}: "
                        "group names are unique within a team",
                    )
                )
                continue
            first_seen[name] = where
            for r, rule in enumerate(group.get("rules") or ()):
                _own(team, label, src, rule, ("groups", g, "rules", r), line_of, out)
            out.groups.append(group)
    return out


def render(team: str, groups: list[dict[str, Any]], header: str) -> str:
    body = yaml.safe_dump({"groups": groups}, sort_keys=False, allow_unicode=True)
    return f"{header}\n# The rules of team {team}.\n{body}"


def _own(
    team: str,
    label: str,
    src: RuleSource,
    rule: Any,
    at: tuple[Any, ...],
    line_of: LineOf,
    out: TeamRules,
) -> None:
    if not isinstance(rule, dict):
        return  # promtool has reported it
    labels = rule.get("labels")
    if labels is None:
        labels = rule["labels"] = {}
    if not isinstance(labels, dict):
        return
    claimed = labels.get(label)
    if claimed is None:
        labels[label] = team
    elif str(claimed) != team:
        kind = "alert" if "alert" in rule else "record"
        out.problems.append(
            SyncProblem(
                team,
                src.path,
                line_of((*at, "labels", label)),
                f"{kind} {rule.get(kind)!r} sets {label}={claimed!r}, but this file is team "
                f"{team!r}'s: a team's rules may only carry its own {label} label",
            )
        )


def _load(
    src: RuleSource, problems: list[SyncProblem], promtool: str | None
) -> tuple[list[dict[str, Any]], LineOf] | None:
    """The file's groups and a line lookup, or None (problems recorded)."""

    def problem(line: int, message: str) -> None:
        problems.append(SyncProblem(src.team, src.path, line, message))

    try:
        text = src.disk.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        problem(0, f"not UTF-8 text: {exc}")
        return None
    if src.path.endswith(".rules"):
        return _load_1x(src, text, problem, promtool)
    if promtool is not None:
        for line, message in check_rules(promtool, src.disk):
            problem(line, f"promtool: {message}")
    try:
        doc = load_yaml(text)
    except YamlError as exc:
        if promtool is None:
            problem(exc.line, exc.message)
        return None
    if promtool is not None and any(p.file == src.path for p in problems):
        return None
    groups = _groups(doc, problem)
    return (groups, doc.line_of) if groups is not None else None


def _load_1x(
    src: RuleSource, text: str, problem: Report, promtool: str | None
) -> tuple[list[dict[str, Any]], LineOf] | None:
    try:
        converted = convert_rules_1x(text, filename=src.path)
    except RuleSyntaxError as exc:
        problem(exc.line, f"{exc.message} (column {exc.column})")
        return None
    groups = converted.doc["groups"]
    # 1.x rules are numbered across the file; promtool names (group, rule number).
    firsts = [0]
    for g in groups:
        firsts.append(firsts[-1] + len(g.get("rules") or ()))

    def line_of(path: tuple[Any, ...]) -> int:
        if len(path) >= 4 and path[0] == "groups" and path[2] == "rules":
            line: int = converted.rule_lines[firsts[path[1]] + path[3]]
            return line
        return converted.rule_lines[0] if converted.rule_lines else 1

    if promtool is not None:
        converted_file = src.disk.with_name(src.disk.name + ".converted.yml")
        converted_file.write_text(converted.to_yaml(), encoding="utf-8")
        found = check_rules(promtool, converted_file)
        for _, message in found:
            at = rule_of(message)
            names = [g["name"] for g in groups]
            line = 0
            if at is not None and at[0] in names:
                line = line_of(("groups", names.index(at[0]), "rules", at[1] - 1))
            problem(line, f"promtool (on the 2.x conversion): {message}")
        if found:
            return None
    return groups, line_of


def _groups(doc: LocatedDocument, problem: Report) -> list[dict[str, Any]] | None:
    data = doc.data
    if data is None:
        return []  # an empty file: no groups
    if not isinstance(data, dict) or not isinstance(data.get("groups", []), list):
        problem(1, "expected a Prometheus 2.x rule file: a mapping with a 'groups' list")
        return None
    groups = data.get("groups") or []
    for g, group in enumerate(groups):
        if not isinstance(group, dict) or not isinstance(group.get("rules") or [], list):
            problem(doc.line_of(("groups", g)), "a group needs a name and a list of rules")
            return None
    return groups
