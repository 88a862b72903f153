"""``alertreflex check``: validate config files like ``promtool check config``."""

from __future__ import annotations

import argparse
import sys
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
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        n = len(exc.problems)
        print(f"FAILED: {n} problem{'s' if n != 1 else ''}", file=sys.stderr)
        return 1
    teams = {r.team for r in cfg.reflexes.values()}
    steps = sum(len(r.on_firing) + len(r.on_resolved) for r in cfg.reflexes.values())
    print(
        f"SUCCESS: {len(cfg.files)} file(s), {len(cfg.reflexes)} reflex(es) of "
        f"{len(teams)} team(s), {steps} step(s)"
    )
    return 0
