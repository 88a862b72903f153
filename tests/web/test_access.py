"""Authentication, roles and cross-site protection of the UI and the API.

Most tests run against real ``alertreflex serve`` processes; the last ones drive the
middleware in-process for what a process cannot show (CSRF tokens, the bcrypt cache).
"""

from __future__ import annotations

import base64
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

from alertreflex.config.loader import Config
from alertreflex.config.schema import Auth, AuthUser, Settings
from alertreflex.config.users import ApiUser, token_digest
from alertreflex.web import access
from tests.conftest import BIN, ServerProcess, free_port
from tests.logs import events
from tests.payloads import alert, notification

VIEWER = ("vera", "vera-secret-pw")
OPERATOR = ("olivia", "olivia-secret-pw")
OPERATOR_TOKEN = "olivia-token-0123456789abcdef"
ROBOT_TOKEN = "robot-token-0123456789abcdef"  # a viewer's
WEBHOOK_TOKEN = "webhook-token-0123456789"
CHALLENGE = 'Basic realm="alertreflex", charset="UTF-8"'

REFLEXES = """\
reflexes:
  - name: echo
    team: t
    match: ['alertname = "Echo"']
    on_firing: [{exec: {command: ["echo", "hello"]}}]
"""


def _hash(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


def auth_config(d: Path, *, webhook_token: bool = True) -> str:
    """A config with a viewer, an operator (password and token) and a viewer robot."""
    (d / "vera.hash").write_text(_hash(VIEWER[1]) + "\n")
    (d / "olivia.hash").write_text(_hash(OPERATOR[1]) + "\n")
    (d / "olivia.token").write_text(OPERATOR_TOKEN + "\n")
    (d / "robot.token").write_text(ROBOT_TOKEN + "\n")
    (d / "webhook.token").write_text(WEBHOOK_TOKEN + "\n")
    hook = f"  webhook_auth: {{bearer_token_file: {d / 'webhook.token'}}}\n"
    return (
        "settings:\n"
        + (hook if webhook_token else "")
        + "  auth:\n"
        + "    users:\n"
        + f"      - {{name: vera, role: viewer, password_hash_file: {d / 'vera.hash'}}}\n"
        + "      - name: olivia\n        role: operator\n"
        + f"        password_hash_file: {d / 'olivia.hash'}\n"
        + f"        token_file: {d / 'olivia.token'}\n"
        + f"      - {{name: robot, role: viewer, token_file: {d / 'robot.token'}}}\n"
        + REFLEXES
    )


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    d = tmp_path_factory.mktemp("access")
    (d / "alertreflex.yml").write_text(auth_config(d))
    server = ServerProcess(d / "alertreflex.yml", d / "alertreflex.db", d / "server.log").start()
    try:
        yield server
    finally:
        server.stop()


def call(
    srv: ServerProcess,
    method: str,
    path: str,
    auth: Any = None,
    *,
    source: str | None = None,
    **kw: Any,
) -> httpx.Response:
    """One request; ``source``: the loopback address it comes from (failed logins
    are throttled per client address)."""
    if isinstance(auth, str):
        kw.setdefault("headers", {})["Authorization"] = f"Bearer {auth}"
        auth = None
    transport = httpx.HTTPTransport(local_address=source) if source else None
    with httpx.Client(transport=transport, timeout=10) as client:
        return client.request(method, f"{srv.url}{path}", auth=auth, **kw)


def controls(srv: ServerProcess) -> dict[str, Any]:
    resp = call(srv, "GET", "/api/v1/controls", OPERATOR)
    assert resp.status_code == 200, resp.text
    doc: dict[str, Any] = resp.json()
    return doc


def test_viewer_reads_but_may_not_pause(srv: ServerProcess) -> None:
    """A viewer sees runs and controls; its pause is refused 403 and changes nothing."""
    assert call(srv, "GET", "/api/v1/runs", VIEWER).status_code == 200
    assert call(srv, "GET", "/api/v1/controls", VIEWER).json()["paused"] is False
    resp = call(srv, "POST", "/api/v1/pause", VIEWER, json={"reason": "x"})
    assert resp.status_code == 403
    assert resp.json() == {
        "status": "error",
        "error": "user vera is a viewer; this needs an operator",
    }
    assert controls(srv) == {"paused": False, "controls": []}
    audit = call(srv, "GET", "/api/v1/audit", VIEWER).json()["audit"]
    assert not [e for e in audit if e["who"] == "vera"]


def test_operator_pauses_and_the_audit_names_them(srv: ServerProcess) -> None:
    """An operator's pause is recorded under the operator's user name, not the body's."""
    resp = call(srv, "POST", "/api/v1/pause", OPERATOR, json={"reason": "x", "by": "mallory"})
    assert resp.status_code == 200, resp.text
    try:
        assert controls(srv)["paused"] is True
        audit = call(srv, "GET", "/api/v1/audit", VIEWER).json()["audit"]
        assert audit[0]["action"] == "pause" and audit[0]["reason"] == "x"
        assert audit[0]["who"] == "olivia"
    finally:
        resume = call(srv, "POST", "/api/v1/resume", OPERATOR, json={"reason": "done"})
        assert resume.status_code == 200, resume.text
    assert controls(srv)["paused"] is False


def test_bearer_tokens_carry_their_users_role(srv: ServerProcess) -> None:
    """Scripts use tokens: a viewer's reads only, an operator's may act."""
    assert call(srv, "GET", "/api/v1/runs", ROBOT_TOKEN).status_code == 200
    refused = call(srv, "POST", "/api/v1/pause", ROBOT_TOKEN, json={"reason": "x"})
    assert refused.status_code == 403
    assert "user robot is a viewer" in refused.json()["error"]
    ok = call(srv, "POST", "/api/v1/resume", OPERATOR_TOKEN, json={"reason": "nothing held"})
    assert ok.status_code == 200, ok.text
    audit = call(srv, "GET", "/api/v1/audit", OPERATOR_TOKEN).json()["audit"]
    assert audit[0]["who"] == "olivia" and audit[0]["reason"] == "nothing held"


@pytest.mark.parametrize(
    ("auth", "headers", "source"),
    [
        pytest.param(None, {}, "127.0.1.1", id="no credentials"),
        pytest.param(("vera", "wrong"), {}, "127.0.1.2", id="wrong password"),
        pytest.param(("nobody", VIEWER[1]), {}, "127.0.1.3", id="unknown user"),
        pytest.param("not-a-token-of-anyone", {}, "127.0.1.4", id="unknown token"),
        pytest.param(None, {"Authorization": "Basic !!!"}, "127.0.1.5", id="garbled basic"),
        pytest.param(None, {"Authorization": "Digest x"}, "127.0.1.6", id="other scheme"),
        pytest.param(WEBHOOK_TOKEN, {}, "127.0.1.7", id="the webhook's token"),
    ],
)
def test_without_valid_credentials_401(
    srv: ServerProcess, auth: Any, headers: Any, source: str
) -> None:
    """API paths answer JSON, the others text; both ask the browser for basic auth.
    (Each case from its own address, below the failures that start throttling.)"""
    api = call(srv, "GET", "/api/v1/runs", auth, headers=dict(headers), source=source)
    assert api.status_code == 401
    assert api.headers["WWW-Authenticate"] == CHALLENGE
    assert api.json()["status"] == "error" and "authentication required" in api.json()["error"]
    page = call(srv, "GET", "/", auth, headers=dict(headers), source=source)
    assert page.status_code == 401
    assert page.headers["WWW-Authenticate"] == CHALLENGE
    assert page.headers["Content-Type"].startswith("text/plain")
    post = call(
        srv,
        "POST",
        "/api/v1/pause",
        auth,
        headers=dict(headers),
        json={"reason": "x"},
        source=source,
    )
    assert post.status_code == 401


def test_the_index_page_with_credentials(srv: ServerProcess) -> None:
    assert call(srv, "GET", "/", VIEWER).status_code == 200


def test_reload_needs_an_operator(srv: ServerProcess) -> None:
    assert call(srv, "POST", "/-/reload").status_code == 401
    assert call(srv, "POST", "/-/reload", VIEWER).status_code == 403
    assert call(srv, "POST", "/-/reload", OPERATOR).status_code == 200


def test_metrics_and_health_are_open(srv: ServerProcess) -> None:
    """Prometheus and health probes need no credentials."""
    metrics = call(srv, "GET", "/metrics")
    assert metrics.status_code == 200 and "alertreflex_" in metrics.text
    assert call(srv, "GET", "/-/healthy").status_code == 200
    assert call(srv, "GET", "/-/ready").status_code == 200


def test_webhook_keeps_its_own_token(srv: ServerProcess) -> None:
    """UI credentials do not open the webhook; its own token does."""
    payload = notification(alert({"alertname": "Echo", "team": "t"}))
    assert srv.post(payload).status_code == 401
    assert srv.post(payload, auth=OPERATOR).status_code == 401
    assert srv.post(payload, headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}).status_code == (
        401
    )
    ok = srv.post(payload, headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"})
    assert ok.status_code == 200, ok.text


def test_foreign_origin_refused_even_for_an_operator(srv: ServerProcess) -> None:
    resp = call(
        srv,
        "POST",
        "/api/v1/pause",
        OPERATOR,
        json={"reason": "x"},
        headers={"Origin": "https://evil.example"},
    )
    assert resp.status_code == 403
    assert resp.json()["error"] == "cross-site request refused"
    assert controls(srv)["paused"] is False


def test_secrets_never_reach_the_log(srv: ServerProcess) -> None:
    call(srv, "GET", "/api/v1/runs", ("vera", "a-wrong-guess-123"))
    call(srv, "GET", "/api/v1/runs", "a-wrong-token-4567890")
    call(srv, "GET", "/api/v1/runs", VIEWER)
    call(srv, "GET", "/api/v1/runs", OPERATOR_TOKEN)
    log = srv.log()
    assert "auth_failed" in log
    for secret in (
        "a-wrong-guess-123",
        "a-wrong-token-4567890",
        VIEWER[1],
        OPERATOR[1],
        OPERATOR_TOKEN,
        ROBOT_TOKEN,
        WEBHOOK_TOKEN,
    ):
        assert secret not in log


# --- without settings.auth -------------------------------------------------------


def test_without_auth_everyone_operates_on_loopback(make_server) -> None:  # type: ignore[no-untyped-def]
    """No credentials needed; the start says the UI and API are unauthenticated."""
    srv = make_server(REFLEXES)
    resp = call(srv, "POST", "/api/v1/pause", json={"reason": "x", "by": "cli@host"})
    assert resp.status_code == 200, resp.text
    audit = call(srv, "GET", "/api/v1/audit").json()["audit"]
    assert audit[0]["who"] == "cli@host"
    log = srv.log()
    assert events(log, "unauthenticated") and "loopback only" in log


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Origin": "https://evil.example"}, id="foreign origin"),
        pytest.param({"Origin": "null"}, id="opaque origin"),
        pytest.param({"Sec-Fetch-Site": "cross-site"}, id="sec-fetch-site"),
    ],
)
def test_cross_site_post_refused_without_auth(make_server, headers: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    """A web page visited on this machine cannot pause or feed alerts through loopback."""
    srv = make_server(REFLEXES)
    resp = call(srv, "POST", "/api/v1/pause", json={"reason": "x"}, headers=headers)
    assert resp.status_code == 403
    assert resp.json()["error"] == "cross-site request refused"
    assert call(srv, "GET", "/api/v1/controls").json()["paused"] is False
    hook = srv.post(notification(alert({"alertname": "Echo", "team": "t"})), headers=headers)
    assert hook.status_code == 403
    # Reading is not a change: a cross-site GET is left to the same-origin policy.
    assert call(srv, "GET", "/api/v1/runs", headers=headers).status_code == 200


def test_same_origin_post_allowed(make_server) -> None:  # type: ignore[no-untyped-def]
    srv = make_server(REFLEXES)
    resp = call(
        srv,
        "POST",
        "/api/v1/pause",
        json={"reason": "x"},
        headers={"Origin": srv.url, "Sec-Fetch-Site": "same-origin"},
    )
    assert resp.status_code == 200, resp.text


def _serve(config: Path, tmp_path: Path, host: str, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            str(BIN),
            "serve",
            "--config",
            str(config),
            "--storage",
            f"sqlite:///{tmp_path / 'db.sqlite'}",
            "--listen",
            f"{host}:{port}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_refuses_to_listen_beyond_loopback_without_auth(tmp_path: Path) -> None:
    config = tmp_path / "c.yml"
    config.write_text(REFLEXES)
    proc = _serve(config, tmp_path, "0.0.0.0", free_port())
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    message = err.decode()
    assert "refusing to listen on 0.0.0.0 without settings.auth" in message
    assert "open to anyone" in message and "docs/auth.md" in message
    assert "127.0.0.1" in message


def test_beyond_loopback_with_auth_and_a_reload_may_not_drop_it(tmp_path: Path) -> None:
    """With auth it serves on 0.0.0.0; a reload that removes auth is refused."""
    config = tmp_path / "c.yml"
    config.write_text(auth_config(tmp_path))
    port = free_port()
    proc = _serve(config, tmp_path, "0.0.0.0", port)
    srv = ServerProcess(config, tmp_path / "db.sqlite", tmp_path / "unused.log")
    srv.port, srv.url = port, f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if call(srv, "GET", "/-/ready").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.communicate()
            subprocess.run(["sleep", "0.05"], check=True)
        assert call(srv, "GET", "/api/v1/runs").status_code == 401
        config.write_text(REFLEXES)
        resp = call(srv, "POST", "/-/reload", OPERATOR)
        assert resp.status_code == 500
        assert "without settings.auth" in resp.json()["error"]
        assert call(srv, "GET", "/api/v1/runs").status_code == 401  # still the old config
        assert call(srv, "GET", "/api/v1/runs", VIEWER).status_code == 200
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


# --- in-process: CSRF tokens and the middleware's details -------------------------


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _user_config(users: dict[str, ApiUser]) -> Config:
    auth = Auth(users=[AuthUser(name=u.name, role=u.role, token_file="-") for u in users.values()])  # type: ignore[arg-type]
    return Config(settings=Settings(auth=auth), reflexes={}, files=[], users=users)


def _app(config: list[Config]) -> web.Application:
    app = web.Application(middlewares=[access.access_middleware(lambda: config[0])])
    app[access.CSRF_SECRET] = access.new_csrf_secret()

    async def whoami(request: web.Request) -> web.Response:
        me = access.identity(request)
        return web.json_response(
            {
                "name": me.name,
                "role": me.role,
                "authenticated": me.authenticated,
                "csrf": access.csrf_token(request),
            }
        )

    async def act(request: web.Request) -> web.Response:
        form = await request.post()
        if not access.check_csrf(request, str(form.get("csrf", ""))):
            return web.Response(status=403, text="bad form token")
        return web.Response(text=f"done by {access.identity(request).name}")

    async def asset(request: web.Request) -> web.Response:
        return web.Response(text=f"asset {request.match_info['name']}")

    app.add_routes(
        [
            web.get("/whoami", whoami),
            web.post("/act", act),
            web.get("/static/{name}", asset),
            web.get("/-/healthy", whoami),
        ]
    )
    return app


@pytest.fixture
async def client() -> AsyncIterator[tuple[TestClient[web.Request, web.Application], list[Config]]]:
    users = {
        "ann": ApiUser(
            "ann", "operator", _hash("ann-pw").encode(), token_digest("ann-token-0123456789")
        ),
        "bob": ApiUser("bob", "viewer", None, token_digest("bob-token-0123456789")),
    }
    config = [_user_config(users)]
    async with TestClient(TestServer(_app(config))) as c:
        yield c, config


def test_csrf_token_is_per_identity_and_per_process() -> None:
    app = web.Application()
    app[access.CSRF_SECRET] = access.new_csrf_secret()
    request = make_mocked_request("GET", "/", app=app)
    token = access.csrf_token(request)
    assert len(token) == 64 and int(token, 16) >= 0
    assert access.csrf_token(request) == token
    assert access.check_csrf(request, token)
    flipped = token[:-1] + ("1" if token[-1] == "0" else "0")
    for wrong in ("", token[:-1], flipped, token + "0", "é" * 64):
        assert not access.check_csrf(request, wrong)
    other = web.Application()
    other[access.CSRF_SECRET] = access.new_csrf_secret()
    assert access.csrf_token(make_mocked_request("GET", "/", app=other)) != token
    assert access.identity(request) == access.Identity("anonymous", "operator", False)


async def test_form_token_of_one_user_does_not_serve_another(client: Any) -> None:
    c, _config = client
    ann = {"Authorization": "Bearer ann-token-0123456789"}
    bob = {"Authorization": "Bearer bob-token-0123456789"}
    ann_doc = await (await c.get("/whoami", headers=ann)).json()
    bob_doc = await (await c.get("/whoami", headers=bob)).json()
    assert (ann_doc["name"], ann_doc["role"], ann_doc["authenticated"]) == ("ann", "operator", True)
    assert bob_doc["role"] == "viewer" and ann_doc["csrf"] != bob_doc["csrf"]
    ok = await c.post("/act", headers=ann, data={"csrf": ann_doc["csrf"]})
    assert ok.status == 200 and await ok.text() == "done by ann"
    assert (await c.post("/act", headers=ann, data={"csrf": bob_doc["csrf"]})).status == 403
    assert (await c.post("/act", headers=ann, data={})).status == 403


async def test_basic_auth_is_cached_until_the_config_changes(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    c, config = client
    calls: list[bytes] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        calls.append(password)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    auth = _basic("ann", "ann-pw")
    for _ in range(5):
        assert (await c.get("/whoami", headers=auth)).status == 200
    assert len(calls) == 1
    bad = _basic("ann", "nope")
    for _ in range(2):
        assert (await c.get("/whoami", headers=bad)).status == 401
    assert len(calls) == 3  # failures are never cached
    config[0] = _user_config(dict(config[0].users or {}))  # a reload: a new config object
    assert (await c.get("/whoami", headers=auth)).status == 200
    assert len(calls) == 4


async def test_unknown_user_costs_a_bcrypt_check_too(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer's timing does not tell which user names exist."""
    c, _config = client
    calls: list[bytes] = []

    def refusing(password: bytes, hashed: bytes) -> bool:
        calls.append(password)
        return False

    monkeypatch.setattr(bcrypt, "checkpw", refusing)
    resp = await c.get("/whoami", headers=_basic("zed", "ann-pw"))
    assert resp.status == 401 and len(calls) == 1
    # bob has no password at all: a basic login as bob fails, after the same work.
    resp = await c.get("/whoami", headers=_basic("bob", "x"))
    assert resp.status == 401 and len(calls) == 2


async def test_origin_matching(client: Any) -> None:
    c, _config = client
    ann = {"Authorization": "Bearer ann-token-0123456789"}
    host = f"{c.host}:{c.port}"
    token = (await (await c.get("/whoami", headers=ann)).json())["csrf"]

    async def post(**headers: str) -> int:
        resp = await c.post("/act", headers={**ann, **headers}, data={"csrf": token})
        return int(resp.status)

    assert await post(Origin=f"http://{host}") == 200
    assert await post(Origin=f"HTTP://{host.upper()}") == 200
    assert await post(Origin=f"http://{c.host}:1") == 403  # another port is another origin
    assert await post(Origin=f"https://{host}.evil.example") == 403
    assert await post(Origin="http://x:notaport") == 403
    # Behind a reverse proxy, the public name arrives as X-Forwarded-Host.
    assert (
        await post(
            Origin="https://alertreflex.example", **{"X-Forwarded-Host": "alertreflex.example"}
        )
        == 200
    )
    assert await post(Origin="https://alertreflex.example:443", Host="alertreflex.example") == 200
    assert await post(**{"Sec-Fetch-Site": "same-site"}) == 200


async def test_auth_configured_but_unread_lets_nobody_in() -> None:
    """Fail closed: settings.auth without its files read (read_secrets=False)."""
    config = _user_config({"ann": ApiUser("ann", "operator", None, token_digest("x" * 20))})
    config.users = None
    async with TestClient(TestServer(_app([config]))) as c:
        resp = await c.get("/whoami", headers={"Authorization": "Bearer " + "x" * 20})
        assert resp.status == 401


async def test_open_routes_are_decided_by_the_route_taken(client: Any) -> None:
    """However a path is spelt, a closed handler is never reached as an open one."""
    c, _config = client
    resp = await c.get("/static/app.css")
    assert resp.status == 200 and await resp.text() == "asset app.css"
    healthy = await (await c.get("/-/healthy")).json()
    assert healthy["name"] == "anonymous" and healthy["role"] == "viewer"
    for path in ("/static/../whoami", "/static/%2e%2e/whoami", "/-/healthy/../../whoami"):
        resp = await c.get(path)
        assert resp.status in (401, 404), path
        assert "csrf" not in await resp.text()
    assert (await c.get("/no/such/page")).status == 401  # no route list for strangers
    assert (await c.post("/static/app.css")).status == 401
