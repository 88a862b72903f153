"""An SQLite store file that exists but holds no alertreflex store is refused, and
left as it is: SQLite would take an empty file for a new database, and alertreflex
would forget which alert episodes it had already handled."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from alertreflex.store.base import StoreError
from alertreflex.store.sqlite import SQLiteStore
from tests.conftest import run_cli

CONFIG = """\
reflexes:
  - name: echo
    team: t
    match: ['alertname="A"']
    on_firing: [{exec: {command: ["echo", "hi"]}}]
"""


def _foreign(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda p: p.write_bytes(b""), "is empty (0 bytes), not an alertreflex store"),
        (lambda p: p.write_text("runs: []\n"), "is not an SQLite database"),
        (_foreign, "is the SQLite database of something else"),
    ],
    ids=["empty", "not-sqlite", "foreign"],
)
async def test_a_file_that_is_no_store_is_refused_and_left_alone(
    tmp_path: Path, make: Callable[[Path], object], says: str
) -> None:
    """open() raises StoreError naming the file, what is wrong and what to do; the
    file is not touched and no WAL is created beside it."""
    path = tmp_path / "alertreflex.db"
    make(path)
    before = path.read_bytes()
    with pytest.raises(StoreError) as caught:
        await SQLiteStore(path).open()
    message = str(caught.value)
    assert str(path) in message and says in message
    if "something else" not in says:
        assert "restore it from a backup, or move it away" in message
        assert "their runs may run again" in message
    assert path.read_bytes() == before
    assert not (tmp_path / "alertreflex.db-wal").exists()


async def test_a_missing_file_is_a_new_store(tmp_path: Path) -> None:
    """No file at all is the first start: a new store is created."""
    store = SQLiteStore(tmp_path / "new" / "alertreflex.db")
    await store.open()
    try:
        assert await store.list_runs() == []
    finally:
        await store.close()


def test_serve_and_migrate_exit_1_on_an_empty_store_file(tmp_path: Path) -> None:
    """`alertreflex serve`, `alertreflex migrate` and `migrate --check` refuse a
    zero-length file with exit status 1 (invalid input) and the reason, and leave it
    empty."""
    db = tmp_path / "alertreflex.db"
    db.touch()
    config = tmp_path / "alertreflex.yml"
    config.write_text(CONFIG)
    storage = f"sqlite:///{db}"
    served = run_cli(
        "serve", "--config", str(config), "--storage", storage, "--listen", "127.0.0.1:0"
    )
    migrated = run_cli("migrate", "--storage", storage)
    checked = run_cli("migrate", "--check", "--storage", storage)
    for done in (served, migrated, checked):
        assert done.returncode == 1, done.stderr
        assert f"{db} is empty (0 bytes), not an alertreflex store" in done.stderr
    assert db.stat().st_size == 0
