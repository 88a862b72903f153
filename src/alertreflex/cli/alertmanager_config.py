"""``alertreflex alertmanager-config``: the Alertmanager receiver and route for alertreflex.

The route is a first child route with ``continue: true``: every alert still goes on
to the routes after it, so people are notified as before. It groups by all labels
(``group_by: ['...']``): alertreflex acts on each alert on its own, so a group of one
is sent as soon as the alert arrives (nothing to wait for), each notification
carries one alert, and a resolved alert is sent within ``group_interval`` whatever
its former group companions do.

Alertmanager gives an alert to the top-level route's receiver only when no child
route matched it, and this route matches: the output says how to keep that fallback
(``--full`` does it), since otherwise those alerts would reach alertreflex only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from alertreflex.cli._common import add_command

EXAMPLE = """alertreflex alertmanager-config --url http://alertreflex.example:8976 \\
      --auth bearer --credentials-file /etc/alertmanager/alertreflex.token

  Paste the receiver and the route into alertmanager.yml as the comments say, then
  check it: amtool check-config alertmanager.yml
  --full prints a whole alertmanager.yml to start from."""

DEFAULT_FILES = {
    "bearer": "/etc/alertmanager/alertreflex.token",
    "basic": "/etc/alertmanager/alertreflex.password",
}
PEOPLE = "default"  # --full's receiver for people
_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RECEIVER = re.compile(r"^\S(.*\S)?$")


class WiringError(ValueError):
    """An option is wrong; the message names it."""


@dataclass(frozen=True)
class Wiring:
    url: str  # alertreflex's base URL, without a trailing slash
    receiver: str
    auth: str  # none, bearer or basic
    credentials_file: str
    username: str
    matchers: tuple[str, ...]
    group_by: tuple[str, ...]
    group_wait: str
    group_interval: str
    repeat_interval: str | None

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/webhook"


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
        default="alertreflex",
        metavar="NAME",
        help="name of the receiver (default alertreflex)",
    )
    p.add_argument(
        "--auth",
        choices=["none", "bearer", "basic"],
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
        help="basic auth user name (default alertmanager)",
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
        default="...",
        metavar="LABELS",
        help="comma-separated labels of the route's group_by (default '...': all labels, "
        "one alert per notification)",
    )
    p.add_argument(
        "--group-wait",
        default="0s",
        metavar="DURATION",
        help="the route's group_wait (default 0s)",
    )
    p.add_argument(
        "--group-interval",
        default="30s",
        metavar="DURATION",
        help="the route's group_interval: how soon a resolved alert is sent (default 30s)",
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
    try:
        wiring = wiring_from_args(args)
    except WiringError as exc:
        print(f"alertreflex: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(render_full(wiring) if args.full else render_snippet(wiring))
    return 0


def wiring_from_args(args: argparse.Namespace) -> Wiring:
    """The options, checked; raise WiringError naming the first wrong one."""
    from alertreflex.core.durations import parse_duration
    from alertreflex.core.matchers import MatcherError, parse_matcher

    url = check_url(args.url)
    receiver = args.receiver
    if not _RECEIVER.match(receiver):
        raise WiringError(f"--receiver {receiver!r}: a name without surrounding spaces")
    if args.full and receiver == PEOPLE:
        raise WiringError(f"--receiver {PEOPLE!r} is the name --full gives people's receiver")
    if args.auth == "none":
        for flag, value in (
            ("--credentials-file", args.credentials_file),
            ("--username", args.username),
        ):
            if value is not None:
                raise WiringError(f"{flag} needs --auth bearer or --auth basic")
    if args.auth == "bearer" and args.username is not None:
        raise WiringError("--username is for --auth basic; a bearer token has no user")
    credentials_file = args.credentials_file or DEFAULT_FILES.get(args.auth, "")
    if args.auth != "none" and not credentials_file.strip():
        raise WiringError("--credentials-file is empty")
    username = args.username if args.username is not None else "alertmanager"
    if args.auth == "basic" and (not username or ":" in username):
        raise WiringError(f"--username {username!r}: not empty, and without ':'")
    matchers = []
    for text in args.match:
        try:
            matchers.append(str(parse_matcher(text.strip())))
        except MatcherError as exc:
            raise WiringError(f"--match {text!r}: {exc}") from None
    group_by = tuple(g.strip() for g in args.group_by.split(","))
    if "..." in group_by and len(group_by) > 1:
        raise WiringError("--group-by: '...' (all labels) cannot be combined with labels")
    for label in group_by:
        if label != "..." and not _LABEL.match(label):
            raise WiringError(f"--group-by: {label!r} is not a label name")
    durations: dict[str, str] = {}
    for flag, value, zero_ok in (
        ("--group-wait", args.group_wait, True),
        ("--group-interval", args.group_interval, False),
        ("--repeat-interval", args.repeat_interval, False),
    ):
        if value is None:
            continue
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise WiringError(f"{flag}: {exc}") from None
        if seconds == 0 and not zero_ok:
            raise WiringError(f"{flag} must be more than 0")
        durations[flag] = value.strip()
    return Wiring(
        url=url,
        receiver=receiver,
        auth=args.auth,
        credentials_file=credentials_file,
        username=username,
        matchers=tuple(matchers),
        group_by=group_by,
        group_wait=durations["--group-wait"],
        group_interval=durations["--group-interval"],
        repeat_interval=durations.get("--repeat-interval"),
    )


def check_url(url: str) -> str:
    """alertreflex's base URL without a trailing slash; WiringError if it cannot be one."""
    where = f"--url {url!r}"
    if any(c.isspace() for c in url.strip()):
        raise WiringError(f"{where}: contains white space")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise WiringError(f"{where}: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise WiringError(f"{where}: needs http:// or https://, e.g. http://alertreflex:8976")
    if not parts.hostname:
        raise WiringError(f"{where}: has no host")
    if parts.username is not None or parts.password is not None:
        raise WiringError(f"{where}: put credentials in --auth, not in the URL")
    if parts.query or parts.fragment or url.strip().endswith(("?", "#")):
        raise WiringError(f"{where}: a base URL has no query or fragment")
    if port == 0:
        raise WiringError(f"{where}: port 0")
    path = parts.path.rstrip("/")
    if path.endswith("/webhook"):
        raise WiringError(f"{where}: give alertreflex's base URL; /webhook is added to it")
    return f"{parts.scheme}://{parts.netloc}{path}"


def _q(text: str) -> str:
    # A JSON string is a YAML double-quoted scalar: safe for any name, path or matcher.
    return json.dumps(text, ensure_ascii=False)


def _flow(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(_q(i) for i in items) + "]"


def _receiver(w: Wiring) -> list[str]:
    lines = [
        f"  - name: {_q(w.receiver)}",
        "    webhook_configs:",
        f"      - url: {_q(w.webhook_url)}",
        "        # Resolved notifications run the reflexes' on_resolved steps and put back",
        "        # what reversible steps (log_level, am_silence) changed.",
        "        send_resolved: true",
        "        # No limit: alerts cut from a notification would never reach alertreflex.",
        "        max_alerts: 0",
    ]
    if w.auth == "none":
        lines += [
            "        # No credentials: anyone who can reach alertreflex can post alerts to it.",
            "        # Prefer --auth bearer (or basic) with settings.webhook_auth.",
        ]
    else:
        lines += [
            "        http_config:",
            f"          # The file must hold the same {_secret(w)} as alertreflex's",
            "          # settings.webhook_auth, and be readable by Alertmanager's user; it is",
            "          # read again for every notification, so it can be rotated in place.",
        ]
    if w.auth == "bearer":
        lines += [
            "          authorization:",
            "            type: Bearer",
            f"            credentials_file: {_q(w.credentials_file)}",
        ]
    elif w.auth == "basic":
        lines += [
            "          basic_auth:",
            f"            username: {_q(w.username)}",
            f"            password_file: {_q(w.credentials_file)}",
        ]
    if urlsplit(w.url).scheme == "https":
        lines += [
            "        # A certificate from a private CA: add under http_config",
            "        #   tls_config: {ca_file: /etc/alertmanager/alertreflex-ca.pem}",
        ]
    return lines


def _secret(w: Wiring) -> str:
    return "token" if w.auth == "bearer" else "password"


def _route(w: Wiring) -> list[str]:
    lines = [f"    - receiver: {_q(w.receiver)}"]
    lines += [
        "      # Every alert goes on to the routes after this one: people are still",
        "      # notified as before.",
        "      continue: true",
    ]
    if w.matchers:
        lines += [
            "      # Only these alerts; alertreflex ignores an alert that no reflex matches.",
            f"      matchers: {_flow(w.matchers)}",
        ]
    if w.group_by == ("...",):
        lines += [
            "      # One group per alert ('...' is all labels): alertreflex acts on each alert",
            "      # on its own, so each notification carries one alert and is sent without",
            "      # waiting for others.",
        ]
    lines += [
        f"      group_by: {_flow(w.group_by)}",
        f"      group_wait: {w.group_wait}",
        "      # A group's changes go out at this pace: how soon a resolved alert arrives.",
        f"      group_interval: {w.group_interval}",
    ]
    if w.repeat_interval is not None:
        lines += [
            "      # Repeats start nothing new in alertreflex (one run per alert episode).",
            f"      repeat_interval: {w.repeat_interval}",
        ]
    return lines


def _alertreflex_side(w: Wiring) -> list[str]:
    lines = ["# On alertreflex's side, in its config file:"]
    if w.auth == "bearer":
        lines += [
            "#   settings:",
            "#     webhook_auth:",
            "#       bearer_token_file: /etc/alertreflex/webhook.token   # the same token",
        ]
    elif w.auth == "basic":
        lines += [
            "#   settings:",
            "#     webhook_auth:",
            f"#       basic_auth: {{username: {_q(w.username)}, "
            "password_file: /etc/alertreflex/webhook.password}",
        ]
    else:
        lines += ["#   nothing for this receiver (no settings.webhook_auth)."]
    lines += [
        "# alertreflex listens beyond 127.0.0.1 only with settings.auth (docs/auth.md).",
    ]
    return lines


def _heading(w: Wiring, what: str) -> list[str]:
    return [
        f"# {what} for alertreflex at {w.url}",
        "# (printed by alertreflex alertmanager-config; check with amtool check-config).",
    ]


def render_snippet(w: Wiring) -> str:
    """The receiver and the route, each with where it goes in alertmanager.yml."""
    lines = [
        *_heading(w, "Alertmanager receiver and route"),
        "",
        "# 1. Add this receiver to the top-level `receivers:` list.",
        "receivers:",
        *_receiver(w),
        "",
        "# 2. Add this route as the FIRST entry of the `routes:` list of the top-level",
        "#    `route:` (routes are tried in order, and one without `continue: true`",
        "#    stops the search).",
        "route:",
        "  routes:",
        *_route(w),
        "",
        "# 3. Alertmanager sends an alert to the top-level route's receiver only when no",
        "#    child route matched it, and the route above matches. If that receiver",
        "#    catches what your other routes leave, end the `routes:` list with",
        "#      - receiver: <the top-level route's receiver>",
        "#    (--full shows it in place).",
        "",
        *_alertreflex_side(w),
    ]
    return "\n".join(lines) + "\n"


def render_full(w: Wiring) -> str:
    """A whole alertmanager.yml: alertreflex first, then a receiver for people."""
    lines = [
        *_heading(w, "A complete alertmanager.yml"),
        "",
        "route:",
        "  # People's receiver (fill it in under receivers) gets what no route takes.",
        f"  receiver: {_q(PEOPLE)}",
        '  group_by: ["alertname"]',
        "  routes:",
        *_route(w),
        "    # Your own routes go here, after alertreflex's.",
        "    # Last: alerts no route above stopped at still reach people (Alertmanager",
        "    # uses the top-level receiver only when no child route matched).",
        f"    - receiver: {_q(PEOPLE)}",
        "",
        "receivers:",
        *_receiver(w),
        "  # People: add their notifications here (email_configs, slack_configs, ...).",
        "  # With none, Alertmanager notifies nobody for this receiver.",
        f"  - name: {_q(PEOPLE)}",
        "",
        *_alertreflex_side(w),
    ]
    return "\n".join(lines) + "\n"
