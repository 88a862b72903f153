"""Who may use the UI and the API: authentication, roles and cross-site protection.

With ``settings.auth`` every route except the open ones needs a user: a bearer token
(scripts) or basic auth (browsers prompt for it). Viewers may read; changing anything
(any method but GET, HEAD and OPTIONS) needs an operator. Without ``settings.auth``
everyone is the anonymous operator, and the server only listens on loopback.

Whatever the config, a state-changing request that a browser sends from another site
is refused, so that no web page can pause or approve through a visitor's browser.
Repeated failed logins are slowed down (web/throttle.py); which host names are
served at all is decided before this, in web/hosts.py.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import bcrypt
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from alertreflex.config.loader import Config
from alertreflex.config.users import ApiUser, token_digest
from alertreflex.web.errors import json_error
from alertreflex.web.throttle import Audit, LoginThrottle, Throttled, address_key

log = structlog.get_logger("alertreflex.access")

# The webhook and the sync hook check their own tokens; Prometheus scrapes /metrics
# and orchestrators probe health without credentials; static files hold no data.
OPEN_PATHS = frozenset({"/metrics", "/-/healthy", "/-/ready", "/webhook", "/api/v1/sync"})
OPEN_PREFIXES = ("/static/",)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CHALLENGE = 'Basic realm="alertreflex", charset="UTF-8"'
BASIC_CACHE_SIZE = 256  # successful (user, password digest) checks kept
MAX_BCRYPT_AT_ONCE = 4  # bcrypt is slow on purpose: do not let it take every thread

CSRF_SECRET = web.AppKey("alertreflex_csrf_secret", bytes)


@dataclass(frozen=True)
class Identity:
    name: str
    role: str  # "viewer" or "operator"
    authenticated: bool

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"


ANONYMOUS_OPERATOR = Identity("anonymous", "operator", False)
ANONYMOUS_VIEWER = Identity("anonymous", "viewer", False)

try:
    _IDENTITY: Any = web.RequestKey("alertreflex_identity", Identity)
except AttributeError:  # aiohttp < 3.14 has no RequestKey; a string key works there
    _IDENTITY = "alertreflex_identity"


def identity(request: web.Request) -> Identity:
    """Who sends this request, as the middleware established it."""
    found = request.get(_IDENTITY)
    return found if isinstance(found, Identity) else ANONYMOUS_OPERATOR


def new_csrf_secret() -> bytes:
    return secrets.token_bytes(32)


def csrf_token(request: web.Request) -> str:
    """The token an HTML form of this user carries in a hidden field."""
    secret = request.app[CSRF_SECRET]
    return hmac.new(secret, identity(request).name.encode("utf-8"), hashlib.sha256).hexdigest()


def check_csrf(request: web.Request, submitted: str) -> bool:
    """True if ``submitted`` is this user's form token (constant-time)."""
    return hmac.compare_digest(csrf_token(request).encode(), submitted.encode("utf-8", "replace"))


