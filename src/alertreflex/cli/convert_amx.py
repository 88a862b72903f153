"""``alertreflex convert-amx``: placeholder, being written."""

from __future__ import annotations

import argparse
from typing import Any

from alertreflex.cli._common import add_command


def register(sub: Any) -> None:
    p = add_command(sub, "convert-amx", "Not yet available.", "alertreflex convert-amx")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return 2
