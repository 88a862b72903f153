"""The webhook's answer tells what became of each run of the notification, and why
none goes on when none does; the log says the same. A real server, real HTTP, a
real SQLite file."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from tests.conftest import ServerProcess
from tests.payloads import alert, fixture, notification

LABELS = {"alertname": "BucketTooFull_ORANGE", "team": "warehouse"}
_YEAR = datetime.now(UTC).year

# Like examples/alertreflex.yml: one reflex with a cooldown, one dry run.
TWO_REFLEXES = """\
reflexes:
  - name: note
    team: warehouse
    match: ['alertname="BucketTooFull_ORANGE"']
    cooldown: 1h
    on_firing: [{exec: {command: [echo, "fired {{ alert.starts_at }}"]}}]
  - name: dump
    team: warehouse
    match: ['alertname="BucketTooFull_ORANGE"']
    dry_run: true
    on_firing: [{exec: {command: [jcmd, "{{ alert.labels.team }}", Thread.print]}}]
"""


def runs_of(answer: dict[str, Any]) -> dict[str, Any]:
    """The breakdown, checked to add up to the two totals it refines."""
    runs: dict[str, Any] = answer["runs"]
    going_on = runs["queued"] + runs["scheduled"] + runs["awaiting_approval"]
    assert answer["runs_created"] == going_on, answer
    assert answer["runs_skipped"] == sum(runs["skipped"].values()), answer
    return runs


def fire(srv: ServerProcess, starts_at: str, labels: dict[str, str] = LABELS) -> dict[str, Any]:
    resp = srv.post(notification(alert(labels, starts_at=starts_at)))
    assert resp.status_code == 200, resp.text
    answer: dict[str, Any] = resp.json()
    return answer


def accepted_lines(srv: ServerProcess) -> list[str]:
    return [line for line in srv.log().splitlines() if "webhook_accepted" in line]


def test_runs_skipped_at_intake_are_counted_as_skipped(make_server) -> None:  # type: ignore[no-untyped-def]
    """The dry-run reflex's run is skipped, not created; once the other reflex ran,
    a new episode within its cooldown is skipped too, and the answer says why, with
    both reasons, instead of "runs_created: 2". The runs are in the store as
    skipped, the dry run with its rendered steps."""
    srv = make_server(TWO_REFLEXES)
    first = fire(srv, "2026-11-25T01:00:00Z")
    assert runs_of(first) == {
        "queued": 1,
        "scheduled": 0,
        "awaiting_approval": 0,
        "skipped": {"dry_run": 1},
    }
    assert "why" not in first  # a run goes on
    srv.wait_runs(1, reflex="note")
    second = fire(srv, "2026-11-25T02:00:00Z")
    assert second["runs_created"] == 0 and second["duplicate"] is False
    assert runs_of(second)["skipped"] == {"cooldown": 1, "dry_run": 1}
    assert second["why"].startswith("cooldown: last firing run started ")
    assert "cooldown is 1h; dry_run: steps rendered, nothing executed" in second["why"]
    dry = srv.runs(reflex="dump")
    assert [r["state"] for r in dry] == ["skipped", "skipped"]
    shown = srv.run(dry[0]["id"])["steps"]
    assert shown[0]["params"]["command"] == ["jcmd", "warehouse", "Thread.print"]
    assert srv.metric('alertreflex_runs_skipped_total{reason="dry_run",reflex="dump"}') == 2
    assert srv.metric('alertreflex_runs_skipped_total{reason="cooldown",reflex="note"}') == 1
    # One info line per notification that made runs, with what the answer said.
    lines = accepted_lines(srv)
    assert len(lines) == 2 and all("level=info" in line for line in lines)
    assert "cooldown:1,dry_run:1" in lines[1] and "cooldown is 1h" in lines[1]


def test_paused_runs_are_skipped_and_say_who_paused(make_server) -> None:  # type: ignore[no-untyped-def]
    """While paused, a firing run is skipped at once: runs_created 0, the reason
    names who paused and why, and nothing waits in the queue."""
    srv = make_server(TWO_REFLEXES.replace("    dry_run: true\n", ""))
    pause = {"reason": "deploying the bucket service", "by": "alice"}
    assert httpx.post(f"{srv.url}/api/v1/pause", json=pause, timeout=5).status_code == 200
    answer = fire(srv, "2026-11-25T01:00:00Z")
    assert answer["runs_created"] == 0
    assert runs_of(answer)["skipped"] == {"paused": 2}
    assert answer["why"] == "paused by alice: deploying the bucket service"
    runs = srv.runs()
    assert [r["state"] for r in runs] == ["skipped", "skipped"]
    # Decided in the write that stored them: they never waited in the queue.
    assert all(r["finished_at"] == r["created_at"] for r in runs)
    assert srv.metric("alertreflex_queued_runs") == 0


def test_time_windows_and_storm_guards_are_decided_at_intake(make_server) -> None:  # type: ignore[no-untyped-def]
    """A firing run inside a mute interval, and one past its storm guard's limit,
    are answered as skipped with the policy's reason."""
    srv = make_server(
        f"""\
time_intervals:
  - name: this-year
    time_intervals: [{{years: ['{_YEAR - 1}:{_YEAR + 1}']}}]
reflexes:
  - name: muted
    team: t
    match: ['alertname="Muted"']
    mute_time_intervals: [this-year]
    on_firing: [{{exec: {{command: ["true"]}}}}]
  - name: stormy
    team: t
    match: ['alertname="Storm"']
    storm_guard: {{max_runs: 1, window: 1h}}
    on_firing: [{{exec: {{command: ["true"]}}}}]
"""
    )
    muted = fire(srv, "2026-11-25T01:00:00Z", {"alertname": "Muted", "team": "t"})
    assert runs_of(muted)["skipped"] == {"time_interval": 1}
    assert muted["why"] == "inside mute_time_intervals (this-year)"
    assert (
        fire(srv, "2026-11-25T01:00:00Z", {"alertname": "Storm", "team": "t", "i": "1"})["runs"][
            "queued"
        ]
        == 1
    )
    srv.wait_runs(1, reflex="stormy")
    stopped = fire(srv, "2026-11-25T01:00:00Z", {"alertname": "Storm", "team": "t", "i": "2"})
    assert runs_of(stopped)["skipped"] == {"storm_guard": 1}
    assert stopped["why"].startswith("storm guard: 1 firing runs of reflex stormy within 1h")


