"""The webhook path end to end: a real server process, real HTTP, a real SQLite file."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

import httpx

from tests.payloads import alert, fixture, notification

ECHO_CONFIG = """\
reflexes:
  - name: echo
    team: warehouse
    match: ['alertname = "BucketTooFull_ORANGE"']
    on_firing:
      - exec: {command: ["echo", "fired {{ alert.labels.alertname }}"]}
    on_resolved:
      - exec: {command: ["echo", "resolved {{ alert.fingerprint }}"]}
"""


def test_fixture_payload_runs_once_then_resolves_once(make_server) -> None:  # type: ignore[no-untyped-def]
    """The captured firing payload runs the firing steps once; resolved runs once too."""
    srv = make_server(ECHO_CONFIG)
    firing = fixture("firing.json")
    first = srv.post(firing)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "status": "accepted",
        "runs_created": 1,
        "runs_skipped": 0,
        "runs": {"queued": 1, "scheduled": 0, "awaiting_approval": 0, "skipped": {}},
        "duplicate": False,
    }
    # Repeats (repeat_interval) and duplicate deliveries of an HA pair.
    for _ in range(3):
        again = srv.post(firing)
        assert again.json()["duplicate"] is True and again.json()["runs_created"] == 0
    runs = srv.wait_runs(1, trigger="firing")
    detail = srv.run(runs[0]["id"])
    assert detail["steps"][0]["output"] == "fired BucketTooFull_ORANGE\n"
    assert detail["alert"]["labels"]["team"] == "warehouse"
    for _ in range(2):
        assert srv.post(fixture("resolved.json")).status_code == 200
    srv.wait_runs(2)
    runs = srv.runs()
    assert sorted(r["trigger"] for r in runs) == ["firing", "resolved"]
    assert srv.metric("alertreflex_duplicate_notifications_total") == 4
    assert (
        srv.metric('alertreflex_runs_total{outcome="succeeded",reflex="echo",trigger="firing"}')
        == 1
    )


def test_new_starts_at_is_a_new_episode(make_server) -> None:  # type: ignore[no-untyped-def]
    """The same alert firing again later (new startsAt) runs again."""
    srv = make_server(ECHO_CONFIG)
    labels = {"alertname": "BucketTooFull_ORANGE", "team": "warehouse"}
    srv.post(notification(alert(labels, starts_at="2026-11-25T01:00:00Z")))
    srv.post(notification(alert(labels, starts_at="2026-11-25T02:00:00Z")))
    assert len(srv.wait_runs(2)) == 2


def test_other_teams_alert_runs_nothing(make_server) -> None:  # type: ignore[no-untyped-def]
    """An alert of another team is stored but matches no reflex."""
    srv = make_server(ECHO_CONFIG)
    resp = srv.post(notification(alert({"alertname": "BucketTooFull_ORANGE", "team": "other"})))
    assert resp.status_code == 200 and resp.json()["runs_created"] == 0
    assert srv.runs() == []


def test_invalid_payloads_name_the_field(make_server) -> None:  # type: ignore[no-untyped-def]
    """Bad JSON or a missing field is a 400 whose message names what was wrong."""
    srv = make_server(ECHO_CONFIG)
    r = httpx.post(f"{srv.url}/webhook", content=b"{not json", timeout=5)
    assert r.status_code == 400 and "invalid JSON" in r.json()["error"]
    bad = fixture("firing.json")
    del bad["alerts"][0]["startsAt"]
    r = srv.post(bad)
    assert r.status_code == 400 and "alerts[0].startsAt: Field required" in r.json()["error"]
    bad = fixture("firing.json")
    bad["alerts"][0]["labels"]["team"] = 7
    r = srv.post(bad)
    assert r.status_code == 400 and "alerts[0].labels.team" in r.json()["error"]
    bad = fixture("firing.json")
    bad["version"] = "3"
    r = srv.post(bad)
    assert r.status_code == 400 and "version" in r.json()["error"]
    assert srv.runs() == []
    assert srv.metric('alertreflex_notifications_total{status="invalid"}') == 4


def test_invalid_ends_at_and_empty_label_names_are_400(make_server) -> None:  # type: ignore[no-untyped-def]
    """endsAt "x" and an empty label or annotation name are 400s naming the field, like
    any invalid field; a real Alertmanager payload is still accepted after them."""
    srv = make_server(ECHO_CONFIG)
    bad = fixture("firing.json")
    bad["alerts"][0]["endsAt"] = "x"
    r = srv.post(bad)
    assert r.status_code == 400 and "alerts[0].endsAt: not an RFC 3339" in r.json()["error"]
    bad = fixture("firing.json")
    bad["alerts"][0]["labels"][""] = "x"
    r = srv.post(bad)
    assert r.status_code == 400 and "alerts[0].labels: empty label name" in r.json()["error"]
    bad = fixture("firing.json")
    bad["commonAnnotations"][""] = "x"
    r = srv.post(bad)
    assert r.status_code == 400 and "commonAnnotations: empty annotation name" in r.text
    assert srv.runs() == []
    assert srv.post(fixture("firing.json")).json()["runs_created"] == 1


def test_body_over_limit_is_413(make_server) -> None:  # type: ignore[no-untyped-def]
    """A body over max_body_size is refused with 413, chunked or not."""
    srv = make_server("settings: {max_body_size: 2KiB}\n" + ECHO_CONFIG)
    payload = fixture("firing.json")
    payload["alerts"][0]["annotations"]["description"] = "x" * 4000
    assert srv.post(payload).status_code == 413

    def chunks():  # type: ignore[no-untyped-def]
        yield json.dumps(payload).encode()

    r = httpx.post(f"{srv.url}/webhook", content=chunks(), timeout=5)
    assert r.status_code == 413
    assert srv.post(fixture("firing.json")).status_code == 200


def test_bearer_token(make_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """With a bearer token configured, a missing or wrong token gets 401."""
    (tmp_path / "token").write_text("tok-123\n")
    srv = make_server(
        f"settings: {{webhook_auth: {{bearer_token_file: {tmp_path / 'token'}}}}}\n" + ECHO_CONFIG
    )
    assert srv.post(fixture("firing.json")).status_code == 401
    assert (
        srv.post(fixture("firing.json"), headers={"Authorization": "Bearer nope"}).status_code
        == 401
    )
    ok = srv.post(fixture("firing.json"), headers={"Authorization": "Bearer tok-123"})
    assert ok.status_code == 200
    assert "tok-123" not in srv.log()


def test_basic_auth(make_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Basic auth as Alertmanager's http_config sends it."""
    (tmp_path / "pw").write_text("pa:ss\n")
    srv = make_server(
        "settings:\n  webhook_auth:\n    basic_auth: {username: am, password_file: "
        f"{tmp_path / 'pw'}}}\n" + ECHO_CONFIG
    )
    good = base64.b64encode(b"am:pa:ss").decode()
    bad = base64.b64encode(b"am:wrong").decode()
    assert (
        srv.post(fixture("firing.json"), headers={"Authorization": f"Basic {bad}"}).status_code
        == 401
    )
    assert (
        srv.post(fixture("firing.json"), headers={"Authorization": f"Basic {good}"}).status_code
        == 200
    )


