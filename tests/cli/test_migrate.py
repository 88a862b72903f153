"""``alertreflex migrate`` as users run it: a subprocess, against a real PostgreSQL
schema and a real SQLite file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
    assert "schema version 4; this alertreflex needs version 4" in checked.stdout
    again = migrate("--storage", shared_storage)
    assert again.returncode == 0 and "schema version 4, nothing to do" in again.stdout


async def test_check_reports_a_missing_schema_and_serve_refuses_it(tmp_path: Path) -> None:
    async with fresh_schema() as dsn:
        checked = migrate("--check", "--storage", dsn)
        assert checked.returncode == 1
        assert "no schema yet; this alertreflex needs version 4" in checked.stdout
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
        assert served.returncode == 2
        assert "run `alertreflex migrate --storage URL` first" in served.stderr
        done = migrate("--storage", dsn)
        assert done.returncode == 0 and "no schema yet -> schema version 4" in done.stdout


def test_migrate_an_sqlite_file_and_hide_passwords(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    assert migrate("--check", "--storage", f"sqlite:///{db}").returncode == 1
    done = migrate("--storage", f"sqlite:///{db}")
    assert done.returncode == 0 and f"-> schema version {SQLITE_VERSION}" in done.stdout
    assert migrate("--check", "--storage", f"sqlite:///{db}").returncode == 0
    wrong = migrate("--storage", "postgresql://bob:s3cret@127.0.0.1:1/nowhere")
    assert wrong.returncode == 2
    assert "s3cret" not in wrong.stderr and "bob:***@127.0.0.1:1" in wrong.stderr
    assert migrate("--storage", "mysql://x/y").returncode == 2