def test_delayed_and_approval_runs_are_scheduled_or_awaiting(make_server) -> None:  # type: ignore[no-untyped-def]
    """A run with a delay is scheduled (decided when due); a run of a reflex with
    ``approval: required`` waits for an operator, as the answer says."""
    srv = make_server("""\
reflexes:
  - name: later
    team: warehouse
    match: ['alertname="BucketTooFull_ORANGE"']
    delay: 1h
    on_firing: [{exec: {command: ["true"]}}]
  - name: asked
    team: warehouse
    match: ['alertname="BucketTooFull_ORANGE"']
    approval: required
    on_firing: [{exec: {command: ["true"]}}]
""")
    answer = fire(srv, "2026-11-25T01:00:00Z")
    assert answer["runs_created"] == 2 and "why" not in answer
    assert runs_of(answer) == {
        "queued": 0,
        "scheduled": 1,
        "awaiting_approval": 1,
        "skipped": {},
    }
    srv.wait_runs(1, states=("awaiting_approval",), reflex="asked")


def test_a_store_kept_from_an_earlier_try_says_why_nothing_runs(make_server) -> None:  # type: ignore[no-untyped-def]
    """The tour twice against the same store: the second firing notification creates
    nothing, and the answer and the log say why (the episode already ran, which run,
    where the state lives); a byte-identical repeat then answers in the same shape."""
    config = TWO_REFLEXES.replace("    cooldown: 1h\n", "")
    first = make_server(config)
    assert first.post(fixture("firing.json")).json()["runs_created"] == 1
    (ran,) = first.wait_runs(1, reflex="note")
    assert first.post(fixture("resolved.json")).status_code == 200
    assert first.stop() == 0
    again = make_server(config, db=first.db)
    body = orjson.dumps(fixture("firing.json"))
    headers = {"Content-Type": "application/json"}
    answer = httpx.post(f"{again.url}/webhook", content=body, headers=headers, timeout=5).json()
    assert answer["runs_created"] == 0 and answer["runs_skipped"] == 0
    assert answer["duplicate"] is False  # the episode was resolved: it changed
    assert answer["why"] == (
        "its episode already has its runs: alertreflex acts once per episode "
        f"(see run {ran['id']}); the state lives in {first.db}"
    )
    (line,) = accepted_lines(again)
    assert "level=info" in line and f"see run {ran['id']}" in line
    repeat = httpx.post(f"{again.url}/webhook", content=body, headers=headers, timeout=5).json()
    assert repeat["duplicate"] is True and repeat["runs_created"] == 0
    assert runs_of(repeat) == {"queued": 0, "scheduled": 0, "awaiting_approval": 0, "skipped": {}}
    assert "received before, byte for byte" in repeat["why"]
    assert set(repeat) == set(answer)
    assert len(accepted_lines(again)) == 1  # a repeat that changes nothing: no info line


