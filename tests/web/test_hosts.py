"""DNS rebinding: which ``Host`` names the server answers to (issue 16).

A page on a domain that re-resolves to 127.0.0.1 is same-origin with a server on
loopback, and its requests carry its own name in ``Host``. These tests send that
header as such a browser would, to real ``alertreflex serve`` processes.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from alertreflex.lograte import LogBudget
from tests.conftest import ServerProcess, run_cli
from tests.logs import event_lines, events
from tests.payloads import alert, notification
from tests.web.test_access import OPERATOR, VIEWER, WEBHOOK_TOKEN, auth_config

EVIL = "rebind.evil.example"

REFLEXES = """\
reflexes:
  - name: echo
    team: t
    match: ['alertname =~ "Echo.*"']
    on_firing: [{exec: {command: ["echo", "hello"]}}]
"""


def get(srv: ServerProcess, path: str, host: str | None = None, **kw: Any) -> httpx.Response:
    headers = kw.pop("headers", {})
    if host is not None:
        headers["Host"] = host
    return httpx.get(f"{srv.url}{path}", headers=headers, timeout=10, **kw)


def post(srv: ServerProcess, path: str, host: str, **kw: Any) -> httpx.Response:
    headers = {"Host": host, **kw.pop("headers", {})}
    return httpx.post(f"{srv.url}{path}", headers=headers, timeout=10, **kw)


def raw(srv: ServerProcess, head: str) -> tuple[int, str]:
    """Send a request as written (httpx cannot omit Host or send an absolute target)."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(head.encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status_line, _, rest = data.decode(errors="replace").partition("\r\n")
    return int(status_line.split(" ")[1]), rest


def rebinding_message(host: str) -> str:
    return (
        f"Host '{host}' is not served: without settings.auth alertreflex answers only to "
        "loopback names (127.0.0.1, localhost, [::1]), so that no web page can reach it "
        "through DNS rebinding; see docs/auth.md"
    )


# --- without settings.auth --------------------------------------------------------


def test_the_issue_reproduction_is_refused(make_server: Any) -> None:
    """The issue's reproduction: with the rebinding name in Host, reading the runs,
    re-running one and posting alerts are all refused with 421 and say why; nothing
    runs and nothing is stored."""
    srv = make_server(REFLEXES)
    evil = f"{EVIL}:{srv.port}"
    assert srv.post(notification(alert({"alertname": "Echo", "team": "t"}))).status_code == 200
    (first,) = srv.wait_runs(1)

    runs = get(srv, "/api/v1/runs", evil)
    assert runs.status_code == 421
    assert runs.json() == {"status": "error", "error": rebinding_message(evil)}

    rerun = post(
        srv,
        f"/api/v1/runs/{first['id']}/rerun",
        evil,
        json={"reason": "rebinding"},
        headers={"Origin": f"http://{evil}"},
    )
    assert rerun.status_code == 421
    hook = post(
        srv, "/webhook", evil, json=notification(alert({"alertname": "Echo2", "team": "t"}))
    )
    assert hook.status_code == 421
    assert hook.text == rebinding_message(evil) + "\n"  # text outside /api/
    page = get(srv, "/", evil)
    assert page.status_code == 421 and page.headers["Content-Type"].startswith("text/plain")
    assert get(srv, "/metrics", evil).status_code == 421
    assert get(srv, "/-/healthy", evil).status_code == 421

    time.sleep(0.5)  # a re-run or an alert that got through would have run by now
    assert [r["id"] for r in srv.runs()] == [first["id"]]
    assert srv.metric("alertreflex_notifications_total") == 1
    assert evil in [e["host"] for e in events(srv.log(), "host_refused")]
    assert srv.metric('alertreflex_http_refused_total{reason="host"}') == 6


def test_loopback_names_are_served_on_any_port(make_server: Any) -> None:
    """127.0.0.0/8, [::1], localhost and *.localhost, with the bound port, another one
    (an SSH tunnel's) or none; case and a final dot do not matter."""
    srv = make_server(REFLEXES)
    port = srv.port
    for host in (
        f"127.0.0.1:{port}",
        f"localhost:{port}",
        f"[::1]:{port}",
        "localhost:9000",
        "127.0.0.2",
        f"LOCALHOST.:{port}",
        f"alertreflex.localhost:{port}",
        f"[::ffff:127.0.0.1]:{port}",
    ):
        resp = get(srv, "/api/v1/runs", host)
        assert resp.status_code == 200, (host, resp.text)
    assert post(srv, "/api/v1/pause", f"localhost:{port}", json={"reason": "x"}).status_code == 200


@pytest.mark.parametrize(
    "host",
    [
        "rebind.evil.example",
        "127.0.0.1.evil.example",
        "localhost.evil.example",
        "evil@127.0.0.1",
        "10.0.0.1:8976",
        "[2001:db8::1]",
        "localhost:notaport",
        "",
    ],
)
def test_other_names_are_refused(make_server: Any, host: str) -> None:
    """Names that only look like loopback, other addresses and malformed values."""
    srv = make_server(REFLEXES)
    resp = get(srv, "/api/v1/runs", host)
    assert resp.status_code == 421, resp.text
    assert resp.json()["error"].startswith(f"Host '{host}' is not served")


