"""The brakes against a real server: pause, disable, their persistence across a
restart, the audit trail, the CLI and the metrics."""

from __future__ import annotations

import subprocess
import time
from typing import Any

import httpx

from tests.conftest import BIN, ServerProcess
from tests.payloads import alert, notification

CONFIG = """\
reflexes:
  - name: echo-a
    team: t
    match: ['alertname="A"']
    on_firing: [{exec: {command: ["echo", "a"]}}]
  - name: echo-b
    team: t
    match: ['alertname="B"']
    on_firing: [{exec: {command: ["echo", "b"]}}]
"""


def fire(srv: ServerProcess, name: str, n: int) -> None:
    starts = f"2026-11-25T03:{n:02d}:00Z"  # a new episode each time
    resp = srv.post(notification(alert({"alertname": name, "team": "t"}, starts_at=starts)))
    assert resp.status_code == 200, resp.text


def cli(srv: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args, "--url", srv.url, "--by", "ann"],
        capture_output=True,
        text=True,
        timeout=30,
    )


def metric_soon(srv: ServerProcess, name: str, timeout: float = 5.0) -> float:
    """The counter moves just after the run is recorded: give it a moment."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return srv.metric(name)
        except KeyError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def states(srv: ServerProcess, reflex: str) -> list[tuple[str, str]]:
    runs = sorted(srv.runs(reflex=reflex), key=lambda r: r["created_at"])
    return [(r["state"], r["reason"]) for r in runs]


def test_pause_survives_a_restart_and_resume_lets_runs_act(make_server: Any) -> None:
    srv = make_server(CONFIG)
    done = cli(srv, "pause", "--reason", "deploying the bucket service")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "alertreflex paused: deploying the bucket service\n"
    controls = httpx.get(f"{srv.url}/api/v1/controls", timeout=5).json()
    assert controls["paused"] is True
    assert controls["controls"][0]["by"] == "ann"
    assert srv.metric("alertreflex_paused") == 1
    fire(srv, "A", 1)
    srv.wait_runs(1, states=("skipped",))
    assert states(srv, "echo-a") == [("skipped", "paused by ann: deploying the bucket service")]
    skips = 'alertreflex_runs_skipped_total{reason="paused",reflex="echo-a"}'
    assert metric_soon(srv, skips) == 1

    assert srv.stop() == 0
    srv.start()  # same store: still paused
    assert httpx.get(f"{srv.url}/api/v1/controls", timeout=5).json()["paused"] is True
    fire(srv, "B", 2)
    srv.wait_runs(1, states=("skipped",), reflex="echo-b")

    done = cli(srv, "resume", "--reason", "deploy done")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "alertreflex resumed\n"
    assert srv.metric("alertreflex_paused") == 0
    fire(srv, "A", 3)
    srv.wait_runs(1, reflex="echo-a")
    assert states(srv, "echo-a")[-1] == ("succeeded", "")
    audit = httpx.get(f"{srv.url}/api/v1/audit", timeout=5).json()["audit"]
    assert [(e["action"], e["who"], e["target"], e["reason"]) for e in audit] == [
        ("resume", "ann", "global", "deploy done"),
        ("pause", "ann", "global", "deploying the bucket service"),
    ]
    assert (
        cli(srv, "resume", "--reason", "again").stdout == "alertreflex resumed (it was not held)\n"
    )


def test_disable_one_reflex(make_server: Any) -> None:
    srv = make_server(CONFIG)
    done = cli(srv, "pause", "--reflex", "echo-a", "--reason", "too noisy")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "reflex echo-a disabled: too noisy\n"
    assert srv.metric('alertreflex_reflex_disabled{kind="pause",reflex="echo-a"}') == 1
    fire(srv, "A", 1)
    fire(srv, "B", 1)
    srv.wait_runs(1, reflex="echo-b")
    srv.wait_runs(1, states=("skipped",), reflex="echo-a")
    assert states(srv, "echo-a") == [("skipped", "reflex disabled by ann: too noisy")]
    assert cli(srv, "resume", "--reflex", "echo-a", "--reason", "ok").returncode == 0
    fire(srv, "A", 2)
    srv.wait_runs(1, reflex="echo-a")
    audit = httpx.get(f"{srv.url}/api/v1/audit", params={"target": "echo-a"}, timeout=5)
    assert [e["action"] for e in audit.json()["audit"]] == ["enable", "disable"]


def test_bad_requests_are_refused(make_server: Any) -> None:
    srv = make_server(CONFIG)
    done = cli(srv, "pause", "--reflex", "nope", "--reason", "x")
    assert done.returncode == 1
    assert "HTTP 404: no reflex named 'nope' in the running config" in done.stderr
    for body, message in (
        ({}, "a reason is required"),
        ({"reason": "  "}, "a reason is required"),
        ({"reason": "x", "who": "me"}, "unknown field(s): who"),
        ({"reason": 5}, "reason must be a string"),
        ([], "expected a JSON object"),
    ):
        resp = httpx.post(f"{srv.url}/api/v1/pause", json=body, timeout=5)
        assert resp.status_code == 400, body
        assert message in resp.json()["error"], body
    json_type = {"Content-Type": "application/json"}
    resp = httpx.post(f"{srv.url}/api/v1/pause", content=b"{", headers=json_type, timeout=5)
    assert resp.status_code == 400
    # Only JSON: a cross-site HTML form (text/plain, form-encoded) cannot send it.
    resp = httpx.post(f"{srv.url}/api/v1/pause", content=b'{"reason": "x"}', timeout=5)
    assert resp.status_code == 415
    assert httpx.get(f"{srv.url}/api/v1/controls", timeout=5).json()["paused"] is False
    assert httpx.get(f"{srv.url}/api/v1/audit", timeout=5).json()["audit"] == []
    done = subprocess.run(
        [str(BIN), "pause", "--reason", "x", "--url", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1  # a server that cannot be reached is a failure
    assert "cannot reach http://127.0.0.1:9/api/v1/pause" in done.stderr


def test_storm_guard_per_reflex_and_global(make_server: Any) -> None:
    """echo-a may run twice an hour; all reflexes together three times."""
    srv = make_server(
        CONFIG.replace(
            '    on_firing: [{exec: {command: ["echo", "a"]}}]',
            '    on_firing: [{exec: {command: ["echo", "a"]}}]\n'
            "    storm_guard: {max_runs: 2, window: 1h}",
        )
        + "settings:\n  storm_guard: {max_runs: 3, window: 1h}\n"
    )
    for n in range(4):
        fire(srv, "A", n)
    srv.wait_runs(4, states=("succeeded", "skipped"), reflex="echo-a")
    got = states(srv, "echo-a")
    assert [s for s, _ in got] == ["succeeded", "succeeded", "skipped", "skipped"]
    assert got[2][1].startswith(
        "storm guard: 2 firing runs of reflex echo-a within 1h, stopped until "
    )
    assert metric_soon(srv, 'alertreflex_storm_guard_tripped{scope="echo-a"}') == 1
    assert "storm_guard_tripped" in srv.log()
    for n in range(3):
        fire(srv, "B", n)
    srv.wait_runs(3, states=("succeeded", "skipped"), reflex="echo-b")
    got = states(srv, "echo-b")
    assert [s for s, _ in got] == ["succeeded", "skipped", "skipped"]
    assert got[1][1].startswith("storm guard: 3 firing runs of all reflexes within 1h")
    assert srv.metric('alertreflex_storm_guard_tripped{scope="global"}') == 1
    assert (
        metric_soon(srv, 'alertreflex_runs_skipped_total{reason="storm_guard",reflex="echo-b"}')
        == 2
    )


def test_circuit_breaker_disables_until_enabled(make_server: Any) -> None:
    srv = make_server(
        """\
