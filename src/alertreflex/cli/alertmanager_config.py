"""``alertreflex alertmanager-config``: the Alertmanager receiver and route for alertreflex.

Parses the options, prints, and with ``--merge --in-place`` writes the file; what the
route does and why is in :mod:`alertreflex.wiring.alertmanager`, the text in
:mod:`alertreflex.wiring.alertmanager_yaml`, the merge in
:mod:`alertreflex.wiring.alertmanager_merge`.

Exit codes: 0 done (or already merged), 1 the file cannot be read, merged or written,
2 a wrong option.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

from alertreflex.cli._common import add_command
from alertreflex.files import fsync_dir
from alertreflex.wiring.alertmanager import (
    ALL_LABELS,
    AUTHS,
    DEFAULT_FILES,
    DEFAULT_GROUP_INTERVAL,
    DEFAULT_GROUP_WAIT,
    DEFAULT_RECEIVER,
    DEFAULT_USERNAME,
    Wiring,
    WiringError,
    wiring_from_options,
)

EXAMPLE = """alertreflex alertmanager-config --url http://alertreflex.example:8976 \\
      --auth bearer --credentials-file /etc/alertmanager/alertreflex.token \\
      --merge /etc/alertmanager/alertmanager.yml --in-place
  amtool check-config /etc/alertmanager/alertmanager.yml

  Without --merge it prints a fragment to paste as its comments say (amtool
  check-config refuses the fragment alone); --full prints a whole alertmanager.yml."""


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "alertmanager-config",
        "The Alertmanager receiver and route that send alerts to alertreflex (webhook "
        "URL, send_resolved, credentials). By default a fragment to paste, with comments "
        "saying where each part goes: not a whole alertmanager.yml, so check the file "
        "you paste it into with amtool check-config. --full prints a complete "
        "alertmanager.yml that amtool check-config accepts as it is; --merge FILE prints "
        "FILE with both added, every alert still reaching the receivers it reached "
        "(--in-place writes FILE). Nothing is contacted.",
        EXAMPLE,
    )
    p.add_argument(
        "--url",
        required=True,
        help="alertreflex's base URL as Alertmanager reaches it; /webhook is added",
    )
    p.add_argument(
        "--receiver",
        default=DEFAULT_RECEIVER,
        metavar="NAME",
        help=f"name of the receiver (default {DEFAULT_RECEIVER})",
    )
    p.add_argument(
        "--auth",
        choices=AUTHS,
        default="none",
        help="credentials Alertmanager sends, as alertreflex's settings.webhook_auth "
        "expects them (default none)",
    )
    p.add_argument(
        "--credentials-file",
        metavar="PATH",
        help="on the Alertmanager host, the file holding the bearer token or the basic "
        f"auth password (default {DEFAULT_FILES['bearer']} or {DEFAULT_FILES['basic']})",
    )
    p.add_argument(
        "--username",
        metavar="USER",
        help=f"basic auth user name (default {DEFAULT_USERNAME})",
    )
    p.add_argument(
        "--match",
        action="append",
        default=[],
        metavar="MATCHER",
        help="send only alerts matching this Alertmanager matcher, e.g. 'team=~\"a|b\"' "
        "(repeat to AND several; default: every alert)",
    )
    p.add_argument(
        "--group-by",
        default=ALL_LABELS,
        metavar="LABELS",
        help="comma-separated labels of the route's group_by (default '...': all labels, "
        "one alert per notification)",
    )
    p.add_argument(
        "--group-wait",
        default=DEFAULT_GROUP_WAIT,
        metavar="DURATION",
        help=f"the route's group_wait (default {DEFAULT_GROUP_WAIT})",
    )
    p.add_argument(
        "--group-interval",
        default=DEFAULT_GROUP_INTERVAL,
        metavar="DURATION",
        help="the route's group_interval: how soon a resolved alert is sent "
        f"(default {DEFAULT_GROUP_INTERVAL})",
    )
    p.add_argument(
        "--repeat-interval",
        metavar="DURATION",
        help="the route's repeat_interval (default: the parent route's; alertreflex "
        "ignores repeats, so this only sets how often they come)",
    )
    output = p.add_mutually_exclusive_group()
    output.add_argument(
        "--full",
        action="store_true",
        help="print a complete alertmanager.yml (with a receiver for people to fill in) "
        "instead of the fragment to paste",
    )
    output.add_argument(
        "--merge",
        metavar="FILE",
        help="print FILE, an existing alertmanager.yml, with the receiver added and the "
        "route first under its top-level route; comments and layout are kept, and "
        "merging again changes nothing",
    )
    p.add_argument(
        "--in-place",
        action="store_true",
        help="with --merge: write FILE (atomically, keeping its mode and owner) instead "
        "of printing it",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from alertreflex.wiring.alertmanager_yaml import render_full, render_snippet

    if args.in_place and args.merge is None:
        print("alertreflex: --in-place needs --merge FILE", file=sys.stderr)
        return 2
    try:
        wiring = wiring_from_options(
            url=args.url,
            receiver=args.receiver,
            auth=args.auth,
            credentials_file=args.credentials_file,
            username=args.username,
            match=args.match,
            group_by=[label.strip() for label in args.group_by.split(",")],
            group_wait=args.group_wait,
            group_interval=args.group_interval,
            repeat_interval=args.repeat_interval,
            full=args.full,
        )
    except WiringError as exc:
        print(f"alertreflex: {exc}", file=sys.stderr)
        return 2
    if args.merge is not None:
        return _merge(Path(args.merge), wiring, in_place=args.in_place)
    sys.stdout.write(render_full(wiring) if args.full else render_snippet(wiring))
    return 0


def _merge(path: Path, wiring: Wiring, *, in_place: bool) -> int:
    from alertreflex.wiring.alertmanager_merge import MergeError, merge

    try:
        with path.open(encoding="utf-8", newline="") as f:  # newline="": keep CRLF as is
            text = f.read()
        merged = merge(text, wiring)
        if in_place and merged.changed:
            _write_keeping_mode(path, merged.text)
    except (OSError, UnicodeDecodeError, MergeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        print(f"alertreflex: {path}: {reason}", file=sys.stderr)
        return 1
    if not in_place:
        sys.stdout.write(merged.text)
    for note in merged.notes:
        print(f"alertreflex: {path}: {note}", file=sys.stderr)
    if merged.changed:
        done = "written" if in_place else "printed; nothing written (--in-place writes it)"
        print(f"alertreflex: {path}: {done}", file=sys.stderr)
        if wiring.auth != "none":
            print(
                "alertreflex: alertreflex must check the same credentials: "
                "settings.webhook_auth (docs/operations/alertmanager.md#credentials)",
                file=sys.stderr,
            )
    return 0


def _write_keeping_mode(path: Path, text: str) -> None:
    """Replace the file atomically; the new one keeps the old one's mode, owner and
    group (alertmanager.yml often holds secrets, readable by Alertmanager's group only).
    A symlink is followed, so that the file it points to is the one replaced."""
    target = path.resolve()
    old = target.stat()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, stat.S_IMODE(old.st_mode))
        with contextlib.suppress(PermissionError):  # only root may give a file away
            os.chown(tmp, old.st_uid, old.st_gid)
        new = os.stat(tmp)
        if (new.st_uid, new.st_gid) != (old.st_uid, old.st_gid):
            raise PermissionError(
                0, "cannot keep its owner and group; run as its owner or root (nothing written)"
            )
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(target.parent)
