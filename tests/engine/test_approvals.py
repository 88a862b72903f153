"""approval: required, re-runs and cancel_on_resolve, against a real server process:
the state machine (awaiting_approval -> queued -> ran | rejected | expired), its
audit, and what a restart keeps."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx

from tests.payloads import alert, notification

LABELS = {"alertname": "DiskFull", "team": "t", "instance": "db-1"}


def approval_config(marker: Path, timeout: str = "1h") -> str:
    return f"""\
reflexes:
  - name: cleanup
    team: t
    match: ['alertname="DiskFull"']
    approval: required
    approval_timeout: {timeout}
    on_firing:
      - exec: {{command: ["sh", "-c", "echo cleaned {{{{ alert.labels.instance }}}} >> {marker}"]}}
    on_resolved:
      - exec: {{command: ["true"]}}
"""


def api(srv: Any, verb: str, run_id: str, **body: str) -> httpx.Response:
    return httpx.post(f"{srv.url}/api/v1/runs/{run_id}/{verb}", json=body, timeout=10)


def audit(srv: Any, target: str) -> list[dict[str, Any]]:
    resp = httpx.get(f"{srv.url}/api/v1/audit", params={"target": target}, timeout=10)
    resp.raise_for_status()
    entries: list[dict[str, Any]] = resp.json()["audit"]
    return entries


def test_a_run_waits_shows_its_steps_and_runs_once_approved(
    make_server: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    srv = make_server(approval_config(marker))
    srv.post(notification(alert(LABELS)))
    (waiting,) = srv.wait_runs(1, states=("awaiting_approval",))
    full = srv.run(waiting["id"])
    # The approver sees the fully rendered command and the alert before deciding.
    assert full["steps"][0]["params"]["command"][2].startswith("echo cleaned db-1 >> ")
    assert full["alert"]["labels"] == LABELS
    assert full["expires_at"] > time.time() + 3000
    assert srv.metric("alertreflex_runs_awaiting_approval") == 1
    assert not marker.exists()

    resp = api(srv, "approve", waiting["id"], reason="looked fine", by="alice")
    assert resp.status_code == 200, resp.text
    (ran,) = srv.wait_runs(1, trigger="firing")
    assert ran["approved_by"] == "alice"
    assert marker.read_text() == "cleaned db-1\n"
    assert srv.metric("alertreflex_runs_awaiting_approval") == 0
    (entry,) = audit(srv, waiting["id"])
    assert (entry["who"], entry["action"], entry["reason"]) == ("alice", "approve", "looked fine")

    # Deciding twice: the run is no longer waiting.
    again = api(srv, "approve", waiting["id"], by="bob")
    assert again.status_code == 409
    assert "not awaiting approval" in again.json()["error"]
    assert api(srv, "approve", "no-such-run").status_code == 404
    # The episode's resolved steps follow an approved firing run.
    srv.post(notification(alert(LABELS, status="resolved")))
    srv.wait_runs(1, trigger="resolved")


def test_rejected_runs_never_act_and_their_resolve_does_nothing(
    make_server: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    srv = make_server(approval_config(marker))
    srv.post(notification(alert(LABELS)))
    (waiting,) = srv.wait_runs(1, states=("awaiting_approval",))
    assert api(srv, "reject", waiting["id"], by="bob").status_code == 400  # needs a reason
    resp = api(srv, "reject", waiting["id"], reason="migration running", by="bob")
    assert resp.status_code == 200, resp.text
    rejected = srv.run(waiting["id"])
    assert rejected["state"] == "rejected"
    assert rejected["reason"] == "rejected by bob: migration running"
    srv.post(notification(alert(LABELS, status="resolved")))
    (resolved,) = srv.wait_runs(1, states=("skipped",), trigger="resolved")
    assert resolved["reason"] == "its firing run did not act (rejected): nothing to finish"
    assert not marker.exists()


def test_a_resolve_withdraws_a_waiting_run(make_server: Any, tmp_path: Path) -> None:
    srv = make_server(approval_config(tmp_path / "marker"))
    srv.post(notification(alert(LABELS)))
    (waiting,) = srv.wait_runs(1, states=("awaiting_approval",))
    srv.post(notification(alert(LABELS, status="resolved")))
    srv.wait_runs(2, states=("skipped",))
    assert srv.run(waiting["id"])["reason"] == "the alert resolved before anyone approved the run"
    assert api(srv, "approve", waiting["id"], by="late").status_code == 409


def test_a_resolve_withdraws_a_waiting_run_of_a_reflex_without_resolved_steps(
    make_server: Any, tmp_path: Path
) -> None:
    config = approval_config(tmp_path / "marker").replace(
        '    on_resolved:\n      - exec: {command: ["true"]}\n', ""
    )
    assert "on_resolved" not in config
    srv = make_server(config)
    srv.post(notification(alert(LABELS)))
    srv.wait_runs(1, states=("awaiting_approval",))
    srv.post(notification(alert(LABELS, status="resolved")))
    (skipped,) = srv.wait_runs(1, states=("skipped",))
    assert skipped["reason"] == "the alert resolved before anyone approved the run"
    assert srv.metric("alertreflex_runs_awaiting_approval") == 0


def test_waiting_runs_expire_also_across_a_restart(make_server: Any, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    srv = make_server(approval_config(marker, timeout="3s"))
    srv.post(notification(alert(LABELS)))
    (waiting,) = srv.wait_runs(1, states=("awaiting_approval",))
    assert srv.stop() == 0
    srv.start()  # the deadline is in the store, the restarted server keeps it
    assert srv.run(waiting["id"])["state"] == "awaiting_approval"
    (expired,) = srv.wait_runs(1, states=("expired",), timeout=10)
    assert expired["reason"] == "expired: nobody approved it within its approval_timeout"
    assert expired["finished_at"] - waiting["created_at"] >= 3
    (entry,) = audit(srv, waiting["id"])
    assert (entry["who"], entry["action"]) == ("alertreflex", "expire")
    assert api(srv, "approve", waiting["id"], by="late").status_code == 409
    assert not marker.exists()


def test_an_approval_survives_a_restart(make_server: Any, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    srv = make_server(approval_config(marker))
    srv.post(notification(alert(LABELS)))
    (waiting,) = srv.wait_runs(1, states=("awaiting_approval",))
    assert srv.stop() == 0
    srv.start()
    assert api(srv, "approve", waiting["id"], by="carol").status_code == 200
    srv.wait_runs(1, trigger="firing")
    assert marker.read_text() == "cleaned db-1\n"


RERUN = """\
reflexes:
  - name: dump
    team: t
    match: ['alertname="DiskFull"']
    cooldown: 1h
    on_firing:
      - exec: {{command: ["sh", "-c", "echo dumped >> {marker}"]}}
