"""``alertreflex schema``: placeholder, being written."""

from __future__ import annotations

import argparse
from typing import Any

from alertreflex.cli._common import add_command


def register(sub: Any) -> None:
    p = add_command(sub, "schema", "Not yet available.", "alertreflex schema")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return 2