def test_absolute_target_and_missing_host(make_server: Any) -> None:
    """An absolute-form target names the host too, and is checked; a request without
    Host (HTTP/1.0, not a browser) is taken as sent to the address it reached."""
    srv = make_server(REFLEXES)
    status, body = raw(
        srv,
        f"GET http://{EVIL}:{srv.port}/api/v1/runs HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{srv.port}\r\nConnection: close\r\n\r\n",
    )
    assert status == 421 and f"Host '{EVIL}:{srv.port}' is not served" in body
    status, _ = raw(
        srv,
        f"GET http://localhost:{srv.port}/api/v1/runs HTTP/1.1\r\n"
        f"Host: localhost:{srv.port}\r\nConnection: close\r\n\r\n",
    )
    assert status == 200
    status, body = raw(srv, "GET /api/v1/runs HTTP/1.0\r\n\r\n")
    assert status == 200 and '"runs"' in body
    # Two Host headers: aiohttp itself answers 400, before any middleware.
    two = f"Host: localhost\r\nHost: {EVIL}\r\n"
    status, _ = raw(srv, f"GET /api/v1/runs HTTP/1.1\r\n{two}Connection: close\r\n\r\n")
    assert status in (400, 421)


def test_a_flood_of_refusals_is_logged_sparingly(make_server: Any) -> None:
    """Each refusal is logged until a burst is spent, then a line now and then that
    says how many were left out."""
    srv = make_server(REFLEXES)
    with httpx.Client(timeout=10) as client:
        for i in range(60):
            resp = client.get(f"{srv.url}/api/v1/runs", headers={"Host": f"n{i}.evil.example"})
            assert resp.status_code == 421
    lines = event_lines(srv.log(), "host_refused")
    assert 10 <= len(lines) <= 12, lines
    assert "host=n0.evil.example" in lines[0] and "left_out=0" in lines[0]


def test_log_budget_counts_what_it_left_out() -> None:
    """A burst, then one line per 1/rate seconds with the count of the lines held back."""
    now = [0.0]
    budget = LogBudget(burst=3, rate=0.5, clock=lambda: now[0])
    assert [budget.take() for _ in range(5)] == [0, 0, 0, None, None]
    now[0] = 1.0
    assert budget.take() is None
    now[0] = 2.0
    assert budget.take() == 3
    now[0] = 100.0
    assert [budget.take() for _ in range(4)] == [0, 0, 0, None]


# --- with settings.auth -------------------------------------------------------------


def _with_hosts(d: Path, hosts: list[str]) -> str:
    listed = "".join(f"      - '{h}'\n" for h in hosts)
    web = "  web:\n    allowed_hosts:\n" + listed if hosts else ""
    return auth_config(d).replace("settings:\n", "settings:\n" + web, 1)


def test_allowed_hosts_guard_the_ui_and_the_api(make_server: Any, tmp_path: Path) -> None:
    """With auth, the UI and API answer to the listed names, IP addresses and loopback
    names; the open routes answer to any name; a reload changes the list."""
    srv = make_server(_with_hosts(tmp_path, ["alertreflex.example.org", "*.corp.example:8976"]))
    port = srv.port
    served = (
        "alertreflex.example.org",
        f"alertreflex.example.org:{port}",
        "ALERTREFLEX.EXAMPLE.ORG.",
        "a.corp.example:8976",
        "b.a.corp.example:8976",
        f"127.0.0.1:{port}",
        "10.1.2.3",
        f"[2001:db8::1]:{port}",
        "localhost",
    )
    for host in served:
        assert get(srv, "/api/v1/runs", host, auth=VIEWER).status_code == 200, host
    for host in (f"{EVIL}:{port}", "corp.example:8976", "a.corp.example:9999", "a.corp.example"):
        resp = get(srv, "/api/v1/runs", host, auth=VIEWER)
        assert resp.status_code == 421, host
        assert resp.json()["error"] == (
            f"Host '{host}' is not served: it is not in settings.web.allowed_hosts, nor an IP "
            "address or a loopback name; see docs/auth.md"
        )
    # Before credentials: a stranger learns nothing more from a wrong name.
    assert get(srv, "/", EVIL).status_code == 421

    # Prometheus, probes and Alertmanager may use a service name.
    for path in ("/metrics", "/-/healthy", "/-/ready", "/static/style.css"):
        assert get(srv, path, "alertreflex-svc:8976").status_code == 200, path
    hook = post(
        srv,
        "/webhook",
        "alertreflex-svc:8976",
        json=notification(alert({"alertname": "Echo", "team": "t"})),
        headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"},
    )
    assert hook.status_code == 200, hook.text

    srv.config.write_text(_with_hosts(tmp_path, []))
    assert post(srv, "/-/reload", "localhost", auth=OPERATOR).status_code == 200
    # No list: any name, and the credentials guard as before.
    assert get(srv, "/api/v1/runs", EVIL, auth=VIEWER).status_code == 200
    assert get(srv, "/api/v1/runs", EVIL).status_code == 401


def test_a_url_in_allowed_hosts_is_a_config_error(tmp_path: Path) -> None:
    """A URL where a host name belongs is refused at load, at its file and line, with
    the host name to write instead."""
    config = tmp_path / "c.yml"
    config.write_text(
        _with_hosts(tmp_path, ["alertreflex.example.org", "https://alertreflex.example.org/ui"])
    )
    checked = run_cli("check", str(config))
    assert checked.returncode == 1
    assert (
        f"{config}:5: settings.web.allowed_hosts[1]: 'https://alertreflex.example.org/ui' is "
        "not a host name: give the host name only: 'alertreflex.example.org'"
    ) in checked.stdout + checked.stderr
    config.write_text(_with_hosts(tmp_path, ["*"]))
    checked = run_cli("check", str(config))
    assert checked.returncode == 1
    assert "settings.web.allowed_hosts[0]: '*': '*' may only stand for the subdomains" in (
        checked.stdout + checked.stderr
    )
