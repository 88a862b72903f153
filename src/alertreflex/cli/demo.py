"""``alertreflex demo``: watch the three motivating reflexes act, end to end."""

from __future__ import annotations

import argparse
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
        "alertreflex demo --keep",
    )
    p.add_argument("--keep", action="store_true", help="keep the logs, configs and store")
    p.add_argument("--workdir", help="use this directory (kept) instead of a temporary one")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from alertreflex.demo.run import main

    return main(args.keep, args.workdir)
