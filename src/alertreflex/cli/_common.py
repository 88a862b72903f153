"""Helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx


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


TOKEN_ENV = "ALERTREFLEX_TOKEN"  # noqa: S105 - the variable's name, not a token


def auth_headers() -> dict[str, str]:
    """Credentials for a server with settings.auth: a bearer token from the
    environment (kept out of argv, where ps would show it)."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    return {"Authorization": f"Bearer {token}"} if token else {}