def access_middleware(
    config_getter: Callable[[], Config],
    audit: Audit | None = None,
    count_throttled: Callable[[], None] = lambda: None,
) -> Middleware:
    """The middleware, reading the users from the running config at each request;
    ``audit`` records when failed logins start being throttled, and
    ``count_throttled`` counts each attempt refused meanwhile."""
    cache: OrderedDict[tuple[str, bytes], None] = OrderedDict()
    cached_for: list[Config | None] = [None]  # the config the cache entries were made with
    bcrypt_slots = asyncio.Semaphore(MAX_BCRYPT_AT_ONCE)
    throttle = LoginThrottle(audit)

    async def check_password(
        users: dict[str, ApiUser], name: str, password: bytes, address: str
    ) -> bool | Throttled:
        user = users.get(name)
        key = (name, hashlib.sha256(password).digest())
        if user is not None and key in cache:
            cache.move_to_end(key)
            return True
        # An unknown name costs as much as a known one: names are not revealed by timing.
        decoy = next((u.password_hash for u in users.values() if u.password_hash), None)
        stored = user.password_hash if user is not None and user.password_hash else decoy
        if stored is None:
            return False
        async with bcrypt_slots:
            # Parallel guesses queue here: those that find the user or the address
            # throttled by the time they get a slot are not checked either.
            if (wait := throttle.wait(name, address)) is not None:
                return wait
            ok = await asyncio.to_thread(_checkpw, password, stored)
        if not ok or user is None or user.password_hash is None:
            return False
        cache[key] = None
        if len(cache) > BASIC_CACHE_SIZE:
            cache.popitem(last=False)
        return True

    async def authenticate(
        request: web.Request, users: dict[str, ApiUser]
    ) -> Identity | Throttled | None:
        scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
        value = value.strip()
        address = address_key(request.remote)
        if scheme.lower() == "bearer" and value:
            if (wait := throttle.wait(None, address)) is not None:
                return wait
            digest = token_digest(value)
            found = None
            for user in users.values():  # no early exit: the time does not depend on who
                if user.token_sha256 is not None and hmac.compare_digest(user.token_sha256, digest):
                    found = user
            if found is None:
                log.warning(
                    "auth_failed", method="bearer", path=request.path, remote=request.remote
                )
                await throttle.failed(None, address)
                return None
            throttle.succeeded(None, address)
            return Identity(found.name, found.role, True)
        if scheme.lower() == "basic" and value:
            try:
                decoded = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                return None
            name_bytes, sep, password = decoded.partition(b":")
            try:
                name = name_bytes.decode("utf-8")
            except UnicodeDecodeError:
                return None
            if (wait := throttle.wait(name, address)) is not None:
                return wait
            checked = await check_password(users, name, password, address) if sep else False
            if isinstance(checked, Throttled):
                return checked
            if not checked:
                log.warning(
                    "auth_failed",
                    method="basic",
                    user=name,
                    path=request.path,
                    remote=request.remote,
                )
                await throttle.failed(name, address)
                return None
            throttle.succeeded(name, address)
            user = users[name]
            return Identity(user.name, user.role, True)
        return None

    @web.middleware
    async def access(request: web.Request, handler: Handler) -> web.StreamResponse:
        unsafe = request.method not in SAFE_METHODS
        if unsafe and _cross_site(request):
            log.warning(
                "cross_site_refused",
                path=request.path,
                origin=request.headers.get("Origin"),
                remote=request.remote,
            )
            return refuse(request, 403, "cross-site request refused")
        config = config_getter()
        users = config.users
        if users is None and config.settings.auth is not None:
            users = {}  # auth configured but its files not read: nobody gets in
        if cached_for[0] is not config:
            cache.clear()
            cached_for[0] = config
        if is_open_route(request):
            request[_IDENTITY] = ANONYMOUS_OPERATOR if users is None else ANONYMOUS_VIEWER
            return await handler(request)
        if users is None:
            request[_IDENTITY] = ANONYMOUS_OPERATOR
            return await handler(request)
        who = await authenticate(request, users)
        if isinstance(who, Throttled):
            count_throttled()
            return refuse(request, 429, who.message, {"Retry-After": str(who.retry_after)})
        if who is None:
            return refuse(
                request,
                401,
                "authentication required: log in as a user of settings.auth, or send "
                "Authorization: Bearer <token>",
                {"WWW-Authenticate": CHALLENGE},
            )
        if unsafe and not who.is_operator:
            return refuse(request, 403, f"user {who.name} is a viewer; this needs an operator")
        request[_IDENTITY] = who
        return await handler(request)

    return access


def is_open_route(request: web.Request) -> bool:
    """True if the route this request resolved to is an open one.

    Decided on the route the router chose rather than on the path as sent, so that
    no spelling of a path (dot segments, escapes) reaches a closed handler as open.
    """
    resource = request.match_info.route.resource
    if resource is None:  # no route: 404 or 405, answered to the authenticated only
        return False
    path = resource.canonical
    return path in OPEN_PATHS or path.rstrip("/") == "/static" or path.startswith(OPEN_PREFIXES)


def _checkpw(password: bytes, stored: bytes) -> bool:
    try:
        return bcrypt.checkpw(password, stored)
    except ValueError:  # a password longer than bcrypt's 72 bytes, or a mangled hash
        return False


def refuse(
    request: web.Request, status: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """An error answer: the JSON error shape under /api/, plain text elsewhere."""
    if request.path.startswith("/api/"):
        return json_error(status, message, headers=headers)
    return web.Response(status=status, text=message + "\n", headers=headers)


def _cross_site(request: web.Request) -> bool:
    """True if a browser sent this from another site or another origin."""
    if request.headers.get("Sec-Fetch-Site", "").strip().lower() == "cross-site":
        return True
    origin = request.headers.get("Origin")
    if origin is None:
        return False  # not a browser, or a browser old enough to send neither header
    try:
        parts = urlsplit(origin.strip())
        scheme = parts.scheme.lower()
        want = _host_port(parts.hostname, parts.port, scheme)
    except ValueError:
        return True
    if want is None or scheme not in ("http", "https"):
        return True  # "null" (a sandboxed frame, a file) or nonsense
    # Behind a reverse proxy the public name may only be in X-Forwarded-Host; a page
    # of another site cannot set that header without a preflight, which is refused.
    for header in ("Host", "X-Forwarded-Host"):
        value = request.headers.get(header, "").split(",")[0].strip()
        if not value:
            continue
        try:
            host = urlsplit(f"//{value}")
            if _host_port(host.hostname, host.port, scheme) == want:
                return False
        except ValueError:
            continue
    return True


def _host_port(host: str | None, port: int | None, scheme: str) -> tuple[str, int] | None:
    if not host:
        return None
    return host.lower().rstrip("."), port if port is not None else (
        443 if scheme == "https" else 80
    )
