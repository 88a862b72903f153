"""Run ids by prefix (how `runs --show 06h4` finds its run), on SQLite and PostgreSQL:
the prefix is taken literally, case included, whatever the database's wildcards."""

from __future__ import annotations

import time

from alertreflex.core.models import Trigger
from alertreflex.store.base import AlertRecord, Ingest, NewRun, Store

# Ids the engine never makes (core/ids.py uses 0-9a-z), chosen so that reading the
# prefix as a LIKE or GLOB pattern, or ignoring case, would find more.
IDS = ["ab%zz", "ab_zz", "abc01", "abcx1", "ABC02", "ab*zz", "ab[zz", "abd00", "abc0z"]


def _batch(ids: list[str]) -> Ingest:
    alerts = [
        AlertRecord(f"fp-{i}", "2026-11-25T03:24:50.701000Z", "firing", {}, {}, None, "")
        for i in range(len(ids))
    ]
    runs = [
        NewRun(
            id=run_id,
            reflex="r",
            team="t",
            fingerprint=f"fp-{i}",
            starts_at="2026-11-25T03:24:50.701000Z",
            trigger=Trigger.FIRING,
            not_before=0.0,
            context={"alert": {}, "notification": {}},
        )
        for i, run_id in enumerate(ids)
    ]
    return Ingest(
        notification_id="n1",
        received_at=time.time(),
        receiver="r",
        status="firing",
        group_key="g",
        body=b"{}",
        alerts=alerts,
        runs=runs,
        capacity=1000,
    )


async def test_a_prefix_is_taken_literally(store: Store) -> None:
    """Only ids that start with exactly the prefix, in id order: '%', '_', '*', '['
    match only themselves, and case counts."""
    await store.ingest(_batch(IDS))
    assert await store.run_ids_by_prefix("abc", 10) == ["abc01", "abc0z", "abcx1"]
    assert await store.run_ids_by_prefix("ab%", 10) == ["ab%zz"]
    assert await store.run_ids_by_prefix("ab_", 10) == ["ab_zz"]
    assert await store.run_ids_by_prefix("ab*", 10) == ["ab*zz"]
    assert await store.run_ids_by_prefix("ab[", 10) == ["ab[zz"]
    assert await store.run_ids_by_prefix("ABC", 10) == ["ABC02"]
    assert await store.run_ids_by_prefix("abcx1", 10) == ["abcx1"]  # a whole id
    assert await store.run_ids_by_prefix("abe", 10) == []


async def test_a_prefix_lookup_stops_at_its_limit(store: Store) -> None:
    """At most ``limit`` ids come back, the first in id order."""
    await store.ingest(_batch(IDS))
    assert await store.run_ids_by_prefix("abc", 2) == ["abc01", "abc0z"]
    assert len(await store.run_ids_by_prefix("ab", 100)) == 8
