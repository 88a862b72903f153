"""A new firing run that can start at once is claimed in the write that stores it
(Engine.ingest, one commit less before its action): on a real server and store, with
the pool free and busy, under a storm guard counted across one notification, a flap
that turns out not to start, and a write refused by a full disk, which must leave no
cooldown behind."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from alertreflex.core.fingerprint import fingerprint
from alertreflex.engine.dispatcher import Dispatcher, QueuedRun
from tests.engine.test_dispatcher import _run as queued_run
from tests.payloads import alert, notification
from tests.tmpfs import fill, small_tmpfs


def _labels(name: str) -> dict[str, str]:
    return {"alertname": name, "team": "t"}


def test_a_run_with_a_free_worker_is_claimed_as_it_is_stored(
    make_server: Any, tmp_path: Path
) -> None:
    """With a worker free, the run is stored running: it starts at the time it was
    stored, in its first attempt. With every worker busy, the next one is queued and
    claimed later, when a worker frees."""
    gate = tmp_path / "gate"
    srv = make_server(f"""\
settings: {{max_concurrent_runs: 1}}
reflexes:
  - name: r
    team: t
    match: []
    max_concurrent: 2
    on_firing: [{{exec: {{command: ["sh", "-c", "while [ ! -e {gate} ]; do sleep 0.05; done"]}}}}]
""")
    assert srv.post(notification(alert(_labels("A")))).json()["runs"]["queued"] == 1
    assert srv.post(notification(alert(_labels("B")))).json()["runs"]["queued"] == 1
    first = srv.wait_runs(1, states=("running",), fingerprint=fingerprint(_labels("A")))
    assert [r["state"] for r in srv.runs()].count("queued") == 1
    gate.touch()
    runs = {r["fingerprint"]: r for r in srv.wait_runs(2)}
    a, b = (srv.run(r["id"]) for r in sorted(runs.values(), key=lambda r: r["created_at"]))
    assert a["id"] == first[0]["id"]
    assert a["started_at"] == a["created_at"] and a["attempts"] == 1
    assert b["started_at"] > b["created_at"] and b["attempts"] == 1


def test_on_postgresql_only_runs_without_shared_policies_are_claimed_as_stored(
    make_server: Any, shared_storage: str
) -> None:
    """On the shared store a reflex with neither cooldown nor storm guard has its run
    claimed as it is stored; one with a cooldown is claimed when it starts, where
    replicas decide cooldowns together (claim_gated), and its next run is skipped."""
    srv = make_server(
        """\
reflexes:
  - name: free
    team: t
    match: ['alertname = "Free"']
    on_firing: [{exec: {command: ["true"]}}]
  - name: cooled
    team: t
    match: ['alertname = "Cooled"']
    cooldown: 1h
    on_firing: [{exec: {command: ["true"]}}]
""",
        storage=shared_storage,
    )
    srv.post(notification(alert(_labels("Free")), alert(_labels("Cooled"))))
    runs = {r["reflex"]: srv.run(r["id"]) for r in srv.wait_runs(2)}
    assert runs["free"]["started_at"] == runs["free"]["created_at"]
    assert runs["cooled"]["started_at"] > runs["cooled"]["created_at"]
    assert all(r["attempts"] == 1 for r in runs.values())
    srv.post(notification(alert({"alertname": "Cooled", "team": "t", "n": "2"})))
    skipped = srv.wait_runs(1, states=("skipped",), reflex="cooled")
    assert skipped[0]["reason"].startswith("cooldown:")


def test_a_storm_guard_holds_within_one_notification(make_server: Any, tmp_path: Path) -> None:
    """Five alerts of five reflexes in one notification, a global storm guard of 2:
    two run, three are skipped by the guard, though each passed it on arrival."""
    marks = tmp_path / "ran"
    reflexes = "".join(
        f"""\
  - name: r{i}
    team: t
    match: ['alertname = "A{i}"']
    on_firing: [{{exec: {{command: ["sh", "-c", "echo {i} >> {marks}"]}}}}]
