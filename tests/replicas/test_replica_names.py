"""A replica's name is a setting that outlives its process: alertreflex_replica_info
keeps one series across restarts, while /metrics says when the process started. The
runs a process holds stay its own even when another live process has the same name."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.payloads import alert, notification

ECHO = """\
reflexes:
  - name: echo
    team: t
    match: ['alertname = "Echo"']
    on_firing: [{exec: {command: ["echo", "hi"]}}]
"""

# mkdir without -p: a run acted on twice leaves a failed run behind.
SLOW = """\
reflexes:
  - name: slow
    team: t
    match: ['alertname="Slow"']
    on_firing:
      - exec: {{command: ["sleep", "4"], timeout: 30s}}
      - exec: {{command: ["mkdir", "{out}/done"]}}
"""


def scrape(srv: Any) -> dict[str, list[Any]]:
    """The samples of /metrics by family, read with prometheus_client's parser."""
    text = httpx.get(f"{srv.url}/metrics", timeout=10).text
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def test_the_replica_series_outlives_a_restart(make_server: Any, tmp_path: Path) -> None:
    """Without --replica the replica is the host name, with no pid or random part:
    after a restart on the same store the same series carries on, and the restart
    shows in the standard process_start_time_seconds instead."""
    db = tmp_path / "kept.db"
    first = make_server(ECHO, db=db)
    before = scrape(first)
    first.stop()
    time.sleep(1.1)  # process_start_time_seconds has a resolution of ticks
    second = make_server(ECHO, db=db)
    after = scrape(second)
    expected = {"replica": socket.gethostname(), "store": "sqlite"}
    assert [s.labels for s in before["alertreflex_replica_info"]] == [expected]
    assert [s.labels for s in after["alertreflex_replica_info"]] == [expected]
    (started_before,) = before["process_start_time_seconds"]
    (started_after,) = after["process_start_time_seconds"]
    assert started_after.value > started_before.value
    (rss,) = after["process_resident_memory_bytes"]
    assert rss.value > 1_000_000
    (python,) = after["python_info"]
    assert python.labels["implementation"] == "CPython"
    assert {s.labels["generation"] for s in after["python_gc_collections"]} == {"0", "1", "2"}


def test_two_live_processes_with_one_name_keep_their_own_runs(
    make_server: Any, shared_storage: str, tmp_path: Path
) -> None:
    """Two processes named alike on one PostgreSQL (a fixed host name in two
    containers, a restart while the old process still runs): the second one's start
    does not take back the first one's running run, nor does its clean stop mark it
    interrupted. The run acts once, in its first attempt."""
    out = tmp_path / "out"
    out.mkdir()
    env = {"ALERTREFLEX_REPLICA": "same-name"}
    first = make_server(SLOW.format(out=out), storage=shared_storage, env=env)
    assert first.post(notification(alert({"alertname": "Slow", "team": "t"}))).status_code == 200
    first.wait_runs(1, states=("running",), timeout=10)
    second = make_server(SLOW.format(out=out), storage=shared_storage, env=env)
    assert second.stop() == 0  # while the first one's run still sleeps
    (run,) = first.wait_runs(1, states=("succeeded", "failed"), timeout=30)
    assert run["state"] == "succeeded", first.run(run["id"])
    detail = first.run(run["id"])
    assert detail["attempts"] == 1, detail
    assert (out / "done").is_dir()
    (info,) = scrape(first)["alertreflex_replica_info"]
    assert info.labels == {"replica": "same-name", "store": "postgresql"}
