"""A run whose history retention removed, as operators see it: the UI and
``runs --show`` say what went and why the run is still listed; it cannot re-run."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.conftest import run_cli
from tests.payloads import alert, notification

CONFIG = """\
settings:
  retention: 1s
reflexes:
  - name: note
    team: t
    match: ['alertname="Old"']
    on_firing: [{exec: {command: ["echo", "noted"]}}]
"""


def test_a_pruned_run_is_shown_and_not_rerun(make_server: Any) -> None:
    """After a prune the run has pruned_at, no steps and no alert; its page and
    `runs --show` say the history was removed; a re-run is refused with the reason."""
    srv = make_server(CONFIG)
    assert srv.post(notification(alert({"alertname": "Old", "team": "t"}))).status_code == 200
    (run,) = srv.wait_runs(1)
    deadline = time.monotonic() + 15
    while srv.run(run["id"])["pruned_at"] is None:
        assert time.monotonic() < deadline, "never pruned"
        time.sleep(0.2)
    full = srv.run(run["id"])
    assert full["steps"] == [] and full["alert"] is None and full["state"] == "succeeded"

    page = httpx.get(f"{srv.url}/ui/runs/{run['id']}", timeout=10)
    assert page.status_code == 200 and "removed by retention" in page.text
    assert "Re-run" not in page.text

    shown = run_cli("runs", "--url", srv.url, "--show", run["id"])
    assert shown.returncode == 0, shown.stderr
    assert "history removed by retention" in shown.stdout

    rerun = httpx.post(
        f"{srv.url}/api/v1/runs/{run['id']}/rerun", json={"reason": "again"}, timeout=10
    )
    assert rerun.status_code == 409, rerun.text
    assert "older than settings.retention" in rerun.json()["error"]
