"""``alertreflex alertmanager-config``: the Alertmanager receiver and route for alertreflex.

Parses the options and prints; what the route does and why is in
:mod:`alertreflex.wiring.alertmanager`, the text in :mod:`alertreflex.wiring.alertmanager_yaml`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from alertreflex.cli._common import add_command
from alertreflex.wiring.alertmanager import (
    ALL_LABELS,
    AUTHS,
    DEFAULT_FILES,
    DEFAULT_GROUP_INTERVAL,
    DEFAULT_GROUP_WAIT,
    DEFAULT_RECEIVER,
    DEFAULT_USERNAME,
    WiringError,
    wiring_from_options,
)

EXAMPLE = """alertreflex alertmanager-config --url http://alertreflex.example:8976 \\
      --auth bearer --credentials-file /etc/alertmanager/alertreflex.token

  Paste the receiver and the route into alertmanager.yml as the comments say, then
  check it: amtool check-config alertmanager.yml
  --full prints a whole alertmanager.yml to start from."""


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "alertmanager-config",
        "Print the Alertmanager receiver and route that send alerts to alertreflex "
        "(webhook URL, send_resolved, credentials), with comments saying where each "
        "goes; valid for amtool check-config. Nothing is changed or contacted.",
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
    p.add_argument(
        "--full",
        action="store_true",
        help="print a complete alertmanager.yml (with a receiver for people to fill in) "
        "instead of the parts to paste",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from alertreflex.wiring.alertmanager_yaml import render_full, render_snippet

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
    sys.stdout.write(render_full(wiring) if args.full else render_snippet(wiring))
    return 0
