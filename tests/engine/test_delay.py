"""`delay`: firing steps only if the alert still fires after it, by alertreflex's own
record of resolves and, when configured, by a real Alertmanager's list of alerts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from alertreflex.core.fingerprint import fingerprint
from alertreflex.demo.stack import Proc, Stack
from tests.payloads import alert, notification

REFLEX = """\
reflexes:
  - name: restart-later
    team: t
    match: ['alertname=~"A|B|C"']
    delay: 1s
    on_firing: [{exec: {command: ["echo", "restart"]}}]
    on_resolved: [{exec: {command: ["echo", "resolved"]}}]
"""


def test_a_blip_does_nothing_a_steady_alert_acts_after_the_delay(make_server: Any) -> None:
    srv = make_server(REFLEX)
    blip = {"alertname": "A", "team": "t"}
    srv.post(notification(alert(blip)))
    srv.post(notification(alert(blip, status="resolved")))
    skipped = srv.wait_runs(2, states=("skipped",), timeout=10)
    reasons = {r["trigger"]: r["reason"] for r in skipped}
    assert reasons["firing"] == "delay: the alert resolved within 1s"
    # Queued still, or already skipped: either way it never acted.
    assert reasons["resolved"] in (
        "its firing run did not act (queued): nothing to finish",
        "its firing run did not act (skipped): nothing to finish",
    )
    steady = {"alertname": "B", "team": "t"}
    srv.post(notification(alert(steady)))
    (run,) = srv.wait_runs(1, trigger="firing", timeout=10)
    assert run["started_at"] - run["created_at"] >= 1.0
    srv.post(notification(alert(steady, status="resolved")))
    srv.wait_runs(1, trigger="resolved", timeout=10)


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Proc]:
    with Stack(tmp_path / "stack") as stack:
        yield stack.start_alertmanager("http://127.0.0.1:9/nowhere")


def test_alertmanager_decides_when_configured(make_server: Any, alertmanager: Proc) -> None:
    """B is still listed by Alertmanager after the delay and acts; C was never there
    (its resolve got lost, say) and does not."""
    srv = make_server(REFLEX + f"settings:\n  alertmanager_url: {alertmanager.url}\n")
    listed = {"alertname": "B", "team": "t"}
    ends = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    resp = httpx.post(
        f"{alertmanager.url}/api/v2/alerts",
        json=[{"labels": listed, "annotations": {}, "endsAt": ends}],
        timeout=5,
    )
    assert resp.status_code == 200, resp.text
    srv.post(notification(alert(listed)))
    srv.post(notification(alert({"alertname": "C", "team": "t"})))
    done = srv.wait_runs(2, states=("succeeded", "skipped"), timeout=15)
    by_alert = {r["fingerprint"]: (r["state"], r["reason"]) for r in done}
    assert by_alert[fingerprint(listed)] == ("succeeded", "")
    assert by_alert[fingerprint({"alertname": "C", "team": "t"})] == (
        "skipped",
        "delay: after 1s Alertmanager no longer lists the alert",
    )
