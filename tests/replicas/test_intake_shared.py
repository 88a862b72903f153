"""Runs decided at intake on a PostgreSQL store: skipped in the write that stores
them, on the one-statement path and on the path that looks things up first, and a
notification whose episode already ran points to the run it had."""

from __future__ import annotations

from typing import Any

import httpx

from alertreflex.store.urls import redact
from tests.payloads import alert, notification

LABELS = {"alertname": "BucketTooFull_ORANGE", "team": "warehouse"}
CONFIG = """\
reflexes:
  - name: note
    team: warehouse
    match: ['alertname="BucketTooFull_ORANGE"']
    on_firing: [{exec: {command: [echo, fired]}}]
"""
DRY = """\
  - name: dump
    team: warehouse
    match: ['alertname="BucketTooFull_ORANGE"']
    dry_run: true
    on_firing: [{exec: {command: [jcmd, "{{ alert.labels.team }}", Thread.print]}}]
"""


def test_pause_and_repeats_on_postgresql(make_server: Any, shared_storage: str) -> None:
    """Paused: the run is stored skipped at once (the single-statement write);
    the same notification again creates nothing and names the run its episode has."""
    srv = make_server(CONFIG, storage=shared_storage)
    pause = {"reason": "maintenance", "by": "bob"}
    assert httpx.post(f"{srv.url}/api/v1/pause", json=pause, timeout=5).status_code == 200
    payload = notification(alert(LABELS, starts_at="2026-11-25T01:00:00Z"))
    answer = srv.post(payload).json()
    assert answer["runs_created"] == 0 and answer["runs"]["skipped"] == {"paused": 1}
    assert answer["why"] == "paused by bob: maintenance"
    (run,) = srv.runs()
    assert run["state"] == "skipped" and run["finished_at"] == run["created_at"]
    again = srv.post(payload).json()
    assert again["duplicate"] is True and again["runs_skipped"] == 0
    assert f"(see run {run['id']})" in again["why"]
    assert again["why"].endswith(f"; the state lives in {redact(shared_storage)}")


def test_dry_run_on_postgresql_records_its_steps(make_server: Any, shared_storage: str) -> None:
    """A dry run skipped at intake keeps its rendered steps on PostgreSQL too (the
    write that looks things up first), beside a run that goes on."""
    srv = make_server(CONFIG + DRY, storage=shared_storage)
    answer = srv.post(notification(alert(LABELS, starts_at="2026-11-25T01:00:00Z"))).json()
    assert answer["runs"]["queued"] == 1 and answer["runs"]["skipped"] == {"dry_run": 1}
    (dry,) = srv.runs(reflex="dump")
    assert dry["state"] == "skipped"
    steps = srv.run(dry["id"])["steps"]
    assert steps[0]["params"]["command"] == ["jcmd", "warehouse", "Thread.print"]
    srv.wait_runs(1, reflex="note")
