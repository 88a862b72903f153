"""``alertreflex demo``: watch the three motivating reflexes act, end to end."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from alertreflex.cli._common import add_command


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "demo",
        "Start the demo JVM, alertreflex, Alertmanager and Prometheus on loopback, fill "
        "the orange bucket, and show the thread dumps, the DEBUG log level while firing "
        "and back after, and the night shift's pizza. Installs nothing: missing tools "
        "are named with the command that installs them. Stops everything it started.",
        "alertreflex demo --all-day --flips 2",
    )
    p.add_argument("--keep", action="store_true", help="keep the logs, configs and store")
    p.add_argument("--workdir", help="use this directory (kept) instead of a temporary one")
    p.add_argument(
        "--flips",
        type=int,
        default=1,
        metavar="N",
        help="fill and empty the bucket N times (from 2 on, the pizza cooldown shows)",
    )
    p.add_argument(
        "--all-day",
        action="store_true",
        help="stretch the pizza reflex's late-night window (20:00-06:00 local) to the "
        "whole day, so that it orders whatever the hour",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from alertreflex.demo.run import main

    if args.flips < 1:
        print("alertreflex demo: --flips must be at least 1", file=sys.stderr)
        return 2
    return main(args.keep, args.workdir, flips=args.flips, whole_day=args.all_day)
