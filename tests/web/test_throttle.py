"""Failed logins are slowed down per user name and per client address (issue 16).

Real servers, reached from several loopback addresses (all of 127.0.0.0/8 is this
machine on Linux), show the separation between addresses and users; in-process tests
show that a throttled attempt costs no password check, and the arithmetic of waits.
"""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from alertreflex.config.loader import Config
from alertreflex.config.schema import Auth, AuthUser, Settings
from alertreflex.config.users import ApiUser
from alertreflex.store.base import AuditEntry
from alertreflex.web import access
from alertreflex.web.throttle import (
    ADDRESS_MAX_DELAY,
    THRESHOLD,
    USER_MAX_DELAY,
    WINDOW,
    Backoff,
    address_key,
)
from tests.conftest import ServerProcess
from tests.logs import events
from tests.web.test_access import OPERATOR, OPERATOR_TOKEN, VIEWER, auth_config

RUNS = "/api/v1/runs"


def client_from(srv: ServerProcess, address: str) -> httpx.Client:
    """A client whose connections come from ``address`` (a loopback address)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=srv.url, transport=transport, timeout=10)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def srv(make_server: Any, tmp_path: Path) -> ServerProcess:
    """A server with users; every test gets its own, so that failures do not add up."""
    server: ServerProcess = make_server(auth_config(tmp_path))
    return server


def test_failures_then_a_wait_even_for_the_right_password(srv: ServerProcess) -> None:
    """Five wrong passwords, then 429 with Retry-After even with the right one; after
    the wait the right password works and the failures are forgotten. One audit entry
    for the user and one for the address, however many attempts were refused."""
    with client_from(srv, "127.0.0.5") as guesser:
        for _ in range(THRESHOLD):
            assert guesser.get(RUNS, auth=("vera", "guess")).status_code == 401
        for _ in range(3):
            refused = guesser.get(RUNS, auth=VIEWER)
            assert refused.status_code == 429
            assert refused.headers["Retry-After"] == "1"
            error = refused.json()["error"]
            assert error.startswith("too many failed logins ") and "try again in 1 s" in error
        page = guesser.get("/", auth=VIEWER)
        assert page.status_code == 429 and page.headers["Content-Type"].startswith("text/plain")
        time.sleep(1.1)
        assert guesser.get(RUNS, auth=VIEWER).status_code == 200
        assert guesser.get(RUNS, auth=("vera", "guess")).status_code == 401  # counted anew

    with client_from(srv, "127.0.0.9") as operator:
        audit = operator.get("/api/v1/audit", headers=bearer(OPERATOR_TOKEN)).json()["audit"]
    throttled = [e for e in audit if e["action"] == "login_throttled"]
    assert sorted(e["target"] for e in throttled) == ["127.0.0.5", "vera"]
    assert {e["who"] for e in throttled} == {"alertreflex"}
    assert all("5 failed logins in a row" in e["reason"] for e in throttled)
    assert len(events(srv.log(), "login_throttled")) == 2
    assert srv.metric('alertreflex_http_refused_total{reason="login_throttled"}') == 4


def test_an_address_that_fails_waits_alone(srv: ServerProcess) -> None:
    """Failures from one address (five user names, or five tokens) hold back that
    address only: the same users log in from another address at once."""
    with client_from(srv, "127.0.0.6") as guesser, client_from(srv, "127.0.0.7") as other:
        for i in range(THRESHOLD):
            assert guesser.get(RUNS, auth=(f"guess{i}", "pw")).status_code == 401
        refused = guesser.get(RUNS, auth=VIEWER)
        assert refused.status_code == 429
        assert refused.json()["error"].startswith("too many failed logins from 127.0.0.6:")
        assert guesser.get(RUNS, headers=bearer(OPERATOR_TOKEN)).status_code == 429
        assert other.get(RUNS, auth=VIEWER).status_code == 200
        assert other.get(RUNS, headers=bearer(OPERATOR_TOKEN)).status_code == 200

    with client_from(srv, "127.0.0.8") as token_guesser:
        for i in range(THRESHOLD):
            wrong = bearer(f"guessed-token-{i:016d}")
            assert token_guesser.get(RUNS, headers=wrong).status_code == 401
        assert token_guesser.get(RUNS, headers=bearer(OPERATOR_TOKEN)).status_code == 429


def test_a_user_that_fails_waits_from_every_address(srv: ServerProcess) -> None:
    """Failures for one user name, each from another address, hold back that user's
    password wherever it comes from (but not other users, nor the user's token)."""
    for i in range(THRESHOLD):
        with client_from(srv, f"127.0.0.{10 + i}") as guesser:
            assert guesser.get(RUNS, auth=("olivia", f"guess{i}")).status_code == 401
    with client_from(srv, "127.0.0.20") as fresh:
        refused = fresh.get(RUNS, auth=OPERATOR)
        assert refused.status_code == 429
        assert refused.json()["error"].startswith("too many failed logins for user 'olivia':")
        assert int(refused.headers["Retry-After"]) <= USER_MAX_DELAY
        assert fresh.get(RUNS, auth=VIEWER).status_code == 200
        assert fresh.get(RUNS, headers=bearer(OPERATOR_TOKEN)).status_code == 200


# --- in-process: what a throttled attempt costs, and the waits ---------------------


def _app(audit: list[AuditEntry]) -> web.Application:
    hashed = bcrypt.hashpw(b"ann-pw", bcrypt.gensalt(rounds=4))
    users = {"ann": ApiUser("ann", "operator", hashed, None)}
    auth = Auth(users=[AuthUser(name="ann", role="operator", password_hash_file="-")])
    config = Config(settings=Settings(auth=auth), reflexes={}, files=[], users=users)

    async def record(entry: AuditEntry) -> None:
        audit.append(entry)

    async def hello(_request: web.Request) -> web.Response:
        return web.Response(text="hello")

    app = web.Application(middlewares=[access.access_middleware(lambda: config, record)])
    app[access.CSRF_SECRET] = access.new_csrf_secret()
    app.add_routes([web.get("/hello", hello)])
    return app


def _basic(password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"ann:{password}".encode()).decode()}


