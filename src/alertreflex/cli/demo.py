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
        "are named with the command that installs them. Then it keeps everything "
        "running, for a look at the UI, until Ctrl-C, and stops everything it started.",
        "alertreflex demo --all-day --flips 2",
    )
    keep = p.add_mutually_exclusive_group()
    keep.add_argument(
        "--keep",
        dest="keep",
        action="store_const",
        const=True,
        default=None,
        help="also keep the logs, configs, thread dumps and store after Ctrl-C",
    )
    keep.add_argument(
        "--no-keep",
        dest="keep",
        action="store_const",
        const=False,
        help="stop everything as soon as the report is printed, and remove what it wrote",
    )
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
