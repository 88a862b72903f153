"""``alertreflex hash-password``: a bcrypt hash for a user's password_hash_file."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from alertreflex.cli._common import FAILED, OK, USAGE, add_command

DEFAULT_COST = 12
MAX_PASSWORD_BYTES = 72  # bcrypt ignores (or, since bcrypt 5, refuses) the rest


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "hash-password",
        "Print a bcrypt hash of a password, for a user's password_hash_file in "
        "settings.auth. The password is read from stdin when it is not a terminal, "
        "otherwise asked for twice.",
        "alertreflex hash-password > /etc/alertreflex/alice.hash",
    )
    p.add_argument(
        "--cost",
        type=int,
        default=DEFAULT_COST,
        metavar="N",
        help=f"bcrypt cost, 4-31: each step doubles the work (default {DEFAULT_COST})",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import bcrypt

    if not 4 <= args.cost <= 31:
        print("alertreflex: --cost must be between 4 and 31", file=sys.stderr)
        return USAGE
    password = _read_password()
    if password is None:
        return FAILED
    if not password:
        print("alertreflex: the password is empty", file=sys.stderr)
        return FAILED
    raw = password.encode("utf-8")
    if len(raw) > MAX_PASSWORD_BYTES:
        print(
            f"alertreflex: the password is {len(raw)} bytes long; bcrypt uses at most "
            f"{MAX_PASSWORD_BYTES}: choose a shorter one",
            file=sys.stderr,
        )
        return FAILED
    print(bcrypt.hashpw(raw, bcrypt.gensalt(rounds=args.cost)).decode("ascii"))
    return OK


def _read_password() -> str | None:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    try:
        first = getpass.getpass("Password: ")
        again = getpass.getpass("Password again: ")
    except (EOFError, KeyboardInterrupt):
        print(file=sys.stderr)
        return None
    if first != again:
        print("alertreflex: the passwords differ", file=sys.stderr)
        return None
    return first
