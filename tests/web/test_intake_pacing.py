"""Intake pacing on a real server: while more runs wait for a free slot than
max_concurrent_runs, a new notification is held (at most settings.intake_pacing)
until a slot frees; known repeats are never held; 0 turns it off."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from tests.payloads import alert, notification

CONFIG = """\
settings:
  max_concurrent_runs: 1
  intake_pacing: {pacing}
  shutdown_grace: 1s
reflexes:
  - name: busy
    team: t
    match: ['alertname="Busy"']
    max_concurrent: 10
    on_firing: [{{exec: {{command: ["sleep", "{sleep}"], timeout: 90s}}}}]
"""


def _body(i: int) -> bytes:
    return json.dumps(notification(alert({"alertname": "Busy", "team": "t", "i": str(i)}))).encode()


def _post(client: httpx.Client, body: bytes) -> tuple[httpx.Response, float]:
    t0 = time.monotonic()
    r = client.post("/webhook", content=body, headers={"Content-Type": "application/json"})
    return r, time.monotonic() - t0


def _wait_running(srv: Any, n: int) -> None:
    deadline = time.monotonic() + 20
    while srv.metric("alertreflex_running_runs") != n:
        assert time.monotonic() < deadline, "the first run never started"
        time.sleep(0.05)


def test_a_saturated_pool_holds_new_notifications_until_the_limit(make_server: Any) -> None:
    """One slot, busy for a minute, one run waiting for it: the next new notification
    is held for intake_pacing and then accepted (nothing refused); a repeat is not."""
    srv = make_server(CONFIG.format(pacing="700ms", sleep=60))
    with httpx.Client(base_url=srv.url, timeout=10) as client:
        assert _post(client, _body(0))[0].status_code == 200
        _wait_running(srv, 1)
        second, quick = _post(client, _body(1))  # its run waits: now saturated
        assert second.status_code == 200 and quick < 0.5
        third, held = _post(client, _body(2))
        assert third.status_code == 200, third.text
        assert third.json()["runs"]["queued"] == 1
        assert 0.65 <= held < 5, held
        repeat, quick = _post(client, _body(2))
        assert repeat.json()["duplicate"] is True and quick < 0.5
    assert srv.metric("alertreflex_intake_paced_total") == 1
    assert 0.65 <= srv.metric("alertreflex_intake_paced_seconds_total") < 5


def test_a_freed_slot_releases_held_notifications_early(make_server: Any) -> None:
    """Runs of a second each: a held notification goes on when a slot frees, long
    before the 20 s limit."""
    srv = make_server(CONFIG.format(pacing="20s", sleep=1))
    with httpx.Client(base_url=srv.url, timeout=30) as client:
        assert _post(client, _body(0))[0].status_code == 200
        _wait_running(srv, 1)
        assert _post(client, _body(1))[0].status_code == 200
        third, held = _post(client, _body(2))
        assert third.status_code == 200
        assert 0.3 <= held < 5, held  # released by the first run's end (about a second)
    assert srv.metric("alertreflex_intake_paced_total") == 1


def test_pacing_off(make_server: Any) -> None:
    srv = make_server(CONFIG.format(pacing="0s", sleep=60))
    with httpx.Client(base_url=srv.url, timeout=10) as client:
        assert _post(client, _body(0))[0].status_code == 200
        _wait_running(srv, 1)
        for i in range(1, 4):
            r, took = _post(client, _body(i))
            assert r.status_code == 200 and took < 0.5
    assert srv.metric("alertreflex_intake_paced_total") == 0
