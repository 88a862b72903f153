"""Operational endpoints, config reload and shutdown, against real server processes."""

from __future__ import annotations

import hashlib
import json
import re
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ServerProcess
from tests.payloads import alert, fixture, notification
from tests.procs import alive

ECHO = """\
reflexes:
  - name: echo
    team: warehouse
    match: ['alertname = "BucketTooFull_ORANGE"']
    on_firing:
      - exec: {command: ["echo", "hi"]}
"""
FIRST = """\
reflexes:
  - name: first
    team: t
    match: ['alertname = "First"']
    on_firing:
      - exec: {command: ["echo", "first {{ alert.labels.n }}"]}
"""
SECOND = """\
  - name: second
    team: t
    match: ['alertname = "Second"']
    on_firing:
      - exec: {command: ["echo", "second {{ alert.labels.n }}"]}
"""
BROKEN = """\
reflexes:
  - name: first
    team: t
    match: ['alertname ~ "First"']
    on_firing:
      - exec: {command: ["echo", "first"]}
"""


def post_alert(srv: Any, alertname: str, n: int) -> None:
    resp = srv.post(notification(alert({"alertname": alertname, "team": "t", "n": str(n)})))
    assert resp.status_code == 200, resp.text
    assert resp.json()["runs_created"] == 1, resp.text


def reflex_names(srv: Any) -> list[str]:
    resp = httpx.get(f"{srv.url}/api/v1/reflexes", timeout=10)
    assert resp.status_code == 200
    return sorted(r["name"] for r in resp.json()["reflexes"])


def output_of(srv: Any, run: dict[str, Any]) -> str:
    out: str = srv.run(run["id"])["steps"][0]["output"]
    return out