"""


def test_rerun_makes_a_linked_manual_run_past_the_cooldown(
    make_server: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    srv = make_server(RERUN.format(marker=marker))
    srv.post(notification(alert(LABELS)))
    (first,) = srv.wait_runs(1)
    resp = api(srv, "rerun", first["id"], reason="dump was cut short", by="dave")
    assert resp.status_code == 200, resp.text
    new_id = resp.json()["run"]["id"]
    srv.wait_runs(2)
    again = srv.run(new_id)
    assert (again["rerun_of"], again["manual_by"], again["state"]) == (
        first["id"],
        "dave",
        "succeeded",
    )
    assert marker.read_text() == "dumped\ndumped\n"  # the cooldown did not stop it
    (entry,) = audit(srv, first["id"])
    assert (entry["who"], entry["action"], entry["details"]) == ("dave", "rerun", {"run": new_id})
    # A repeat of the original notification is still a duplicate: the manual run does
    # not take the episode's place.
    srv.post(notification(alert(LABELS)))
    time.sleep(0.3)
    assert len(srv.runs()) == 2

    assert api(srv, "rerun", first["id"], by="dave").status_code == 400  # needs a reason
    assert api(srv, "rerun", "nope", reason="x").status_code == 404
    httpx.post(f"{srv.url}/api/v1/pause", json={"reason": "freeze"}, timeout=10)
    refused = api(srv, "rerun", first["id"], reason="again")
    assert refused.status_code == 409
    assert "paused" in refused.json()["error"]


CANCEL = """\
reflexes:
  - name: slow-cancelled
    team: t
    match: ['alertname="DiskFull"']
    cancel_on_resolve: true
    on_firing:
      - exec: {{command: ["sh", "-c", "echo $$ > {pidfile}; exec sleep 60"], timeout: 2m}}
    on_resolved:
      - exec: {{command: ["true"]}}
  - name: slow-kept
    team: t
    match: ['alertname="DiskFull"']
    on_firing:
      - exec: {{command: ["sleep", "2"]}}
