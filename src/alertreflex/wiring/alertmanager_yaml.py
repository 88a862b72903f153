"""The Alertmanager receiver and route as alertmanager.yml text, with comments in place.

The layout is written out line by line because its comments sit between the keys
of one mapping (before ``send_resolved``, before ``group_interval``), where a YAML
library cannot put them. Only fixed text is written as is: every value that came from
an option goes through :func:`scalar` (PyYAML's emitter) or, inside a comment, through
:func:`_one_line`, so no option can end a line, open a key or leave a character YAML
refuses, whatever :class:`Wiring` holds.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from alertreflex.wiring.alertmanager import ALL_LABELS, PEOPLE, Wiring

_DURATION = re.compile(r"([0-9]+(ms|[ywdhms]))+")


def scalar(text: str) -> str:
    """``text`` as a double-quoted YAML scalar on one line, read back as exactly ``text``.

    PyYAML escapes what YAML would otherwise read differently: control characters, the
    line breaks U+0085, U+2028 and U+2029 (even inside quotes), quotes and backslashes.
    """
    out = yaml.dump(
        text, Dumper=yaml.SafeDumper, default_style='"', allow_unicode=True, width=1 << 30
    )
    return out.removesuffix("\n")


def _flow(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(scalar(i) for i in items) + "]"


def _matchers(items: tuple[str, ...]) -> str:
    """Matchers single-quoted as people write them (``['team="a"']``), when that reads
    back as the text: printable, no quote to double; otherwise as :func:`scalar`."""
    quoted = (f"'{m}'" if m.isprintable() and "'" not in m else scalar(m) for m in items)
    return "[" + ", ".join(quoted) + "]"


def _duration(text: str) -> str:
    # Unquoted as people write durations (no YAML reader takes 1h30m for anything but
    # text); anything else quoted, "0" too, which would read as a number.
    return text if _DURATION.fullmatch(text) else scalar(text)


def _one_line(text: str) -> str:
    """Option text inside a comment: what would end the line or is not printable, escaped."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def _at(lines: list[str], written_at: int, dash: int) -> list[str]:
    """``lines``, a list item written with its dash at column ``written_at``, moved to
    column ``dash`` (each line has at least ``written_at`` leading spaces)."""
    return [" " * dash + line[written_at:] for line in lines]


def receiver_lines(w: Wiring, dash: int) -> list[str]:
    """The receiver as an item of ``receivers:`` whose dash is at column ``dash``."""
    return _at(_receiver(w), 2, dash)


def _receiver(w: Wiring) -> list[str]:
    lines = [
        f"  - name: {scalar(w.receiver)}",
        "    webhook_configs:",
        f"      - url: {scalar(w.webhook_url)}",
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
            f"            credentials_file: {scalar(w.credentials_file)}",
        ]
    elif w.auth == "basic":
        lines += [
            "          basic_auth:",
            f"            username: {scalar(w.username)}",
            f"            password_file: {scalar(w.credentials_file)}",
        ]
    if w.url.startswith("https://"):  # check_url lower-cases the scheme
        lines += [
            "        # A certificate from a private CA: add under http_config",
            "        #   tls_config: {ca_file: /etc/alertmanager/alertreflex-ca.pem}",
        ]
    return lines


def _secret(w: Wiring) -> str:
    return "token" if w.auth == "bearer" else "password"


def route_lines(w: Wiring, dash: int) -> list[str]:
    """The route as an item of ``routes:`` whose dash is at column ``dash``, under a
    comment that says where it came from (for a file merged into)."""
    heading = [
        "    # alertreflex runs its reflexes for these alerts (added by alertreflex",
        "    # alertmanager-config --merge).",
    ]
    return _at([*heading, *_route(w)], 4, dash)


def fallback_lines(routes: list[dict[str, Any]], dash: int) -> list[str]:
    """The routes that keep the top-level receiver's fallback (see alertmanager_merge)."""
    if not routes:
        return []
    lines = [
        "    # Added with alertreflex's route. Alertmanager gives the top-level receiver",
        "    # only the alerts that no route matches, and alertreflex's route matches",
        "    # them now: this gives them back to it, exactly those.",
    ]
    if any("matchers" in r for r in routes):
        lines += [
            "    # The matchers leave out what your routes with `continue: true` match:",
            "    # those alerts never went to the top-level receiver.",
        ]
    for route in routes:
        lines.append(f"    - receiver: {scalar(route['receiver'])}")
        if "matchers" in route:
            lines.append(f"      matchers: {_matchers(tuple(route['matchers']))}")
    return _at(lines, 4, dash)


