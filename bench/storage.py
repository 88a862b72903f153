"""Storage benchmark: bytes the SQLite store uses per notification, by kind.

Prints figures and asserts nothing:

    .venv/bin/python bench/storage.py [--count 2000]

A fresh ``alertreflex serve`` (SQLite in a temporary directory, one reflex with an
``exec`` step on every alert, retention off) gets ``--count`` notifications of each
kind in turn, and after each kind the pages in use (``page_count - freelist_count``,
WAL checkpointed) are read:

- new: a new group of 3 firing alerts (3 new episodes, 3 runs);
- repeat: the same bytes as one already sent (Alertmanager's ``repeat_interval``, an
  HA pair's second copy);
- repeat, new value: the same alerts, one annotation changed (``{{ $value }}``);
- resolved: the group of a ``new`` notification, resolved (3 resolved runs).

The figures are the growth divided by the count: what each notification costs on
disk while retention keeps it (docs/operations/sizing.md).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
import urllib.request
from pathlib import Path

from ingest import HOST, Server

CONFIG = """\
settings:
  retention: 0s
reflexes:
  - name: note
    team: bench
    match: ['alertname="SizeBench"']
    on_firing: [{exec: {command: ["echo", "{{ alert.labels.instance }}"]}}]
    on_resolved: [{exec: {command: ["echo", "resolved"]}}]
"""
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _alert(group: int, k: int, status: str, value: str) -> dict[str, object]:
    labels = {
        "alertname": "SizeBench",
        "team": "bench",
        "job": "node",
        "severity": "warning",
        "instance": f"host-{group}-{k}.example.org:9100",
    }
    return {
        "status": status,
        "labels": labels,
        "annotations": {
            "summary": f"disk of host-{group}-{k} is filling up",
            "description": f"free space is {value} and falling; see the runbook",
            "runbook_url": "https://runbooks.example.org/disk",
        },
        "startsAt": "2026-12-06T03:00:00.000Z",
        "endsAt": "2026-12-06T04:00:00.000Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example.org:9090/graph?g0.expr=node_filesystem",
        "fingerprint": f"{group:08x}{k:08x}",
    }


def notification(group: int, status: str = "firing", value: str = "12%") -> bytes:
    alerts = [_alert(group, k, status, value) for k in range(3)]
    return json.dumps(
        {
            "receiver": "alertreflex",
            "status": status,
            "alerts": alerts,
            "groupLabels": {"alertname": "SizeBench"},
            "commonLabels": {"alertname": "SizeBench", "team": "bench", "job": "node"},
            "commonAnnotations": {"runbook_url": "https://runbooks.example.org/disk"},
            "externalURL": "http://alertmanager.example.org:9093",
            "version": "4",
            "groupKey": f'{{}}:{{alertname="SizeBench", group="{group}"}}',
            "truncatedAlerts": 0,
        }
    ).encode()


def post(url: str, body: bytes) -> None:
    request = urllib.request.Request(
        f"{url}/webhook", body, {"Content-Type": "application/json"}, method="POST"
    )
    with _OPENER.open(request, timeout=10) as resp:
        assert resp.status == 200, resp.status


def used_bytes(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        return int((pages - free) * size)
    finally:
        conn.close()


def settle(url: str) -> None:
    """Wait until no run is queued or running, so that their records are final."""
    while True:
        with _OPENER.open(f"{url}/metrics", timeout=10) as resp:
            text = resp.read().decode()
        busy = sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(("alertreflex_queued_runs ", "alertreflex_running_runs "))
        )
        if busy == 0:
            return
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="notifications of each kind")
    args = parser.parse_args()
    n = args.count
    with tempfile.TemporaryDirectory(prefix="alertreflex-size-") as tmp:
        d = Path(tmp)
        (d / "c.yml").write_text(CONFIG)
        db = d / "s.db"
        server = Server(d / "c.yml", f"sqlite:///{db}", d / "server.log", "warning").start()
        try:
            kinds = [
                ("new (3 alerts)", [notification(g) for g in range(n)]),
                ("repeat, same bytes", [notification(g) for g in range(n)]),
                ("repeat, new value", [notification(g, value="11%") for g in range(n)]),
                ("resolved (3 alerts)", [notification(g, "resolved") for g in range(n)]),
            ]
            print(f"{HOST}: {n} notifications of each kind; body ~{len(kinds[0][1][0])} bytes")
            before = used_bytes(db)
            for name, bodies in kinds:
                for body in bodies:
                    post(server.url, body)
                settle(server.url)
                after = used_bytes(db)
                print(f"  {name:22} {(after - before) / n:8.0f} bytes per notification")
                before = after
        finally:
            server.stop()


if __name__ == "__main__":
    main()
