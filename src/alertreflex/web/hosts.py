"""Which host names the server answers to: the guard against DNS rebinding.

A web page whose domain is made to resolve to 127.0.0.1 is, for the browser, of the
same origin as whatever listens there: it could read the runs, take a form's token
and post forms. But the browser still sends the page's own name in ``Host``, and no
page can change that header, so the name is checked before anything else:

- without ``settings.auth``, every route answers only to loopback names: 127.0.0.0/8,
  ``[::1]``, ``localhost`` and ``*.localhost`` (which browsers resolve to loopback
  themselves), on any port, since an SSH tunnel changes it and a port cannot be
  rebound;
- with it, the UI and the API answer to ``settings.web.allowed_hosts`` when it is
  set, and always to IP addresses and loopback names (no DNS answer can make a page
  of another site have those); the open routes answer to any name, so that
  Prometheus and Alertmanager may use a service name.

``X-Forwarded-Host`` is not consulted: a page can set it on a same-origin request,
and a reverse proxy is itself the client whose ``Host`` is checked. A request
without ``Host`` (HTTP/1.0) is taken as naming the address it arrived on.
Anything else gets 421 Misdirected Request, with a message that says why.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import structlog
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from alertreflex.config.loader import Config
from alertreflex.config.schema import is_ip_address, join_host, split_host
from alertreflex.lograte import LogBudget
from alertreflex.web.access import is_open_route, refuse

log = structlog.get_logger("alertreflex.hosts")

MISDIRECTED = 421
LOG_BURST = 10  # refusals logged one by one before the log slows down
LOG_RATE = 0.1  # then lines per second, each saying how many were left out
SHOWN = 100  # characters of a refused Host quoted back


@lru_cache(maxsize=1024)
def parse_host(value: str) -> tuple[str, int | None] | None:
    """A Host value as (name, port), or None if it is not one."""
    try:
        return split_host(value)
    except ValueError:
        return None


def is_loopback_name(name: str) -> bool:
    """127.0.0.0/8 and ::1 (also as ::ffff:127.x.y.z), localhost and *.localhost."""
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


@lru_cache(maxsize=1024)
def is_loopback_host(value: str) -> bool:
    """The check run on every request without auth, the webhook's included: cached."""
    host = parse_host(value)
    return host is not None and is_loopback_name(host[0])


@dataclass(frozen=True)
class HostPattern:
    """An entry of settings.web.allowed_hosts, as the config validated it."""

    name: str
    subdomains: bool  # '*.example.org': the names under example.org, not itself
    port: int | None  # None: any port

    @classmethod
    def parse(cls, entry: str) -> HostPattern:
        wildcard = entry.startswith("*.")
        name, port = split_host(entry.removeprefix("*."))
        return cls(name, wildcard, port)

    def matches(self, name: str, port: int | None) -> bool:
        if not (name.endswith("." + self.name) if self.subdomains else name == self.name):
            return False
        # A browser leaves the scheme's default port out of Host.
        return self.port is None or port == self.port or (port is None and self.port in (80, 443))


def authorities(request: web.Request) -> list[str]:
    """Every authority the request names: its Host headers, and the one aiohttp takes
    from an absolute-form target (``GET http://name/ HTTP/1.1``), or from the address
    the request arrived on when Host is missing."""
    values = request.headers.getall(hdrs.HOST, [])
    if request.host in values:
        return values
    url = request.url
    return [*values, join_host(url.raw_host or "", url.explicit_port)]


def host_middleware(
    config_getter: Callable[[], Config], count_refused: Callable[[], None] = lambda: None
) -> Middleware:
    """The middleware, reading settings.auth and allowed_hosts at each request;
    ``count_refused`` counts each refusal."""
    compiled: list[tuple[list[str], tuple[HostPattern, ...]]] = []
    budget = LogBudget(LOG_BURST, LOG_RATE)

    def patterns(entries: list[str]) -> tuple[HostPattern, ...]:
        if not compiled or compiled[0][0] is not entries:  # a reload brings a new list
            compiled[:] = [(entries, tuple(HostPattern.parse(e) for e in entries))]
        return compiled[0][1]

    def allowed(value: str, entries: list[str]) -> bool:
        host = parse_host(value)
        if host is None:
            return False
        name, port = host
        return (
            is_ip_address(name)
            or is_loopback_name(name)
            or any(p.matches(name, port) for p in patterns(entries))
        )

    def misdirected(request: web.Request, value: str, with_auth: bool) -> web.Response:
        count_refused()
        shown = value if len(value) <= SHOWN else value[:SHOWN] + "..."
        if with_auth:
            why = "it is not in settings.web.allowed_hosts, nor an IP address or a loopback name"
        else:
            why = (
                "without settings.auth alertreflex answers only to loopback names "
                "(127.0.0.1, localhost, [::1]), so that no web page can reach it "
                "through DNS rebinding"
            )
        if (left_out := budget.take()) is not None:
            log.warning(
                "host_refused",
                host=shown,
                path=request.path,
                remote=request.remote,
                left_out=left_out,
            )
        return refuse(
            request, MISDIRECTED, f"Host {shown!r} is not served: {why}; see docs/auth.md"
        )

    @web.middleware
    async def check_host(request: web.Request, handler: Handler) -> web.StreamResponse:
        settings = config_getter().settings
        if settings.auth is None:
            for value in authorities(request):
                if not is_loopback_host(value):
                    return misdirected(request, value, with_auth=False)
            return await handler(request)
        entries = settings.web.allowed_hosts
        if entries and not is_open_route(request):
            for value in authorities(request):
                if not allowed(value, entries):
                    return misdirected(request, value, with_auth=True)
        return await handler(request)

    return check_host
