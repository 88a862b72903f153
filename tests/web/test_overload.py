"""The webhook at and past the run queue's limit, on a real server: refusing is
cheap and logged as a rate, repeats are still accepted, the limit is exact."""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any

import httpx

from tests.payloads import alert, notification

CONFIG = """\
settings:
  max_queued_runs: 5
  shutdown_grace: 1s
reflexes:
  - name: slow
    team: t
    match: ['alertname="Slow"']
    max_concurrent: 1
    on_firing: [{exec: {command: ["sleep", "60"], timeout: 90s}}]
"""


def _body(i: int) -> bytes:
    return json.dumps(notification(alert({"alertname": "Slow", "team": "t", "i": str(i)}))).encode()


def test_a_full_queue_refuses_before_parsing_and_logs_a_rate(make_server: Any) -> None:
    """With 5 runs accepted and not finished, every new notification gets 503 at
    once, even one that is not valid JSON (it is not parsed); a byte-identical repeat
    of an accepted one is still accepted as a duplicate; 60 refusals make one or two
    log lines with a count, and the counter has every one."""
    srv = make_server(CONFIG)
    with httpx.Client(base_url=srv.url, timeout=10) as client:

        def post(body: bytes) -> httpx.Response:
            return client.post(
                "/webhook", content=body, headers={"Content-Type": "application/json"}
            )

        for i in range(5):
            assert post(_body(i)).status_code == 200
        refused = [post(_body(100 + i)) for i in range(60)]
        assert {r.status_code for r in refused} == {503}
        assert refused[0].headers["Retry-After"] == "5"
        assert "run queue is full" in refused[0].json()["error"]
        assert post(b"not json at all").status_code == 503
        repeat = post(_body(0))
        assert repeat.status_code == 200 and repeat.json()["duplicate"] is True
    assert srv.metric('alertreflex_notifications_total{status="queue_full"}') == 61
    assert srv.metric("alertreflex_queued_runs") + srv.metric("alertreflex_running_runs") == 5
    lines = [line for line in srv.log().splitlines() if "webhook_queue_full" in line]
    assert 1 <= len(lines) <= 2, lines
    assert re.search(r"refused_since_last_line=1\b", lines[0])


def test_identical_repeats_are_answered_without_a_write(make_server: Any) -> None:
    """Alertmanager's byte-identical repeats are recognised before parsing: the
    answer says duplicate, the store keeps one copy of the body and counts them."""
    srv = make_server(CONFIG.replace("max_queued_runs: 5", "max_queued_runs: 100"))
    body = _body(7)
    with httpx.Client(base_url=srv.url, timeout=10) as client:
        answers = [
            client.post("/webhook", content=body, headers={"Content-Type": "application/json"})
            for _ in range(20)
        ]
    assert answers[0].json()["runs_created"] == 1 and answers[0].json()["duplicate"] is False
    assert all(a.json()["duplicate"] is True for a in answers[1:])
    assert srv.metric("alertreflex_duplicate_notifications_total") == 19
    assert srv.metric('alertreflex_alerts_received_total{status="firing"}') == 20
    srv.stop()  # the counts are written at the latest at a clean stop
    conn = sqlite3.connect(srv.db)
    try:
        rows = conn.execute("SELECT repeats FROM notifications").fetchall()
    finally:
        conn.close()
    assert rows == [(19,)]
