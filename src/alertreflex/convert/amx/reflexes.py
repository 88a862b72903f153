"""Each am-executor command mapped to one reflex, with the remarks on what differs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alertreflex.config.loader import Problem
from alertreflex.config.schema import REFLEX_NAME, Settings
from alertreflex.convert.amx import remarks
from alertreflex.convert.amx.config import AmxCommand, AmxConfig, AmxConfigError
from alertreflex.convert.amx.output import Conversion, ConvertedReflex, Flow
from alertreflex.convert.amx.remarks import one_line
from alertreflex.convert.amx.scripts import alert_reading_scripts
from alertreflex.core.matchers import Matcher, MatchOp

DEFAULT_TIMEOUT = "1h"
# A command run through one of these is named after its script, not after the interpreter.
_INTERPRETERS = frozenset(
    {"sh", "bash", "dash", "zsh", "ksh", "env", "python", "python3", "perl", "ruby", "node", "php"}
)
_REFLEX_NAME = re.compile(REFLEX_NAME)
_NOT_NAME_CHAR = re.compile(r"[^a-z0-9_]+")
_MAX_NAME = 63


@dataclass(frozen=True)
class ConvertOptions:
    team: str | None = None  # for commands whose match_labels do not name the team
    ownership_label: str = "team"
    timeout: str = DEFAULT_TIMEOUT
    run_on_resolved: bool = False
    scan_scripts: bool = True  # read script files for AMX_ALERT_<n> past the first
    # Where relative script paths are looked up besides the working directory.
    script_dirs: tuple[Path, ...] = ()


def convert_amx(config: AmxConfig, options: ConvertOptions | None = None) -> Conversion:
    """Turn each distinct command into one reflex; raise AmxConfigError if a team is missing."""
    opts = options or ConvertOptions()
    kept: list[AmxCommand] = []
    skipped: list[tuple[AmxCommand, str]] = []
    for cmd in config.commands:
        first = next((k for k in kept if k.same_as(cmd)), None)
        if first is None:
            kept.append(cmd)
        else:
            skipped.append(
                (
                    cmd,
                    f"the same command as commands[{first.index}] (line {first.line}): "
                    "am-executor keeps only the first of identical commands (cmd, args and "
                    "match_labels), and so does this conversion",
                )
            )
    problems = [
        Problem(
            config.file,
            cmd.line,
            f"commands[{cmd.index}]",
            f"no team: match_labels has no {opts.ownership_label!r} label and no --team "
            "was given; every alertreflex reflex belongs to a team (the alert label "
            f"{opts.ownership_label!r}), which must be known",
        )
        for cmd in kept
        if not cmd.match_labels.get(opts.ownership_label) and not opts.team
    ]
    if problems:
        raise AmxConfigError(problems)

    names: set[str] = set()
    reflexes = [_reflex(config, cmd, opts, names) for cmd in kept]
    general = remarks.general(config, ownership_label=opts.ownership_label, timeout=opts.timeout)
    return Conversion(config.file, reflexes, general, skipped)


def _reflex(
    config: AmxConfig, cmd: AmxCommand, opts: ConvertOptions, taken: set[str]
) -> ConvertedReflex:
    label = opts.ownership_label
    team = cmd.match_labels.get(label) or opts.team or ""
    matchers = {k: v for k, v in cmd.match_labels.items() if k != label}
    name = _unique_name(cmd, matchers, taken)
    step: dict[str, Any] = {
        "name": _step_name(cmd),
        "exec": {
            "command": Flow(_literal(arg) for arg in cmd.argv),
            "timeout": opts.timeout,
            "amx_env": True,
        },
    }
    reflex: dict[str, Any] = {
        "name": name,
        "team": team,
        "description": (
            f"Converted from prometheus-am-executor: commands[{cmd.index}] of "
            f"{config.file} (line {cmd.line})"
        ),
        "match": Flow(str(Matcher(k, MatchOp.EQUAL, v)) for k, v in matchers.items()),
        "on_firing": [step],
    }
    if opts.run_on_resolved and not cmd.ignore_resolved:
        reflex["on_resolved"] = [step]
    reflex["max_concurrent"] = cmd.max if cmd.max > 0 else _unlimited()
    if not cmd.ignore_resolved:
        reflex["cancel_on_resolve"] = True
    said = remarks.for_command(
        cmd,
        team=team,
        ownership_label=label,
        matchers=matchers,
        run_on_resolved=opts.run_on_resolved,
        unlimited=_unlimited(),
        scripts=alert_reading_scripts(cmd.argv, opts.script_dirs) if opts.scan_scripts else (),
    )
    return ConvertedReflex(cmd, reflex, said)


def _unique_name(cmd: AmxCommand, matchers: dict[str, str], taken: set[str]) -> str:
    """After the program and the match_labels' values; ``taken`` gets the name."""
    parts = [_program_name(cmd)]
    if "alertname" in matchers:
        parts.append(matchers["alertname"])
    parts.extend(v for k, v in sorted(matchers.items()) if k != "alertname")
    base = "-".join(p for p in (_slug(part) for part in parts) if p)[:_MAX_NAME].rstrip("-_")
    if not _REFLEX_NAME.fullmatch(base):
        base = "amx-command"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    taken.add(name)
    return name


def _unlimited() -> int:
    limit: int = Settings.model_fields["max_concurrent_runs"].default
    return limit


def _program_name(cmd: AmxCommand) -> str:
    """What the command is called: its program, or the script an interpreter runs."""
    name = Path(cmd.cmd).name
    if name in _INTERPRETERS:
        for arg in cmd.args:
            base = Path(arg).name
            if base and not arg.startswith("-") and base not in _INTERPRETERS:
                name = base
                break
    return Path(name).stem if "." in name.lstrip(".") else name


def _step_name(cmd: AmxCommand) -> str:
    return one_line(Path(cmd.cmd).name or cmd.cmd)


def _slug(text: str) -> str:
    return _NOT_NAME_CHAR.sub("-", text.lower()).strip("-_")


def _literal(text: str) -> str:
    """``text`` as a template that renders to itself: alertreflex renders every string
    of a step, am-executor passed its arguments as written."""
    if not any(mark in text for mark in ("{{", "{%", "{#")):
        return text
    escaped = "".join(
        "\\\\"
        if ch == "\\"
        else "\\'"
        if ch == "'"
        else f"\\x{ord(ch):02x}"
        if ord(ch) < 32
        else ch
        for ch in text
    )
    return "{{ '" + escaped + "' }}"
