"""Helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import os
from datetime import datetime
from typing import TYPE_CHECKING, Any

from alertreflex.defaults import DEFAULT_STORAGE

if TYPE_CHECKING:
    import httpx

    from alertreflex.config.loader import Problem

# Exit statuses, the same for every command (docs/cli.md). A file named on the
# command line that is missing or unreadable is invalid input (1), as for
# `promtool check config /missing`; a server or store that cannot be reached is a
# failure (1): running the same command line again later may succeed.
OK = 0
FAILED = 1
USAGE = 2  # the command line itself is wrong; argparse exits 2 for its own errors

EXIT_STATUS_HELP = """\
exit status (every command):
  0  success
  1  failure or invalid input: a check found problems, an input file is missing,
     unreadable or invalid, a server or store cannot be reached or refused
  2  usage error: the command line itself is wrong (an unknown, missing or
     conflicting option, or an option value of the wrong form)"""


def add_command(sub: Any, name: str, help_text: str, example: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help_text,
        description=help_text,
        epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def api_error(resp: httpx.Response) -> str:
    """The ``error`` of alertreflex's JSON error answer, or the body as it came."""
    try:
        doc = resp.json()
    except ValueError:
        return resp.text
    return str(doc.get("error", resp.text)) if isinstance(doc, dict) else resp.text


def problem_json(
    problem: Problem, *, severity: str | None = None, column: int | None = None
) -> dict[str, Any]:
    """One problem as `--json` prints it, the same shape for every command."""
    return {
        "file": problem.file,
        "line": problem.line,
        "column": column,
        "path": problem.path,
        "message": problem.message,
        "severity": severity or ("warning" if problem.warning else "error"),
    }


TOKEN_ENV = "ALERTREFLEX_TOKEN"  # noqa: S105 - the variable's name, not a token


def auth_headers() -> dict[str, str]:
    """Credentials for a server with settings.auth: a bearer token from the
    environment (kept out of argv, where ps would show it)."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    return {"Authorization": f"Bearer {token}"} if token else {}


def rfc3339(text: str) -> datetime:
    """An argparse type: an RFC 3339 time with its zone (a bare time is ambiguous:
    time windows are read in each interval's own zone)."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an RFC 3339 time such as 2026-11-28T23:30:00+01:00"
        ) from None
    if when.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a time zone, e.g. +01:00 or Z")
    return when


def add_storage_option(p: argparse.ArgumentParser) -> None:
    """``--storage``, read as serve reads it: one variable configures every command
    in a container."""
    p.add_argument(
        "--storage",
        default=os.environ.get("ALERTREFLEX_STORAGE") or DEFAULT_STORAGE,
        metavar="URL",
        help="sqlite:///PATH or postgresql://USER@HOST/DB (default $ALERTREFLEX_STORAGE, "
        f"else {DEFAULT_STORAGE})",
    )