def test_queue_full_answers_503_and_keeps_what_it_accepted(make_server) -> None:  # type: ignore[no-untyped-def]
    """Past max_queued_runs the webhook answers 503; accepted runs all complete.
    (Without intake pacing, which would hold each post until a slot frees.)"""
    srv = make_server("""\
settings: {max_queued_runs: 3, max_concurrent_runs: 1, intake_pacing: 0s}
reflexes:
  - name: slow
    team: t
    match: []
    max_concurrent: 1
    on_firing: [{exec: {command: ["sleep", "0.3"]}}]
""")
    codes = [
        srv.post(notification(alert({"alertname": f"A{i}", "team": "t"}))).status_code
        for i in range(6)
    ]
    assert codes[:3] == [200, 200, 200]
    assert 503 in codes[3:]
    accepted = codes.count(200)
    srv.wait_runs(accepted, timeout=30)
    assert srv.metric('alertreflex_notifications_total{status="queue_full"}') == codes.count(503)
    assert "webhook_queue_full" in srv.log()


def test_notification_and_runs_are_in_the_store_when_acknowledged(make_server) -> None:  # type: ignore[no-untyped-def]
    """When the 200 arrives, the notification, episode and run are already committed."""
    srv = make_server(ECHO_CONFIG)
    assert srv.post(fixture("firing.json")).status_code == 200
    conn = sqlite3.connect(srv.db)
    assert conn.execute("SELECT count(*) FROM notifications").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM episodes").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
