"""A full disk under a real server: the runs that were executing keep their progress
in memory and write it again until the disk has room, /-/ready and a metric say the
store fails meanwhile, and once there is room every run ends, each step having run
exactly once."""

from __future__ import annotations

import collections
import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import ServerProcess
from tests.payloads import alert, notification
from tests.tmpfs import fill, small_tmpfs

STEP = 'echo "$ALERTREFLEX_RUN_ID {i}" >> {log}; sleep 0.4'


def _config(log: Path) -> str:
    return f"""\
settings: {{max_concurrent_runs: 4}}
reflexes:
  - name: slow
    team: t
    match: ['alertname=~"Slow.*"']
    max_concurrent: 4
    on_firing:
      - exec: {{command: ["sh", "-c", '{STEP.format(i=0, log=log)}']}}
      - exec: {{command: ["sh", "-c", '{STEP.format(i=1, log=log)}']}}
"""


def _ready(srv: ServerProcess) -> httpx.Response:
    return httpx.get(f"{srv.url}/-/ready", timeout=5)


def _until(what: str, check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.05)


def test_runs_wait_out_a_full_disk_and_end_once(make_server: Any, tmp_path: Path) -> None:
    """Eight runs of two steps, four at a time, with the SQLite file on a 4 MiB
    tmpfs that is filled while they execute: /-/ready answers 503 naming the cause,
    alertreflex_store_writable is 0 and a new notification gets 503; after the
    filler is deleted every run succeeds in its first attempt, every step ran once,
    /-/ready is 200 again, and the log said "failing" and "writable again" once
    each, not once per retry."""
    steps_log = tmp_path / "steps.log"
    with small_tmpfs(tmp_path / "disk") as disk:
        srv = make_server(_config(steps_log), db=disk / "alertreflex.db")
        for i in range(8):
            assert srv.post(notification(alert({"alertname": f"Slow{i}", "team": "t"}))).is_success
        _until("steps are running", lambda: steps_log.exists() and steps_log.read_text())
        filler = fill(disk)

        _until("/-/ready fails", lambda: _ready(srv).status_code == 503, timeout=15)
        assert "database or disk is full" in _ready(srv).text
        assert srv.metric("alertreflex_store_writable") == 0
        late = notification(alert({"alertname": "SlowLate", "team": "t"}))
        assert srv.post(late).status_code == 503
        time.sleep(1.0)  # the runs retry meanwhile
        assert srv.metric("alertreflex_store_write_failures_total") >= 2

        filler.unlink()
        _until("/-/ready answers 200", lambda: _ready(srv).status_code == 200, timeout=15)
        assert srv.metric("alertreflex_store_writable") == 1
        assert srv.post(late).is_success
        runs = srv.wait_runs(9, timeout=60)

    assert all(r["state"] == "succeeded" and r["attempts"] == 1 for r in runs), runs
    ran = collections.Counter(tuple(line.split()) for line in steps_log.read_text().splitlines())
    assert set(ran) == {(r["id"], step) for r in runs for step in ("0", "1")}
    assert set(ran.values()) == {1}, ran
    log = srv.log()
    assert log.count("store_write_failed") == log.count("store_writable_again") == 1, log
