"""PostgreSQL goes away under load: nothing acknowledged is lost, the webhook and
/-/ready answer 503 meanwhile, and the replica recovers by itself.

This stops and starts the machine's real PostgreSQL cluster (pg_ctlcluster), and
always starts it again.
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from tests.payloads import alert, notification

CONFIG = """\
reflexes:
  - name: note
    team: t
    match: ['alertname="Load"']
    max_concurrent: 8
    on_firing: [{exec: {command: ["true"]}}]
"""


def _cluster(action: str) -> None:
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action],
        check=True,
        capture_output=True,
        timeout=60,
    )


def test_a_postgres_restart_under_load_loses_no_acknowledged_notification(
    make_server: Any, shared_storage: str
) -> None:
    srv = make_server(CONFIG, storage=shared_storage)
    acked: list[str] = []
    refused: list[int] = []
    stop = threading.Event()

    def load() -> None:
        i = 0
        with httpx.Client(timeout=15) as http:
            while not stop.is_set():
                instance = f"i{i}"
                i += 1
                payload = notification(
                    alert({"alertname": "Load", "team": "t", "instance": instance})
                )
                try:
                    status = http.post(srv.url + "/webhook", json=payload).status_code
                except httpx.HTTPError:
                    status = 0
                if status == 200:
                    acked.append(instance)
                else:
                    refused.append(status)
                time.sleep(0.01)

    sender = threading.Thread(target=load)
    sender.start()
    ready_while_down: list[int] = []
    try:
        time.sleep(1.5)
        _cluster("stop")
        try:
            time.sleep(1.0)
            ready_while_down.append(httpx.get(srv.url + "/-/ready", timeout=15).status_code)
            time.sleep(1.0)
        finally:
            _cluster("start")
        deadline = time.monotonic() + 20
        while httpx.get(srv.url + "/-/ready", timeout=15).status_code != 200:
            assert time.monotonic() < deadline, "not ready again 20s after PostgreSQL came back"
            time.sleep(0.2)
        before = len(acked)
        time.sleep(1.5)  # accepting again
    finally:
        stop.set()
        sender.join()
    assert ready_while_down == [503]
    assert refused and set(refused) <= {503}, refused  # 503 while down, never a 500
    assert len(acked) > before  # notifications are acknowledged again after recovery
    runs = srv.wait_runs(len(acked), timeout=60)
    ran = {r["fingerprint"] for r in runs}
    want = {alert({"alertname": "Load", "team": "t", "instance": i})["fingerprint"] for i in acked}
    assert want <= ran, f"{len(want - ran)} acknowledged notifications have no run"