reflexes:
  - name: flaky
    team: t
    match: ['alertname="A"']
    max_failures: 2
    on_firing: [{exec: {command: ["sh", "-c", "echo broken >&2; exit 3"]}}]
"""
    )
    for n in range(3):
        fire(srv, "A", n)
    srv.wait_runs(3, states=("failed", "skipped"))
    got = states(srv, "flaky")
    assert [s for s, _ in got] == ["failed", "failed", "skipped"]
    assert got[2][1].startswith(
        "disabled by its circuit breaker: 2 failed runs in a row (max_failures), the last "
    )
    assert srv.metric('alertreflex_reflex_disabled{kind="breaker",reflex="flaky"}') == 1
    audit = httpx.get(f"{srv.url}/api/v1/audit", timeout=5).json()["audit"]
    assert [(e["action"], e["who"], e["target"]) for e in audit] == [
        ("breaker_open", "alertreflex", "flaky")
    ]
    assert cli(srv, "resume", "--reflex", "flaky", "--reason", "fixed the script").returncode == 0
    assert "alertreflex_reflex_disabled{" not in httpx.get(f"{srv.url}/metrics", timeout=5).text
    fire(srv, "A", 9)
    srv.wait_runs(3, states=("failed",))  # runs again (and fails again: one, not yet two)
    assert httpx.get(f"{srv.url}/api/v1/controls", timeout=5).json()["controls"] == []


def test_explain_shows_the_live_brakes(make_server: Any) -> None:
    """`test --explain --url` says which reflex a pause or disable holds, as the
    runner words it."""
    srv = make_server(CONFIG.replace('alertname="B"', 'alertname="A"'))
    assert cli(srv, "pause", "--reflex", "echo-a", "--reason", "noisy").returncode == 0

    def explain() -> str:
        done = subprocess.run(
            [
                str(BIN),
                "test",
                "--config",
                str(srv.config),
                "--labels",
                '{alertname="A",team="t"}',
                "--explain",
                "--url",
                srv.url,
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    out = explain()
    assert "echo-a  SKIPPED: reflex disabled by ann: noisy" in out
    assert "FAIL  reflex disabled by ann: noisy" in out
    assert "echo-b  RUNS" in out
    assert "ok    brakes: not paused, not disabled" in out
    assert "1 run, 1 held by a pause or disable" in out
    assert cli(srv, "pause", "--reason", "freeze").returncode == 0
    out = explain()
    assert "echo-b  SKIPPED: paused by ann: freeze" in out
