"""``alertreflex migrate`` as users run it: a subprocess, against a real PostgreSQL
schema and a real SQLite file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import asyncpg

from alertreflex.store import postgres_schema
from alertreflex.store.postgres_schema import SCHEMA_VERSION as PG_VERSION
from alertreflex.store.sqlite_schema import SCHEMA_VERSION as SQLITE_VERSION
from tests.pg import fresh_schema

BIN = Path(sys.executable).parent / "alertreflex"


def migrate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), "migrate", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_migrate_creates_then_has_nothing_to_do_on_postgres(shared_storage: str) -> None:
    # The fixture migrated it already: --check says so, and again is a no-op.
    checked = migrate("--check", "--storage", shared_storage)
    assert checked.returncode == 0, checked.stderr
    assert (
        f"schema version {PG_VERSION}; this alertreflex needs version {PG_VERSION}"
        in checked.stdout
    )
    again = migrate("--storage", shared_storage)
    assert again.returncode == 0 and f"schema version {PG_VERSION}, nothing to do" in again.stdout


async def test_check_reports_a_missing_schema_and_serve_refuses_it(tmp_path: Path) -> None:
    async with fresh_schema() as dsn:
        checked = migrate("--check", "--storage", dsn)
        assert checked.returncode == 1
        assert f"no schema yet; this alertreflex needs version {PG_VERSION}" in checked.stdout
        config = tmp_path / "c.yml"
        config.write_text("reflexes: []\n")
        served = subprocess.run(
            [
                str(BIN),
                "serve",
                "--config",
                str(config),
                "--storage",
                dsn,
                "--listen",
                "127.0.0.1:0",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert served.returncode == 1  # the store is not ready: a failure, not a usage error
        assert "run `alertreflex migrate --storage URL` first" in served.stderr
        done = migrate("--storage", dsn)
        assert (
            done.returncode == 0 and f"no schema yet -> schema version {PG_VERSION}" in done.stdout
        )


def test_migrate_an_sqlite_file_and_hide_passwords(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    assert migrate("--check", "--storage", f"sqlite:///{db}").returncode == 1
    done = migrate("--storage", f"sqlite:///{db}")
    assert done.returncode == 0 and f"-> schema version {SQLITE_VERSION}" in done.stdout
    assert migrate("--check", "--storage", f"sqlite:///{db}").returncode == 0
    wrong = migrate("--storage", "postgresql://bob:s3cret@127.0.0.1:1/nowhere")
    assert wrong.returncode == 1  # a store that cannot be reached: a failure
    assert "s3cret" not in wrong.stderr and "bob:***@127.0.0.1:1" in wrong.stderr
    assert migrate("--storage", "mysql://x/y").returncode == 2  # a usage error


async def test_a_version_4_postgres_schema_migrates_and_keeps_its_runs() -> None:
    """A database of the first PostgreSQL schema (version 4) gets version 6's columns
    and indexes from `alertreflex migrate`, with its rows intact."""
    async with fresh_schema() as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(postgres_schema._CREATE)
            await conn.execute("INSERT INTO meta VALUES ('schema_version', '4')")
            await conn.execute(
                "INSERT INTO notifications VALUES ('n1', 1.0, 'r', 'firing', 'g', 1, 1, 'x')"
            )
            await conn.execute(
                "INSERT INTO runs (id, reflex, team, fingerprint, starts_at, trigger, state,"
                " created_at, not_before, notification_id, context) VALUES"
                " ('r1', 'x', 't', 'f', 's', 'firing', 'succeeded', 1.0, 1.0, 'n1', '{}')"
            )
        finally:
            await conn.close()
        done = migrate("--storage", dsn)
        assert done.returncode == 0, done.stderr
        assert f"schema version 4 -> schema version {PG_VERSION}" in done.stdout
        conn = await asyncpg.connect(dsn)
        try:
            assert await conn.fetchval("SELECT pruned_at FROM runs WHERE id = 'r1'") is None
            assert await conn.fetchval("SELECT repeats FROM notifications WHERE id = 'n1'") == 0
        finally:
            await conn.close()