def wait_for(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def samples(srv: Any) -> dict[str, Any]:
    """Metric families by name, parsed with prometheus_client's own parser."""
    text = httpx.get(f"{srv.url}/metrics", timeout=10).text
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(family: Any, sample: str, **labels: str) -> float:
    found = [s.value for s in family.samples if s.name == sample and s.labels == labels]
    assert len(found) == 1, (sample, labels, family.samples)
    return float(found[0])


def db_run(db: Path) -> tuple[str, int, str, list[dict[str, Any]]]:
    """(state, attempts, reason, steps) of the only run, read from the SQLite file."""
    conn = sqlite3.connect(db)
    try:
        (row,) = conn.execute("SELECT state, attempts, reason, steps FROM runs").fetchall()
    finally:
        conn.close()
    return row[0], row[1], row[2], json.loads(row[3])


@pytest.fixture(scope="module")
def echo_srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the health and metrics tests (only the metrics test posts to it)."""
    d = tmp_path_factory.mktemp("ops")
    (d / "alertreflex.yml").write_text(ECHO)
    srv = ServerProcess(d / "alertreflex.yml", d / "alertreflex.db", d / "server.log").start()
    yield srv
    srv.stop()


def test_healthy_and_ready(echo_srv: ServerProcess) -> None:
    """/-/healthy and /-/ready answer 200 on a running server."""
    srv = echo_srv
    healthy = httpx.get(f"{srv.url}/-/healthy", timeout=5)
    assert healthy.status_code == 200 and "Healthy" in healthy.text
    ready = httpx.get(f"{srv.url}/-/ready", timeout=5)
    assert ready.status_code == 200 and "Ready" in ready.text


def test_metrics_exposes_every_family(echo_srv: ServerProcess) -> None:
    """/metrics, parsed by prometheus_client, has every documented family after a run."""
    srv = echo_srv
    assert srv.post(fixture("firing.json")).status_code == 200
    assert srv.post(fixture("firing.json")).json()["duplicate"] is True
    bad = httpx.post(f"{srv.url}/webhook", content=b"{", timeout=5)
    assert bad.status_code == 400
    srv.wait_runs(1)
    # The run's metrics are updated just after its state is stored.
    wait_for(lambda: srv.metric("alertreflex_run_duration_seconds_count") == 1)
    resp = httpx.get(f"{srv.url}/metrics", timeout=5)
    assert resp.headers["Content-Type"].startswith("text/plain")
    fams = samples(srv)

    assert fams["alertreflex_notifications"].type == "counter"
    n = fams["alertreflex_notifications"]
    assert value(n, "alertreflex_notifications_total", status="accepted") == 2
    assert value(n, "alertreflex_notifications_total", status="invalid") == 1

    a = fams["alertreflex_alerts_received"]
    assert a.type == "counter"
    assert value(a, "alertreflex_alerts_received_total", status="firing") == 2

    runs = fams["alertreflex_runs"]
    assert runs.type == "counter"
    assert (
        value(runs, "alertreflex_runs_total", reflex="echo", trigger="firing", outcome="succeeded")
        == 1
    )

    hist = fams["alertreflex_run_duration_seconds"]
    assert hist.type == "histogram"
    assert value(hist, "alertreflex_run_duration_seconds_count", reflex="echo") == 1
    assert 0 < value(hist, "alertreflex_run_duration_seconds_sum", reflex="echo") < 5
    assert value(hist, "alertreflex_run_duration_seconds_bucket", reflex="echo", le="+Inf") == 1

    dup = fams["alertreflex_duplicate_notifications"]
    assert dup.type == "counter"
    assert value(dup, "alertreflex_duplicate_notifications_total") == 1

    queued = fams["alertreflex_queued_runs"]
    assert queued.type == "gauge" and value(queued, "alertreflex_queued_runs") == 0

    ok = fams["alertreflex_config_last_reload_successful"]
    assert ok.type == "gauge" and value(ok, "alertreflex_config_last_reload_successful") == 1
    ts = fams["alertreflex_config_last_reload_success_timestamp_seconds"]
    assert ts.type == "gauge"
    loaded_at = value(ts, "alertreflex_config_last_reload_success_timestamp_seconds")
    assert srv.config.stat().st_mtime <= loaded_at <= time.time()


def test_reload_adds_a_reflex(make_server) -> None:  # type: ignore[no-untyped-def]
    """POST /-/reload picks up a new reflex: listed by the API and run for new alerts."""
    srv = make_server(FIRST)
    assert reflex_names(srv) == ["first"]
    ts_before = srv.metric("alertreflex_config_last_reload_success_timestamp_seconds")
    srv.config.write_text(FIRST + SECOND)
    resp = httpx.post(f"{srv.url}/-/reload", timeout=10)
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    assert (doc["status"], doc["reflexes"]) == ("success", 2)
    # The files it runs, with their digests: how `alertreflex sync` verifies a reload.
    digest = hashlib.sha256(srv.config.read_bytes()).hexdigest()
    assert doc["config"]["files"] == [{"path": str(srv.config), "sha256": digest}]
    assert httpx.get(f"{srv.url}/api/v1/status", timeout=5).json()["config"] == doc["config"]
    assert reflex_names(srv) == ["first", "second"]
    assert srv.metric("alertreflex_config_last_reload_successful") == 1
    assert srv.metric("alertreflex_config_last_reload_success_timestamp_seconds") > ts_before
    post_alert(srv, "Second", 1)
    (run,) = srv.wait_runs(1, reflex="second")
    assert output_of(srv, run) == "second 1\n"
    assert "config_reloaded" in srv.log()


def test_failed_reload_keeps_the_running_config(make_server) -> None:  # type: ignore[no-untyped-def]
    """A broken config is refused with file:line: path: message; the old one keeps running."""
    srv = make_server(FIRST)
    ts_before = srv.metric("alertreflex_config_last_reload_success_timestamp_seconds")
    srv.config.write_text(BROKEN)
    resp = httpx.post(f"{srv.url}/-/reload", timeout=10)
    assert not resp.is_success, resp.text
    error = resp.json()["error"]
    problem = rf"{re.escape(str(srv.config))}:4: reflexes\[0\]\.match\[0\]: invalid matcher .+"
    assert re.search(problem, error), error
    assert "keeping the last good config" in error

    assert srv.metric("alertreflex_config_last_reload_successful") == 0
    assert srv.metric("alertreflex_config_last_reload_success_timestamp_seconds") == ts_before
    assert reflex_names(srv) == ["first"]
    post_alert(srv, "First", 1)
    (run,) = srv.wait_runs(1, reflex="first")
    assert output_of(srv, run) == "first 1\n"
    log = srv.log()
    assert "config_reload_failed" in log
    assert re.search(problem, log), log
    assert httpx.get(f"{srv.url}/-/ready", timeout=5).status_code == 200

    # Fixing the file and reloading again recovers.
    srv.config.write_text(FIRST + SECOND)
    assert httpx.post(f"{srv.url}/-/reload", timeout=10).status_code == 200
    assert srv.metric("alertreflex_config_last_reload_successful") == 1
    assert reflex_names(srv) == ["first", "second"]


def test_sighup_reloads(make_server) -> None:  # type: ignore[no-untyped-def]
    """SIGHUP reloads the config like POST /-/reload."""
    srv = make_server(FIRST)
    srv.config.write_text(FIRST + SECOND)
    srv.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: reflex_names(srv) == ["first", "second"])
    post_alert(srv, "Second", 7)
    (run,) = srv.wait_runs(1, reflex="second")
    assert output_of(srv, run) == "second 7\n"
    assert srv.proc.poll() is None


def test_sigterm_lets_a_running_run_finish(make_server) -> None:  # type: ignore[no-untyped-def]
    """SIGTERM with the default grace waits for the running run; it ends succeeded, exit 0."""
    srv = make_server("""\
reflexes:
  - name: slow
    team: t
    match: []
    on_firing:
      - exec: {command: ["sh", "-c", "sleep 1; echo done"]}
""")
    post_alert(srv, "Slow", 1)
    srv.wait_runs(1, states=("running",))
    t0 = time.monotonic()
    assert srv.stop(signal.SIGTERM, timeout=20) == 0
    assert time.monotonic() - t0 < 10
    state, attempts, reason, steps = db_run(srv.db)
    assert (state, attempts, reason) == ("succeeded", 1, "")
    assert steps[0]["outcome"] == "succeeded" and steps[0]["output"] == "done\n"
    log = srv.log()
    assert "shutting_down" in log and "stopped" in log
    assert "runs_interrupted" not in log


def test_sigterm_past_grace_interrupts_then_resumes(make_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Past shutdown_grace the run is interrupted; the next start runs it again to the end,
    and its own start does not put it under the reflex's cooldown."""
    marker = tmp_path / "first-attempt"
    config = f"""\
settings: {{shutdown_grace: 200ms}}
reflexes:
  - name: resumable
    team: t
    match: []
    cooldown: 1h
    on_firing:
      - exec:
          command:
            - sh
            - -c
            - if [ -e {marker} ]; then echo second attempt; else echo $$ > {marker}; exec sleep 30; fi
"""
    srv = make_server(config)
    post_alert(srv, "Resume", 1)
    srv.wait_runs(1, states=("running",))
    wait_for(lambda: marker.exists() and marker.read_text().strip().isdigit())
    sleeper = int(marker.read_text())
    assert alive(sleeper)
    t0 = time.monotonic()
    assert srv.stop(signal.SIGTERM, timeout=20) == 0
    assert time.monotonic() - t0 < 10
    state, attempts, reason, _steps = db_run(srv.db)
    assert (state, attempts) == ("interrupted", 1)
    assert "200ms" in reason or "0.2s" in reason, reason
    assert "runs_interrupted" in srv.log()
    wait_for(lambda: not alive(sleeper), timeout=5)  # the step's process did not outlive it

    again = make_server(config, db=srv.db)
    (run,) = again.wait_runs(1)
    detail = again.run(run["id"])
    assert detail["attempts"] == 2 and detail["state"] == "succeeded"
    assert detail["steps"][0]["output"] == "second attempt\n"
    assert detail["steps"][0]["attempt"] == 2
    assert "run_resumed" in again.log()
    assert again.stop() == 0
    assert db_run(again.db)[:2] == ("succeeded", 2)
