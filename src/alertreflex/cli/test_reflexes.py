"""``alertreflex test-reflexes``: work in progress."""

from __future__ import annotations

import argparse
from typing import Any

from alertreflex.cli._common import add_command


def register(sub: Any) -> None:
    p = add_command(sub, "test-reflexes", "Not ready yet.", "alertreflex test-reflexes --help")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print("alertreflex test-reflexes: not ready yet")
    return 2
