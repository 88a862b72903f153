"""Several replicas on one PostgreSQL, as users run them behind an Alertmanager HA
pair: every replica gets every notification, and each episode still acts once."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path
from typing import Any

import httpx

from tests.payloads import alert, notification

# mkdir without -p fails when the directory exists: an episode acted on twice would
# leave a failed run behind, not just a second line somewhere.
CONFIG = """\
settings:
  replica_lease: 2s
reflexes:
  - name: once
    team: t
    match: ['alertname="Once"']
    on_firing:
      - exec: {{command: ["mkdir", "{out}/{{{{ alert.labels.instance }}}}"]}}
  - name: slow
    team: t
    match: ['alertname="Slow"']
    max_concurrent: 3
    on_firing:
      - exec: {{command: ["sleep", "3"], timeout: 30s}}
      - exec: {{command: ["mkdir", "{out}/slow-{{{{ alert.labels.instance }}}}"]}}
  - name: cool
    team: t
    match: ['alertname="Cool"']
    cooldown: 1h
    on_firing: [{{exec: {{command: ["true"]}}}}]
  - name: stormy
    team: t
    match: ['alertname="Stormy"']
    storm_guard: {{max_runs: 2, window: 1h}}
    on_firing: [{{exec: {{command: ["true"]}}}}]
"""


def _replicas(make_server: Any, storage: str, out: Path, n: int) -> list[Any]:
    out.mkdir(exist_ok=True)
    return [make_server(CONFIG.format(out=out), storage=storage) for _ in range(n)]


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout}s: {what}")


def test_every_replica_gets_the_notification_and_the_episode_acts_once(
    make_server: Any, shared_storage: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    replicas = _replicas(make_server, shared_storage, out, 3)
    payloads = [
        notification(alert({"alertname": "Once", "team": "t", "instance": f"i{i}"}))
        for i in range(30)
    ]
    for payload in payloads:
        for srv in replicas:
            assert srv.post(payload).status_code == 200
    runs = replicas[0].wait_runs(30, timeout=30)
    assert len(runs) == 30 and all(r["state"] == "succeeded" for r in runs)
    assert sorted(p.name for p in out.iterdir()) == sorted(f"i{i}" for i in range(30))
    # Every replica shows the same runs, whichever ran them.
    assert {r["id"] for r in replicas[2].runs()} == {r["id"] for r in runs}
    text = httpx.get(replicas[1].url + "/metrics", timeout=10).text
    assert 'alertreflex_replica_info{replica="' in text and 'store="postgresql"' in text


def test_a_pause_at_one_replica_holds_the_others_within_a_second(
    make_server: Any, shared_storage: str, tmp_path: Path
) -> None:
    a, b = _replicas(make_server, shared_storage, tmp_path / "out", 2)
    paused = httpx.post(
        a.url + "/api/v1/pause", json={"reason": "maintenance", "by": "ops"}, timeout=10
    )
    assert paused.status_code == 200, paused.text
    time.sleep(1.5)
    b.post(notification(alert({"alertname": "Once", "team": "t", "instance": "p"})))
    (skipped,) = b.wait_runs(1, states=("skipped",))
    assert skipped["reason"] == "paused by ops: maintenance"
    assert not (tmp_path / "out" / "p").exists()


def test_runs_of_a_killed_replica_finish_elsewhere(
    make_server: Any, shared_storage: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    victim, survivor = _replicas(make_server, shared_storage, out, 2)
    for i in range(3):
        payload = notification(alert({"alertname": "Slow", "team": "t", "instance": f"s{i}"}))
        assert victim.post(payload).status_code == 200
    victim.wait_runs(3, states=("running",), timeout=10)
    victim.stop(signal.SIGKILL)  # no clean shutdown: its leases just stop
    runs = survivor.wait_runs(3, timeout=30)
    assert sorted(p.name for p in out.iterdir()) == ["slow-s0", "slow-s1", "slow-s2"]
    for r in runs:
        full = survivor.run(r["id"])
        assert full["attempts"] == 2, full  # interrupted on the victim, resumed here
    assert "run_taken_over" in survivor.log()


def test_cooldowns_and_storm_guards_count_every_replicas_runs(
    make_server: Any, shared_storage: str, tmp_path: Path
) -> None:
    replicas = _replicas(make_server, shared_storage, tmp_path / "out", 3)
    a, b, c = replicas
    a.post(notification(alert({"alertname": "Cool", "team": "t", "instance": "one"})))
    a.wait_runs(1, reflex="cool")
    b.post(notification(alert({"alertname": "Cool", "team": "t", "instance": "two"})))
    (cooled,) = b.wait_runs(1, states=("skipped",), reflex="cool")
    assert cooled["reason"].startswith("cooldown: last firing run started")

    for i in range(6):
        srv = replicas[i % 3]
        srv.post(notification(alert({"alertname": "Stormy", "team": "t", "instance": f"s{i}"})))
    runs = c.wait_runs(6, states=("succeeded", "skipped"), reflex="stormy")
    assert sorted(r["state"] for r in runs) == ["skipped"] * 4 + ["succeeded"] * 2
    assert all(
        r["reason"].startswith("storm guard: 2 firing runs of reflex stormy")
        for r in runs
        if r["state"] == "skipped"
    )
    # Every replica mirrors the shared window within a second or two.
    _wait(
        lambda: all(
            s.metric('alertreflex_storm_guard_tripped{scope="stormy"}') == 1 for s in replicas
        ),
        5,
        "every replica reports the tripped storm guard",
    )


def test_a_reload_of_one_replica_reloads_the_others(
    make_server: Any, shared_storage: str, tmp_path: Path
) -> None:
    a, b = _replicas(make_server, shared_storage, tmp_path / "out", 2)
    extra = """\
  - name: added
    team: t
    match: ['alertname="Added"']
    on_firing: [{exec: {command: ["true"]}}]
