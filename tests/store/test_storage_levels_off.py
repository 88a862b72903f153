"""Under sustained load with a short retention the store levels off: history
(notification bodies, run details) stays at what the retention window holds, and
only the small facts of episodes grow. In SQLite's file, freed pages are reused,
not appended to; PostgreSQL's autovacuum returns its dead rows' space in its own
time, so there the history held is what is checked."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.payloads import alert, notification

CONFIG = """\
settings:
  retention: 2s
reflexes:
  - name: note
    team: t
    match: ['alertname="Load"']
    on_firing: [{exec: {command: ["echo", "{{ alert.labels.i }}"]}}]
    on_resolved: [{exec: {command: ["echo", "resolved"]}}]
"""
RATE = 40  # new episodes per second, each resolved two seconds later


def _sizes(db: Path) -> tuple[int, int]:
    """(pages in use, bytes of history: bodies, run details, artifacts)."""
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        history = conn.execute(
            "SELECT (SELECT coalesce(sum(length(body)), 0) FROM notifications)"
            " + (SELECT coalesce(sum(length(context) + length(steps)), 0) FROM runs)"
            " + (SELECT coalesce(sum(length(data)), 0) FROM artifacts)"
        ).fetchone()[0]
        return pages - free, history
    finally:
        conn.close()


_PG_HISTORY = (
    "SELECT (SELECT coalesce(sum(octet_length(body)), 0) FROM notifications)"
    " + (SELECT coalesce(sum(octet_length(context::text) + octet_length(steps::text)), 0)"
    " FROM runs) + (SELECT coalesce(sum(octet_length(data)), 0) FROM artifacts)"
)


def _pg_history(dsn: str) -> int:
    async def read() -> int:
        conn = await asyncpg.connect(dsn)
        try:
            return int(await conn.fetchval(_PG_HISTORY))
        finally:
            await conn.close()

    return asyncio.run(read())


def _load(srv: Any, sample: Any) -> dict[int, Any]:
    """20 s of RATE new episodes a second, each resolved two seconds later; what
    ``sample()`` says at 8 s and at 20 s."""
    samples: dict[int, Any] = {}
    start = time.monotonic()
    with httpx.Client(base_url=srv.url, timeout=10) as client:
        for second in range(20):
            for i in range(RATE):
                n = second * RATE + i
                labels = {"alertname": "Load", "team": "t", "i": str(n)}
                firing = json.dumps(notification(alert(labels))).encode()
                assert client.post("/webhook", content=firing).status_code == 200
                if second >= 2:
                    old = {**labels, "i": str(n - 2 * RATE)}
                    resolved = json.dumps(notification(alert(old, status="resolved"))).encode()
                    assert client.post("/webhook", content=resolved).status_code == 200
            if second + 1 in (8, 20):
                samples[second + 1] = sample()
            pause = start + second + 1 - time.monotonic()
            if pause > 0:
                time.sleep(pause)
    return samples


def test_the_file_levels_off_with_a_short_retention(make_server: Any) -> None:
    """20 s of 40 new episodes a second (80 notifications a second) with retention
    2s: the history held at 20 s is about what it was at 8 s (bounded by the
    window), and the pages in use grow far slower than the data written."""
    srv = make_server(CONFIG)
    samples = _load(srv, lambda: _sizes(srv.db))
    (pages8, history8), (pages20, history20) = samples[8], samples[20]
    # History: what the last few seconds hold (retention 2s, a prune each second).
    assert history20 < 1.5 * history8, (history8, history20)
    # Everything else is the facts of episodes: a fraction of the history written.
    assert pages20 < 1.8 * pages8, (pages8, pages20)


def test_postgres_holds_only_the_retention_window(make_server: Any, shared_storage: str) -> None:
    """The same load on PostgreSQL: the history it holds stays bounded by the
    retention window."""
    srv = make_server(CONFIG, storage=shared_storage)
    samples = _load(srv, lambda: _pg_history(shared_storage))
    assert samples[20] < 1.5 * samples[8], samples
