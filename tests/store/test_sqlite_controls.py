"""Controls (pause, disable, breaker) and the audit trail in the SQLite store."""

from __future__ import annotations

from pathlib import Path

from alertreflex.store.base import GLOBAL, AuditEntry, Control
from alertreflex.store.sqlite import SQLiteStore


async def test_controls_persist_and_every_change_is_audited(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    s = SQLiteStore(path)
    await s.open()
    pause = Control(GLOBAL, "pause", "deploying", "ann", 100.0)
    assert (
        await s.set_control(GLOBAL, pause, AuditEntry(100.0, "ann", "pause", "global", "deploying"))
        is None
    )
    breaker = Control("echo", "breaker", "5 failed runs in a row", "alertreflex", 101.0)
    await s.set_control(
        "echo",
        breaker,
        AuditEntry(101.0, "alertreflex", "breaker_open", "echo", "5 failed", {"failures": 5}),
    )
    await s.close()

    s = SQLiteStore(path)  # a restart keeps them
    await s.open()
    try:
        assert await s.controls() == [pause, breaker]
        before = await s.set_control(
            GLOBAL, None, AuditEntry(102.0, "bob", "resume", "global", "done")
        )
        assert before == pause
        assert await s.controls() == [breaker]
        assert (
            await s.set_control(GLOBAL, None, AuditEntry(103.0, "bob", "resume", "global", "again"))
            is None
        )
        audit = await s.list_audit()
        assert [(e.id, e.who, e.action, e.reason) for e in audit] == [
            (4, "bob", "resume", "again"),
            (3, "bob", "resume", "done"),
            (2, "alertreflex", "breaker_open", "5 failed"),
            (1, "ann", "pause", "deploying"),
        ]
        assert audit[2].details == {"failures": 5}
        only = await s.list_audit(target="echo", limit=5)
        assert [e.action for e in only] == ["breaker_open"]
        assert len(await s.list_audit(limit=2)) == 2
        await s.add_audit(AuditEntry(104.0, "carol", "rerun", "run-1", "try again"))
        assert (await s.list_audit(limit=1))[0].to_json()["target"] == "run-1"
    finally:
        await s.close()
