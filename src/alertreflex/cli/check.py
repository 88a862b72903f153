"""``alertreflex check``: validate config files like ``promtool check config``.

Problems and warnings go to stderr, one ``file:line: path: message`` each; only
problems fail the check (exit 1): a warning names something that works but is unsafe.
With ``--json`` one JSON document on stdout says it all (docs/cli.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from alertreflex.cli._common import FAILED, OK, add_command, problem_json

if TYPE_CHECKING:
    from alertreflex.config.loader import Config, Problem


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "check",
        "Validate config files fully: schema, matchers, regexes, templates.",
        "alertreflex check examples/alertreflex.yml\n"
        "  alertreflex check --json /etc/alertreflex/ | jq '.problems[]'",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="config files or directories")
    p.add_argument(
        "--no-secrets",
        action="store_true",
        help="do not read secret and token files (check them elsewhere)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document on stdout: ok, summary, and every problem and "
        "warning with file, line, path, message and severity (docs/cli.md)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from alertreflex.actions.base import load_action_types, params_models
    from alertreflex.config.loader import ConfigError, load_config

    try:
        cfg = load_config(
            args.paths, params_models(load_action_types()), read_secrets=not args.no_secrets
        )
    except ConfigError as exc:
        if args.json:
            _print_json(None, [*exc.problems, *exc.warnings])
            return FAILED
        for problem in [*exc.problems, *exc.warnings]:
            print(problem, file=sys.stderr)
        print(f"FAILED: {_count(exc.problems, 'problem')}", file=sys.stderr)
        return FAILED
    if args.json:
        _print_json(cfg, cfg.warnings)
        return OK
    for warning in cfg.warnings:
        print(warning, file=sys.stderr)
    summary = _summary(cfg)
    warned = f"; {_count(cfg.warnings, 'warning')}" if cfg.warnings else ""
    print(
        f"SUCCESS: {summary['files']} file(s), {summary['reflexes']} reflex(es) of "
        f"{summary['teams']} team(s), {summary['steps']} step(s){warned}"
    )
    return OK


def _summary(cfg: Config) -> dict[str, int]:
    return {
        "files": len(cfg.files),
        "reflexes": len(cfg.reflexes),
        "teams": len({r.team for r in cfg.reflexes.values()}),
        "steps": sum(len(r.on_firing) + len(r.on_resolved) for r in cfg.reflexes.values()),
    }


def _print_json(cfg: Config | None, problems: Sequence[Problem]) -> None:
    doc = {
        "ok": cfg is not None,
        "summary": _summary(cfg) if cfg is not None else None,
        "problems": [problem_json(p) for p in problems],
    }
    print(json.dumps(doc, indent=2))


def _count(items: Sequence[object], noun: str) -> str:
    return f"{len(items)} {noun}{'s' if len(items) != 1 else ''}"
