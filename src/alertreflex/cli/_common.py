"""Helpers shared by the subcommands."""

from __future__ import annotations

import argparse
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