def _count_checks(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The passwords bcrypt checks from now on."""
    checked: list[bytes] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        checked.append(password)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    return checked


async def test_a_throttled_attempt_is_not_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """While a user waits, no password is checked at all: neither a guess nor the
    right one reaches bcrypt, so guessing faster gains nothing."""
    checked = _count_checks(monkeypatch)
    audit: list[AuditEntry] = []
    async with TestClient(TestServer(_app(audit))) as client:
        for i in range(THRESHOLD):
            assert (await client.get("/hello", headers=_basic(f"guess{i}"))).status == 401
        assert len(checked) == THRESHOLD
        for password in ("guess", "ann-pw", "another"):
            assert (await client.get("/hello", headers=_basic(password))).status == 429
        assert len(checked) == THRESHOLD
    assert sorted(e.target for e in audit) == ["127.0.0.1", "ann"]


async def test_parallel_guesses_are_cut_short(monkeypatch: pytest.MonkeyPatch) -> None:
    """Guesses sent all at once queue for bcrypt; once the threshold is reached the
    queued ones are answered 429 unchecked."""
    checked = _count_checks(monkeypatch)
    async with TestClient(TestServer(_app([]))) as client:
        answers = await asyncio.gather(
            *(client.get("/hello", headers=_basic(f"guess{i}")) for i in range(30))
        )
        statuses = sorted(a.status for a in answers)
    assert len(checked) <= THRESHOLD + access.MAX_BCRYPT_AT_ONCE - 1
    assert statuses.count(401) == len(checked) and statuses.count(429) == 30 - len(checked)


def test_waits_double_up_to_the_cap_and_are_forgotten() -> None:
    """1 s after the fifth failure, twice as long after each further one, capped; the
    count restarts only after WINDOW without a failure, counted from the end of the
    last wait (so waiting out a long delay does not reset it)."""
    now = [1000.0]
    table = Backoff(USER_MAX_DELAY, clock=lambda: now[0])
    waits = []
    for _ in range(THRESHOLD + 8):
        table.failed("u")
        waits.append(table.wait("u"))
        now[0] += table.wait("u")
    assert waits == [0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 60, 60, 60]
    now[0] += WINDOW - 1
    table.failed("u")
    assert table.wait("u") == USER_MAX_DELAY  # still counting
    now[0] += USER_MAX_DELAY + WINDOW
    table.failed("u")
    assert table.wait("u") == 0  # forgotten: a first failure again
    table.succeeded("u")
    assert len(table) == 0
    assert ADDRESS_MAX_DELAY > USER_MAX_DELAY


def test_the_tables_are_bounded() -> None:
    """At most max_keys entries: past it the least recently failed key is forgotten."""
    table = Backoff(60, max_keys=3)
    for _ in range(THRESHOLD - 1):
        table.failed("b")
    for key in ("a", "c", "d"):
        table.failed(key)
    assert len(table) == 3
    table.failed("b")  # its fifth failure, but the first since it was dropped
    assert table.wait("b") == 0 and len(table) == 3


def test_address_keys() -> None:
    """IPv6 clients count by their /64; IPv4-mapped addresses as the IPv4 address."""
    assert address_key("2001:db8::1") == address_key("2001:db8::ffff") == "2001:db8::/64"
    assert address_key("2001:db8:0:1::1") != address_key("2001:db8::1")
    assert address_key("::ffff:10.0.0.1") == "10.0.0.1"
    assert address_key("127.0.0.1") == "127.0.0.1"
    assert address_key(None) == "unknown"