"""
    for srv in (a, b):  # a deploy updates every replica's files
        srv.config.write_text(srv.config.read_text() + extra)
    assert httpx.post(a.url + "/-/reload", timeout=10).status_code == 200

    def names(srv: Any) -> set[str]:
        doc = httpx.get(srv.url + "/api/v1/reflexes", timeout=10).json()
        return {r["name"] for r in doc["reflexes"]}

    _wait(lambda: "added" in names(b), 5, "the other replica reloads")
    assert "reloading_for_peer" in b.log() and "reloading_for_peer" not in a.log()


LINE_CONFIG = """\
settings:
  replica_lease: 2s
  max_concurrent_runs: 4
reflexes:
  - name: line
    team: t
    match: ['alertname="Line"']
    max_concurrent: 1
    on_firing:
      - exec: {command: ["sleep", "0.4"]}
"""


VICTIM_RUNS = 13


def _taken_over(srv: Any) -> set[str]:
    return set(re.findall(r" msg=run_taken_over run_id=(\S+)", srv.log()))


def test_survivors_share_a_dead_replicas_runs_and_keep_their_place_in_line(
    make_server: Any, shared_storage: str
) -> None:
    """The runs a killed replica held are taken over in batches by every survivor,
    and a survivor with work of its own starts the older taken-over runs before
    its own newer ones (they used to go to the end of the first sweeper's queue)."""
    victim, busy, idle = (make_server(LINE_CONFIG, storage=shared_storage) for _ in range(3))
    # Enough for three batches of max_concurrent_runs (4) even if the victim finished
    # two: with two, one survivor may sweep twice before the other sweeps once.
    for i in range(VICTIM_RUNS):
        payload = notification(alert({"alertname": "Line", "team": "t", "instance": f"v{i}"}))
        assert victim.post(payload).status_code == 200
    victim.wait_runs(1, states=("running",), timeout=10)
    victim.stop(signal.SIGKILL)
    for i in range(20):  # 8 s of work of its own, queued after the victim's runs
        payload = notification(alert({"alertname": "Line", "team": "t", "instance": f"b{i}"}))
        assert busy.post(payload).status_code == 200
    runs = busy.wait_runs(VICTIM_RUNS + 20, timeout=90)
    by_id = {r["id"]: r for r in runs}
    to_busy, to_idle = _taken_over(busy), _taken_over(idle)
    orphans = to_busy | to_idle
    # The victim's exec helper is ready when it serves, so its first run may end while
    # the other notifications are still being posted: those it finished are no orphans.
    finished = set(re.findall(r" msg=run_finished run_id=(\S+)", victim.log()))
    assert len(finished) <= 2 and not finished & orphans, (finished, orphans)
    assert len(orphans) == VICTIM_RUNS - len(finished) and not to_busy & to_idle, (to_busy, to_idle)
    assert to_busy and to_idle, "one survivor took every run of the dead replica"
    own_starts = [r["started_at"] for r in runs if r["id"] not in orphans | finished]
    assert len(own_starts) == 20
    late = [rid for rid in to_busy if by_id[rid]["started_at"] > max(own_starts)]
    assert late == [], "taken-over runs waited behind all of the survivor's newer runs"
