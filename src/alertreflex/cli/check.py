"""``alertreflex check``: validate config files like ``promtool check config``.

Problems and warnings go to stderr, one ``file:line: path: message`` each; only
problems fail the check (exit 1): a warning names something that works but is unsafe.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from alertreflex.cli._common import add_command


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "check",
        "Validate config files fully: schema, matchers, regexes, templates.",
        "alertreflex check examples/alertreflex.yml",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="config files or directories")
    p.add_argument(
        "--no-secrets",
        action="store_true",
        help="do not read secret and token files (check them elsewhere)",
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
        for problem in [*exc.problems, *exc.warnings]:
            print(problem, file=sys.stderr)
        print(f"FAILED: {_count(exc.problems, 'problem')}", file=sys.stderr)
        return 1
    for warning in cfg.warnings:
        print(warning, file=sys.stderr)
    teams = {r.team for r in cfg.reflexes.values()}
    steps = sum(len(r.on_firing) + len(r.on_resolved) for r in cfg.reflexes.values())
    warned = f"; {_count(cfg.warnings, 'warning')}" if cfg.warnings else ""
    print(
        f"SUCCESS: {len(cfg.files)} file(s), {len(cfg.reflexes)} reflex(es) of "
        f"{len(teams)} team(s), {steps} step(s){warned}"
    )
    return 0


def _count(items: Sequence[object], noun: str) -> str:
    return f"{len(items)} {noun}{'s' if len(items) != 1 else ''}"
