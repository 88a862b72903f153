"""``alertreflex migrate``: create or upgrade the store's schema.

A shared PostgreSQL store only changes schema here, never at ``serve``: replicas of
the old release keep running until the operator decides. An SQLite file is
migrated at ``serve`` too (it belongs to one process); this command does it ahead.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from alertreflex.cli._common import FAILED, OK, USAGE, add_command, add_storage_option


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "migrate",
        "Create the store's tables or bring them to this release's schema version, in "
        "one transaction. Run it before starting replicas of a new release on "
        "PostgreSQL: serve refuses a schema it does not know.",
        "alertreflex migrate --storage postgresql://alertreflex@db.example/alertreflex",
    )
    add_storage_option(p)
    p.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 if the schema needs migrating",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from alertreflex.store.base import StoreError
    from alertreflex.store.migrations import describe, migrate_store
    from alertreflex.store.urls import StorageURLError, redact

    try:
        before, after = asyncio.run(migrate_store(args.storage, check=args.check))
    except StorageURLError as exc:
        print(f"alertreflex: {exc}", file=sys.stderr)
        return USAGE
    except StoreError as exc:  # unreachable, or not a store this release can migrate
        print(f"alertreflex: {exc}", file=sys.stderr)
        return FAILED
    where = redact(args.storage)
    if args.check:
        print(f"{where}: {describe(before)}; this alertreflex needs version {after}")
        return OK if before == after else FAILED
    if before == after:
        print(f"{where}: schema version {after}, nothing to do")
    else:
        print(f"{where}: {describe(before)} -> schema version {after}")
    return OK