"""
        for i in range(5)
    )
    srv = make_server(
        "settings: {max_concurrent_runs: 8, storm_guard: {max_runs: 2, window: 1h}}\n"
        f"reflexes:\n{reflexes}"
    )
    srv.post(notification(*(alert(_labels(f"A{i}")) for i in range(5))))
    srv.wait_runs(2)
    skipped = srv.wait_runs(3, states=("skipped",))
    assert all(
        r["reason"].startswith("storm guard: 2 firing runs of all reflexes") for r in skipped
    )
    time.sleep(0.3)
    assert len(marks.read_text().split()) == 2
    assert len(srv.runs(state="succeeded")) == 2


def test_a_flap_is_not_counted_as_a_start(make_server: Any) -> None:
    """A firing run the store finds to be a flap does not start: the storm window it
    was counted in gives the count back, so the next alert still runs."""
    srv = make_server("""\
reflexes:
  - name: r
    team: t
    match: []
    resolve_delay: 30s
    storm_guard: {max_runs: 2, window: 1h}
    on_firing: [{exec: {command: ["true"]}}]
""")
    a = _labels("A")
    srv.post(notification(alert(a, starts_at="2026-11-25T01:00:00Z")))
    srv.wait_runs(1)
    srv.post(notification(alert(a, starts_at="2026-11-25T01:00:00Z", status="resolved")))
    answer = srv.post(notification(alert(a, starts_at="2026-11-25T01:00:20Z"))).json()
    assert answer["runs"]["skipped"] == {"flap": 1}
    srv.post(notification(alert(_labels("B"))))
    assert len(srv.wait_runs(2, trigger="firing")) == 2
    srv.post(notification(alert(_labels("C"))))
    assert srv.wait_runs(1, states=("skipped",), fingerprint=fingerprint(_labels("C")))[0][
        "reason"
    ].startswith("storm guard")


def test_a_refused_write_leaves_no_cooldown(make_server: Any, tmp_path: Path) -> None:
    """The store cannot take a notification (a full disk): the webhook answers 503
    and the run that was to start counts nowhere, so that Alertmanager's retry, once
    there is room, runs it rather than skip it as within its own cooldown."""
    with small_tmpfs(tmp_path / "disk") as disk:
        srv = make_server(
            """\
reflexes:
  - name: r
    team: t
    match: []
    cooldown: 1h
    on_firing: [{exec: {command: ["true"]}}]
""",
            db=disk / "alertreflex.db",
        )
        body = notification(alert(_labels("A")))
        filler = fill(disk)
        assert srv.post(body).status_code == 503
        filler.unlink()
        deadline = time.monotonic() + 15
        while (answer := srv.post(body)).status_code != 200:
            assert time.monotonic() < deadline, answer.text
            time.sleep(0.1)
        assert answer.json()["runs"]["queued"] == 1
        run = srv.wait_runs(1)[0]
    assert run["attempts"] == 1


def _run(name: str, reflex: str) -> QueuedRun:
    """A run as the engine hands it over once stored claimed."""
    return replace(queued_run(name, reflex, time.time()), claimed=True)


async def test_a_reserved_slot_counts_until_it_is_used_or_given_back() -> None:
    """A reservation holds a worker and a place in its reflex's limit: queued runs
    wait for it; released, it lets them go; a run that waits in line means no
    reservation (it would jump the line)."""
    started: list[str] = []
    release = asyncio.Event()

    async def execute(run: QueuedRun) -> None:
        started.append(run.id)
        await release.wait()

    pool = Dispatcher(execute, max_running=2, reflex_limit=lambda _name: 1)
    pool.start()
    assert pool.reserve("r")
    assert not pool.reserve("r")  # r's limit of 1 is held
    assert pool.reserve("s")
    assert not pool.reserve("t")  # both workers are held
    pool.submit(_run("queued-t", "t"))
    await asyncio.sleep(0.01)
    assert started == []
    pool.release("r")
    await asyncio.sleep(0.01)
    assert started == ["queued-t"]
    pool.start_claimed(_run("claimed-s", "s"))
    await asyncio.sleep(0.01)
    assert started == ["queued-t", "claimed-s"]
    assert pool.running == 2 and pool.waiting == 0
    pool.submit(_run("queued-u", "u"))
    assert not pool.reserve("v")  # a run waits for a worker: no jumping the line
    release.set()
    await asyncio.sleep(0.01)
    assert started == ["queued-t", "claimed-s", "queued-u"]
    await pool.shutdown(1.0)
