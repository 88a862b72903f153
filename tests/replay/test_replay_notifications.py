"""History kept by alertreflex itself: a real server receives notifications, they
are exported from its store (SQLite, and PostgreSQL), and replayed."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path
from typing import Any

from tests.conftest import run_cli
from tests.payloads import alert, notification

SERVER = """\
reflexes:
  - name: note
    team: shop
    match: ['alertname="Slow"']
    on_firing: [{exec: {command: ["true"]}}]
"""
REPLAYED = """\
reflexes:
  - name: dump
    team: shop
    match: ['alertname="Slow"']
    cooldown: 1h
    on_firing: [{exec: {command: ["jcmd", "{{ alert.labels.instance }}", "Thread.print"]}}]
    on_resolved: [{exec: {command: ["echo", "done"]}}]
"""


def _receive(srv: Any) -> None:
    """Two alerts that started a minute ago (a notification whose alert started hours
    before it would be a repeat of one from before the export), the first repeated
    (Alertmanager's repeat_interval) and resolved."""
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    a = alert({"alertname": "Slow", "team": "shop", "instance": "a"}, starts_at=started)
    b = alert({"alertname": "Slow", "team": "shop", "instance": "b"}, starts_at=started)
    resolved_a = alert(a["labels"], status="resolved", starts_at=started)
    for body in (notification(a), notification(a, b), notification(resolved_a, b)):
        assert srv.post(body).is_success
    srv.wait_runs(2)


def _export_and_replay(tmp_path: Path, storage: str) -> dict[str, Any]:
    exported = run_cli("export-notifications", "--storage", storage, "--since", "1h")
    assert exported.returncode == 0, exported.stderr
    assert "exported 3 notification(s)" in exported.stderr
    history = tmp_path / "notifications.jsonl"
    history.write_text(exported.stdout)
    cfg = tmp_path / "replayed.yml"
    cfg.write_text(REPLAYED)
    # The notifications came a second apart: runs of the default 10 s would still hold
    # the reflex's one slot when the resolution comes (it would be reported pending).
    done = run_cli(
        "replay",
        "--config",
        str(cfg),
        "--notifications",
        str(history),
        "--json",
        "--run-time",
        "100ms",
    )
    assert done.returncode == 0, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def _expected(doc: dict[str, Any]) -> None:
    dump = doc["reflexes"]["dump"]
    # a fires and acts; b fires 0-1 s later, within the hour's cooldown; a resolves.
    assert doc["episodes"] == 2
    assert (dump["firing"], dump["resolved"], dump["skipped"]) == (1, 1, {"cooldown": 1})
    assert dump["samples"][0]["steps"][0]["params"]["command"] == ["jcmd", "a", "Thread.print"]


def test_notifications_exported_from_sqlite_replay(make_server: Any, tmp_path: Path) -> None:
    srv = make_server(SERVER)
    _receive(srv)
    # Exported while the server runs: the export only reads.
    _expected(_export_and_replay(tmp_path, f"sqlite:///{srv.db}"))


def test_notifications_exported_from_postgresql_replay(
    make_server: Any, shared_storage: str, tmp_path: Path
) -> None:
    srv = make_server(SERVER, storage=shared_storage)
    _receive(srv)
    _expected(_export_and_replay(tmp_path, shared_storage))


def test_bad_history_files_are_clear_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "replayed.yml"
    cfg.write_text(REPLAYED)
    history = tmp_path / "notifications.jsonl"
    history.write_text('{"received_at": 1, "body": {"alerts": []}}\n{"received_at": 2}\n')
    done = run_cli("replay", "--config", str(cfg), "--notifications", str(history))
    assert done.returncode == 1
    assert f"{history}:1: not an Alertmanager notification:" in done.stderr
    history.write_text("not json\n")
    done = run_cli("replay", "--config", str(cfg), "--notifications", str(history))
    assert done.returncode == 1 and f"{history}:1: not an exported notification" in done.stderr
    done = run_cli("replay", "--config", str(cfg), "--notifications", str(tmp_path / "missing"))
    assert done.returncode == 1 and "cannot read" in done.stderr
    packed = tmp_path / "notifications.jsonl.gz"
    packed.write_bytes(gzip.compress(b'{"received_at": 1, "body": {}}\n'))
    done = run_cli("replay", "--config", str(cfg), "--notifications", str(packed))
    assert done.returncode == 1 and "is not text (a compressed export?" in done.stderr
    done = run_cli("export-notifications", "--storage", f"sqlite:///{tmp_path}/none.db")
    assert done.returncode == 1 and "no store at" in done.stderr


def test_the_export_pages_through_every_notification_once(make_server: Any) -> None:
    """Pages of two follow each other by (received_at, id): five notifications come
    out once each, oldest first, whatever the page size."""
    import asyncio

    from alertreflex.store.sqlite import SQLiteStore

    srv = make_server(SERVER)
    for i in range(5):
        body = notification(alert({"alertname": "Other", "team": "shop", "n": str(i)}))
        assert srv.post(body).is_success

    async def pages() -> list[tuple[float, str]]:
        store = SQLiteStore(srv.db)
        seen: list[tuple[float, str]] = []
        try:
            after = (0.0, "")
            while page := await store.notifications_between(0.0, time.time() + 60, after, 2):
                seen.extend(row[:2] for row in page)
                after = page[-1][:2]
        finally:
            await store.close()
        return seen

    seen = asyncio.run(pages())
    assert len(seen) == len(set(seen)) == 5
    assert seen == sorted(seen)
