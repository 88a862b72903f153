"""The CLI reference: the real ``--help`` of ``alertreflex`` and of every subcommand,
taken from the argparse parser the command itself builds."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager

from alertreflex.cli.main import build_parser

# argparse wraps help to the terminal's width (COLUMNS); a fixed width keeps the
# pages the same wherever they are built.
WIDTH = "100"


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Subcommand name -> its parser, in the order ``--help`` lists them."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:  # argparse keeps subparsers only here
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.setdefault(name, sub)
    return found


@contextmanager
def _columns() -> Iterator[None]:
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        yield
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def _block(text: str) -> str:
    return "```text\n" + text.rstrip() + "\n```\n"


def reference() -> str:
    """Markdown: the top-level help, then one section per subcommand (and per
    subcommand of a subcommand, should one ever have its own)."""
    with _columns():
        root = build_parser()
        parts = ["## `alertreflex` {#alertreflex}\n\n", _block(root.format_help())]
        pending = [(name, sub) for name, sub in subcommands(root).items()]
        while pending:
            name, parser = pending.pop(0)
            parts.append(f"\n## `alertreflex {name}` {{#{name.replace(' ', '-')}}}\n\n")
            parts.append(_block(parser.format_help()))
            pending[:0] = [(f"{name} {n}", p) for n, p in subcommands(parser).items()]
    return "".join(parts)
