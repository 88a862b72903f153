"""The ``alertreflex`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from alertreflex import __version__
from alertreflex.cli import (
    alertmanager_config,
    check,
    convert_amx,
    convert_rules,
    decide,
    demo,
    export,
    hash_password,
    migrate,
    pause,
    replay,
    runs,
    schema,
    serve,
    sync,
    test_reflexes,
    testcmd,
)
from alertreflex.cli._common import EXIT_STATUS_HELP


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alertreflex",
        description="Turns Prometheus alerts into automatic, owned, audited operations.",
        epilog="Run 'alertreflex COMMAND --help' for a command's options and an example.\n\n"
        + EXIT_STATUS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"alertreflex {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (
        serve,
        check,
        testcmd,
        test_reflexes,
        replay,
        export,
        runs,
        pause,
        decide,
        hash_password,
        migrate,
        sync,
        convert_rules,
        convert_amx,
        alertmanager_config,
        schema,
        demo,
    ):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
