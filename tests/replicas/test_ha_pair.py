"""The whole picture: an Alertmanager HA pair (two real, clustered
prometheus-alertmanager processes) sending every notification to each of three
replicas on one PostgreSQL; 1,000 alerts; one replica killed with SIGKILL in the
middle of its runs. Every episode's reflex runs exactly once, and the killed
replica's runs finish elsewhere."""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import yaml

from alertreflex.demo.stack import Stack
from tests.conftest import free_port

ALERTS = 1000
# Two steps: the sleep keeps runs in flight when the replica is killed; mkdir (no
# -p) fails if an episode were acted on twice.
CONFIG = """\
settings:
  replica_lease: 2s
reflexes:
  - name: once
    team: t
    match: ['alertname="Storm"']
    max_concurrent: 8
    on_firing:
      - exec: {{command: ["sleep", "0.1"]}}
      - exec: {{command: ["mkdir", "{out}/{{{{ alert.labels.instance }}}}"]}}
"""


def _alertmanagers(stack: Stack, replicas: list[Any]) -> list[str]:
    config = {
        "route": {
            "receiver": "alertreflex",
            "group_by": ["alertname", "shard"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "alertreflex",
                "webhook_configs": [
                    {"url": f"{r.url}/webhook", "send_resolved": True} for r in replicas
                ],
            }
        ],
    }
    path = stack.workdir / "alertmanager-ha.yml"
    path.write_text(yaml.safe_dump(config))
    cluster = [free_port() for _ in range(2)]
    urls = []
    for i in range(2):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        data = stack.workdir / f"am{i}-data"
        data.mkdir()
        stack.start(
            f"alertmanager-{i}",
            [
                "prometheus-alertmanager",
                f"--config.file={path}",
                f"--storage.path={data}",
                f"--web.listen-address=127.0.0.1:{port}",
                f"--web.external-url={url}",
                f"--cluster.listen-address=127.0.0.1:{cluster[i]}",
                f"--cluster.peer=127.0.0.1:{cluster[1 - i]}",
                "--cluster.peer-timeout=1s",
                "--cluster.gossip-interval=50ms",
            ],
            f"{url}/-/ready",
        )
        urls.append(url)
    return urls


async def _running_owners(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT DISTINCT owner FROM runs WHERE state = 'running'")
    finally:
        await conn.close()
    return " ".join(f"{r['owner']}:" for r in rows)


def test_an_ha_pair_three_replicas_and_a_kill_act_once_per_episode(
    make_server: Any, shared_storage: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    replicas = [make_server(CONFIG.format(out=out), storage=shared_storage) for _ in range(3)]
    with Stack(tmp_path / "stack") as stack:
        ams = _alertmanagers(stack, replicas)
        now = dt.datetime.now(dt.UTC)
        alerts = [
            {
                "labels": {
                    "alertname": "Storm",
                    "team": "t",
                    "instance": f"i{n}",
                    "shard": str(n % 20),
                },
                "startsAt": now.isoformat(),
                "endsAt": (now + dt.timedelta(hours=1)).isoformat(),
            }
            for n in range(ALERTS)
        ]
        for am in ams:  # as Prometheus does: every alert to every Alertmanager
            httpx.post(f"{am}/api/v2/alerts", json=alerts, timeout=30).raise_for_status()

        # The victim: a replica with runs past their claim (mid-step) now, as the
        # database records them (the owner id holds the replica's pid).
        deadline = time.monotonic() + 60
        victim = None
        while victim is None:
            assert time.monotonic() < deadline, "no replica ever ran anything"
            owners = asyncio.run(_running_owners(shared_storage))
            victim = next((r for r in replicas if f":{r.proc.pid}:" in owners), None)
        victim.stop(signal.SIGKILL)
        survivors = [r for r in replicas if r is not victim]

        deadline = time.monotonic() + 120
        while len(list(out.iterdir())) < ALERTS:
            assert time.monotonic() < deadline, f"{len(list(out.iterdir()))} of {ALERTS} acted on"
            time.sleep(0.5)
        time.sleep(3)  # anything acting twice would do so by now (lease 2s)

    assert sorted(p.name for p in out.iterdir()) == sorted(f"i{n}" for n in range(ALERTS))
    runs = httpx.get(f"{survivors[1].url}/api/v1/runs", params={"limit": 1000}, timeout=10)
    runs = runs.json()["runs"]
    assert len(runs) == ALERTS
    # A run acts once. The one exception is the step a killed replica was running:
    # it may have done its work without living to record it, and runs again when
    # the run resumes elsewhere (mkdir then finds its directory). Only runs that
    # were running on the victim (at most its max_concurrent 8) can show that.
    resumed = [r for r in runs if r["attempts"] > 1]
    failed = [r for r in runs if r["state"] != "succeeded"]
    assert all(r["attempts"] == 2 and r["reason"] == "step 1 (exec): exit 1" for r in failed), (
        failed
    )
    assert len(resumed) <= 8, resumed
    assert resumed, "no run of the killed replica was resumed elsewhere"
    assert any("run_taken_over" in s.log() for s in survivors)
    # Each replica got the notifications the others acted on: the once-only was tested.
    for s in survivors:
        assert s.metric("alertreflex_duplicate_notifications_total") > 0
