"""The Alertmanager receiver and route that send alerts to alertreflex: the options, checked.

The route is a first child route with ``continue: true``: every alert still goes on
to the routes after it, so people are notified as before. It groups by all labels
(``group_by: ['...']``): alertreflex acts on each alert on its own, so a group of one
is sent as soon as the alert arrives (nothing to wait for), each notification
carries one alert, and a resolved alert is sent within ``group_interval`` whatever
its former group companions do.

Alertmanager gives an alert to the top-level route's receiver only when no child
route matched it, and this route matches: those alerts would reach alertreflex only.
``--full`` ends the routes with a catch-all for people; ``--merge`` works out the
routes that keep exactly the old fallback (:mod:`alertreflex.wiring.alertmanager_merge`).

``alertreflex alertmanager-config`` is the one front end, so a WiringError names the
option as that command spells it. The text is rendered by
:mod:`alertreflex.wiring.alertmanager_yaml`; :func:`receiver_data` and
:func:`route_data` say what it must read as.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

AUTHS = ("none", "bearer", "basic")
DEFAULT_FILES = {
    "bearer": "/etc/alertmanager/alertreflex.token",
    "basic": "/etc/alertmanager/alertreflex.password",
}
DEFAULT_RECEIVER = "alertreflex"
DEFAULT_USERNAME = "alertmanager"
ALL_LABELS = "..."  # group_by's "every label": one alert per group
DEFAULT_GROUP_WAIT = "0s"
DEFAULT_GROUP_INTERVAL = "30s"
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
    matchers: tuple[str, ...]  # in Alertmanager's matcher syntax
    group_by: tuple[str, ...]
    group_wait: str
    group_interval: str
    repeat_interval: str | None

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/webhook"


def wiring_from_options(
    *,
    url: str,
    receiver: str = DEFAULT_RECEIVER,
    auth: str = "none",
    credentials_file: str | None = None,
    username: str | None = None,
    match: Sequence[str] = (),
    group_by: Sequence[str] = (ALL_LABELS,),
    group_wait: str = DEFAULT_GROUP_WAIT,
    group_interval: str = DEFAULT_GROUP_INTERVAL,
    repeat_interval: str | None = None,
    full: bool = False,
) -> Wiring:
    """The options, checked; raise WiringError naming the first wrong one.

    ``full`` says the whole alertmanager.yml is wanted, where ``PEOPLE`` is taken.
    """
    from alertreflex.core.durations import parse_duration
    from alertreflex.core.matchers import MatcherError, parse_matcher

    checked_url = check_url(url)
    _check_text("--receiver", receiver)
    if not _RECEIVER.match(receiver):
        raise WiringError(f"--receiver {receiver!r}: a name without surrounding spaces")
    if full and receiver == PEOPLE:
        raise WiringError(f"--receiver {PEOPLE!r} is the name --full gives people's receiver")
    if auth not in AUTHS:
        raise WiringError(f"--auth {auth!r}: one of {', '.join(AUTHS)}")
    if auth == "none":
        for flag, value in (("--credentials-file", credentials_file), ("--username", username)):
            if value is not None:
                raise WiringError(f"{flag} needs --auth bearer or --auth basic")
    if auth == "bearer" and username is not None:
        raise WiringError("--username is for --auth basic; a bearer token has no user")
    path = credentials_file or DEFAULT_FILES.get(auth, "")
    if auth != "none" and not path.strip():
        raise WiringError("--credentials-file is empty")
    _check_text("--credentials-file", path)
    user = username if username is not None else DEFAULT_USERNAME
    if auth == "basic" and (not user or ":" in user):
        raise WiringError(f"--username {user!r}: not empty, and without ':'")
    _check_text("--username", user)
    matchers = []
    for text in match:
        _check_text("--match", text)
        try:
            matchers.append(str(parse_matcher(text.strip())))
        except MatcherError as exc:
            raise WiringError(f"--match {text!r}: {exc}") from None
    labels = tuple(group_by)
    if ALL_LABELS in labels and len(labels) > 1:
        raise WiringError("--group-by: '...' (all labels) cannot be combined with labels")
    for label in labels:
        if label != ALL_LABELS and not _LABEL.match(label):
            raise WiringError(f"--group-by: {label!r} is not a label name")
    durations: dict[str, str] = {}
    for flag, value, zero_ok in (
        ("--group-wait", group_wait, True),
        ("--group-interval", group_interval, False),
        ("--repeat-interval", repeat_interval, False),
    ):
        if value is None:
            continue
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise WiringError(f"{flag}: {exc}") from None
        if not value.isascii():  # Python's \d takes any script's digits; Alertmanager does not
            raise WiringError(f"{flag} {value!r}: digits 0-9 and a unit, e.g. 30s")
        if seconds == 0 and not zero_ok:
            raise WiringError(f"{flag} must be more than 0")
        durations[flag] = value.strip()
    return Wiring(
        url=checked_url,
        receiver=receiver,
        auth=auth,
        credentials_file=path,
        username=user,
        matchers=tuple(matchers),
        group_by=labels,
        group_wait=durations["--group-wait"],
        group_interval=durations["--group-interval"],
        repeat_interval=durations.get("--repeat-interval"),
    )


def check_url(url: str) -> str:
    """alertreflex's base URL without a trailing slash; WiringError if it cannot be one."""
    where = f"--url {url!r}"
    if any(c.isspace() for c in url.strip()):
        raise WiringError(f"{where}: contains white space")
    if any(ord(c) < 0x20 or c == "\x7f" for c in url.strip()):  # as Go's net/url refuses them
        raise WiringError(f"{where}: contains a control character")
    _check_text("--url", url)
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


def _check_text(flag: str, value: str) -> None:
    # Bytes that are not UTF-8 reach argv as lone surrogates, which no YAML can carry.
    if any("\ud800" <= ch <= "\udfff" for ch in value):
        raise WiringError(f"{flag} {value!r}: not UTF-8 text")


def receiver_data(w: Wiring) -> dict[str, Any]:
    """The receiver as alertmanager.yml reads once loaded."""
    webhook: dict[str, Any] = {"url": w.webhook_url, "send_resolved": True, "max_alerts": 0}
    if w.auth == "bearer":
        webhook["http_config"] = {
            "authorization": {"type": "Bearer", "credentials_file": w.credentials_file}
        }
    elif w.auth == "basic":
        webhook["http_config"] = {
            "basic_auth": {"username": w.username, "password_file": w.credentials_file}
        }
    return {"name": w.receiver, "webhook_configs": [webhook]}


def route_data(w: Wiring) -> dict[str, Any]:
    """The route as alertmanager.yml reads once loaded."""
    route: dict[str, Any] = {"receiver": w.receiver, "continue": True}
    if w.matchers:
        route["matchers"] = list(w.matchers)
    route |= {"group_by": list(w.group_by), "group_wait": w.group_wait}
    route["group_interval"] = w.group_interval
    if w.repeat_interval is not None:
        route["repeat_interval"] = w.repeat_interval
    return route