"""


def test_cancel_on_resolve_kills_the_running_step(make_server: Any, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    srv = make_server(CANCEL.format(pidfile=pidfile))
    srv.post(notification(alert(LABELS)))
    deadline = time.monotonic() + 10
    while not pidfile.exists() or not pidfile.read_text().strip():
        assert time.monotonic() < deadline, srv.runs()
        time.sleep(0.05)
    pid = int(pidfile.read_text())
    srv.post(notification(alert(LABELS, status="resolved")))
    (cancelled,) = srv.wait_runs(1, states=("cancelled",), timeout=10)
    assert cancelled["reflex"] == "slow-cancelled"
    assert cancelled["reason"] == (
        "step 0 (exec): cancelled: the alert resolved (cancel_on_resolve)"
    )
    step = srv.run(cancelled["id"])["steps"][0]
    assert step["outcome"] == "cancelled"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        pass
    else:
        raise AssertionError(f"sleep (pid {pid}) survived the cancel")
    # The resolved steps still run, and the reflex without cancel_on_resolve finishes.
    srv.wait_runs(1, trigger="resolved", reflex="slow-cancelled")
    srv.wait_runs(1, trigger="firing", reflex="slow-kept", timeout=10)


def test_cancel_on_resolve_skips_a_run_that_had_not_started(
    make_server: Any, tmp_path: Path
) -> None:
    config = CANCEL.format(pidfile=tmp_path / "pid").replace(
        "    cancel_on_resolve: true\n", "    cancel_on_resolve: true\n    delay: 1s\n"
    )
    srv = make_server(config)
    srv.post(notification(alert(LABELS)))
    srv.post(notification(alert(LABELS, status="resolved")))
    (skipped,) = srv.wait_runs(1, states=("skipped",), trigger="firing", reflex="slow-cancelled")
    assert skipped["reason"] in (
        "cancel_on_resolve: the alert resolved before the run started",
        "delay: the alert resolved within 1s",
    )


def test_the_cli_shows_approves_and_reruns(make_server: Any, tmp_path: Path) -> None:
    import subprocess

    from tests.conftest import BIN

    marker = tmp_path / "marker"
    srv = make_server(approval_config(marker))
    srv.post(notification(alert(LABELS)))
    (waiting,) = srv.wait_runs(1, states=("awaiting_approval",))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN), *args, "--url", srv.url], capture_output=True, text=True, timeout=30
        )

    shown = cli("runs", "--show", waiting["id"]).stdout
    assert "awaiting approval until" in shown
    assert "echo cleaned db-1 >> " in shown  # the rendered command
    listed = cli("runs", "--state", "awaiting_approval").stdout
    assert waiting["id"] in listed
    done = cli("approve", waiting["id"], "--by", "erin")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"run {waiting['id']} queued"
    srv.wait_runs(1, trigger="firing")
    again = cli("approve", waiting["id"])
    assert again.returncode == 1 and "not awaiting approval" in again.stderr
    rerun = cli("rerun", waiting["id"], "--reason", "once more", "--by", "erin")
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.startswith("run ") and f"a manual re-run of {waiting['id']}" in rerun.stdout
    srv.wait_runs(2, trigger="firing")
    assert marker.read_text() == "cleaned db-1\ncleaned db-1\n"
    assert cli("reject", waiting["id"]).returncode == 2  # argparse: --reason is required
