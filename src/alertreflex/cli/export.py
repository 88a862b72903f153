"""``alertreflex export-notifications``: the notifications a store holds, as JSON
lines, for ``alertreflex replay --notifications`` (docs/replay.md)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from alertreflex.cli._common import FAILED, OK, USAGE, add_command, add_storage_option

PAGE = 500


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "export-notifications",
        "Print the webhook notifications a store holds, one JSON object per line "
        '({"received_at": ..., "id": ..., "body": ...}), oldest first: the history '
        "that 'alertreflex replay --notifications' replays.",
        "alertreflex export-notifications --storage sqlite:///var/lib/alertreflex/"
        "alertreflex.db --since 7d > notifications.jsonl",
    )
    add_storage_option(p)
    p.add_argument(
        "--since", metavar="DURATION", help="this long until now (default: everything kept)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from alertreflex.core.durations import parse_duration
    from alertreflex.logs import configure_logging
    from alertreflex.store.base import StoreError
    from alertreflex.store.urls import StorageURLError, open_store

    configure_logging("warning")  # standard output holds the notifications only
    end = time.time()
    start = 0.0
    if args.since is not None:
        try:
            start = end - parse_duration(args.since)
        except ValueError as exc:
            print(f"alertreflex export-notifications: --since: {exc}", file=sys.stderr)
            return USAGE
    try:
        store = open_store(args.storage)
    except StorageURLError as exc:
        print(f"alertreflex export-notifications: {exc}", file=sys.stderr)
        return USAGE
    path = getattr(store, "path", None)
    if path is not None and not Path(path).is_file():
        # Opening would make a new, empty store there: a wrong path must say so.
        print(f"alertreflex export-notifications: no store at {path}", file=sys.stderr)
        return FAILED

    async def export() -> int:
        if path is None:
            await store.open()  # SQLite's readers need no open (and no writer)
        count = 0
        try:
            after = (0.0, "")
            while page := await store.notifications_between(start, end, after, PAGE):
                for received_at, nid, body in page:
                    line = {"received_at": received_at, "id": nid, "body": json.loads(body)}
                    sys.stdout.write(json.dumps(line, separators=(",", ":")) + "\n")
                    count += 1
                after = page[-1][:2]
        finally:
            await store.close()
        print(f"exported {count} notification(s)", file=sys.stderr)
        return OK

    try:
        return asyncio.run(export())
    except StoreError as exc:
        print(f"alertreflex export-notifications: {exc}", file=sys.stderr)
        return FAILED