def _route(w: Wiring) -> list[str]:
    lines = [f"    - receiver: {scalar(w.receiver)}"]
    lines += [
        "      # Every alert goes on to the routes after this one: people are still",
        "      # notified as before.",
        "      continue: true",
    ]
    if w.matchers:
        lines += [
            "      # Only these alerts; alertreflex ignores an alert that no reflex matches.",
            f"      matchers: {_matchers(w.matchers)}",
        ]
    if w.group_by == (ALL_LABELS,):
        lines += [
            "      # One group per alert ('...' is all labels): alertreflex acts on each alert",
            "      # on its own, so each notification carries one alert and is sent without",
            "      # waiting for others.",
        ]
    lines += [
        f"      group_by: {_flow(w.group_by)}",
        f"      group_wait: {_duration(w.group_wait)}",
        "      # A group's changes go out at this pace: how soon a resolved alert arrives.",
        f"      group_interval: {_duration(w.group_interval)}",
    ]
    if w.repeat_interval is not None:
        lines += [
            "      # Repeats start nothing new in alertreflex (one run per alert episode).",
            f"      repeat_interval: {_duration(w.repeat_interval)}",
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
            f"#       basic_auth: {{username: {scalar(w.username)}, "
            "password_file: /etc/alertreflex/webhook.password}",
        ]
    else:
        lines += ["#   nothing for this receiver (no settings.webhook_auth)."]
    lines += [
        "# alertreflex listens beyond 127.0.0.1 only with settings.auth (docs/auth.md).",
    ]
    return lines


def render_snippet(w: Wiring) -> str:
    """The receiver and the route, each with where it goes in alertmanager.yml: a
    fragment, which amtool check-config refuses on its own (it has no top-level
    receiver), and the header says so."""
    lines = [
        f"# The Alertmanager receiver and route for alertreflex at {_one_line(w.url)}.",
        "# A FRAGMENT, not a whole alertmanager.yml: amtool check-config refuses it on",
        "# its own. Paste each part where its comment says, then check the whole file:",
        "#   amtool check-config alertmanager.yml",
        "# Or let alertreflex do both: the same options with --merge alertmanager.yml",
        "# print your file with them added (--in-place writes it). --full prints a",
        "# complete alertmanager.yml instead.",
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
        "#    child route matched it, and the route above matches. To keep those alerts",
        "#    going there, end the `routes:` list with",
        "#      - receiver: <the top-level route's receiver>",
        "#    That is exact when none of your top-level routes has `continue: true`;",
        "#    --merge works out the exact routes in every case.",
        "",
        *_alertreflex_side(w),
    ]
    return "\n".join(lines) + "\n"


def render_full(w: Wiring) -> str:
    """A whole alertmanager.yml: alertreflex first, then a receiver for people."""
    lines = [
        f"# A complete alertmanager.yml for alertreflex at {_one_line(w.url)}",
        "# (printed by alertreflex alertmanager-config --full; amtool check-config",
        "# accepts it as it is).",
        "",
        "route:",
        "  # People's receiver (fill it in under receivers) gets what no route takes.",
        f"  receiver: {scalar(PEOPLE)}",
        '  group_by: ["alertname"]',
        "  routes:",
        *_route(w),
        "    # Your own routes go here, after alertreflex's.",
        "    # Last: alerts no route above stopped at still reach people (Alertmanager",
        "    # uses the top-level receiver only when no child route matched).",
        f"    - receiver: {scalar(PEOPLE)}",
        "",
        "receivers:",
        *_receiver(w),
        "  # People: add their notifications here (email_configs, slack_configs, ...).",
        "  # With none, Alertmanager notifies nobody for this receiver.",
        f"  - name: {scalar(PEOPLE)}",
        "",
        *_alertreflex_side(w),
    ]
    return "\n".join(lines) + "\n"