def test_notifications_without_runs_say_why(make_server) -> None:  # type: ignore[no-untyped-def]
    """No reflex for the alert's team, and a resolved alert whose reflexes have no
    on_resolved steps: nothing to create, and the answer says which; such
    notifications are logged at debug only."""
    srv = make_server(TWO_REFLEXES)
    other = fire(srv, "2026-11-25T01:00:00Z", {"alertname": "BucketTooFull_ORANGE", "team": "x"})
    assert other["runs_created"] == 0 and other["why"] == "no reflex matches its alert"
    gone = srv.post(notification(alert(LABELS, status="resolved")))
    assert gone.json()["why"] == "the reflexes that match have no on_resolved steps"
    assert accepted_lines(srv) and all("level=debug" in line for line in accepted_lines(srv))


def test_success_and_error_answers_are_both_compact_json(make_server) -> None:  # type: ignore[no-untyped-def]
    """The 200 and the 400, 401 and 413 answers are written the same way: compact
    JSON, no space after a colon or a comma."""
    srv = make_server("settings: {max_body_size: 2KiB}\n" + TWO_REFLEXES)
    ok = srv.post(fixture("firing.json"))
    invalid = httpx.post(f"{srv.url}/webhook", content=b"{not json", timeout=5)
    big = httpx.post(f"{srv.url}/webhook", content=b"x" * 4096, timeout=5)
    assert (ok.status_code, invalid.status_code, big.status_code) == (200, 400, 413)
    for resp in (ok, invalid, big):
        assert resp.headers["Content-Type"].startswith("application/json")
        assert b'": ' not in resp.content and b'", "' not in resp.content, resp.content
    assert invalid.content.startswith(b'{"status":"error","error":"invalid Alertmanager payload')


def test_the_answer_is_what_the_store_holds(make_server) -> None:  # type: ignore[no-untyped-def]
    """Each run the answer counts is a row of the store in the state it says:
    skipped rows carry their reason, nothing skipped is left queued."""
    srv = make_server(TWO_REFLEXES)
    answer = fire(srv, "2026-11-25T01:00:00Z")
    conn = sqlite3.connect(srv.db)
    try:
        rows = dict(conn.execute("SELECT reflex, state || ': ' || reason FROM runs").fetchall())
    finally:
        conn.close()
    assert answer["runs_skipped"] == 1
    assert rows["dump"] == "skipped: dry_run: steps rendered, nothing executed"
    assert rows["note"] in ("queued: ", "running: ", "succeeded: ")
