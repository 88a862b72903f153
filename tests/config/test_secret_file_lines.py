"""Secrets, tokens and password files are read when the config loads; a problem with
one is reported by the real ``alertreflex check`` at the line of its setting, like
every other config error, not at line 0."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import bcrypt

from tests.conftest import run_cli

UNSET_ENV = "ALERTREFLEX_TEST_SECRET_THAT_IS_NOT_SET"


def check(*paths: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != UNSET_ENV}
    return run_cli("check", *map(str, paths), env=env)


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the only line of ``text`` that holds ``needle``."""
    found = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(found) == 1, f"{needle!r} is on lines {found}"
    return found[0]


def test_missing_webhook_token_file_is_reported_at_its_line(tmp_path: Path) -> None:
    missing = tmp_path / "webhook.token"
    text = (
        "# alertreflex\n"
        "settings:\n"
        "  ownership_label: team\n"
        "  webhook_auth:\n"
        f"    bearer_token_file: {missing}\n"
    )
    f = tmp_path / "alertreflex.yml"
    f.write_text(text)
    r = check(f)
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stderr.splitlines() == [
        f"{f}:5: settings.webhook_auth.bearer_token_file: "
        f"cannot read {missing}: No such file or directory",
        "FAILED: 1 problem",
    ]


def test_every_secret_setting_read_at_load_has_its_line(tmp_path: Path) -> None:
    """The settings sit in the second file of a directory, after a reflexes file: the
    problems name that file and the lines in it, each secret setting its own."""
    short = tmp_path / "short.token"
    short.write_text("too-short\n")
    empty = tmp_path / "empty.secret"
    empty.write_text("\n")
    good_hash = tmp_path / "alice.hash"
    good_hash.write_text(bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode() + "\n")
    conf = tmp_path / "conf.d"
    conf.mkdir()
    (conf / "a-reflexes.yml").write_text(
        "reflexes:\n"
        "  - name: x\n"
        "    team: t\n"
        "    match: ['alertname=\"X\"']\n"
        "    on_firing: [{exec: {command: ['true']}}]\n"
    )
    text = (
        "settings:\n"
        "  secrets:\n"
        f"    from_env: {{env: {UNSET_ENV}}}\n"
        "    from_file:\n"
        f"      file: {tmp_path}/missing.secret\n"
        f"    empty: {{file: {empty}}}\n"
        "  webhook_auth:\n"
        f"    bearer_token_file: {tmp_path}/missing.token\n"
        "  auth:\n"
        "    users:\n"
        f"      - {{name: alice, role: operator, password_hash_file: {good_hash}}}\n"
        "      - name: bot\n"
        "        role: viewer\n"
        f"        token_file: {short}\n"
        "      - name: carol\n"
        "        role: viewer\n"
        f"        password_hash_file: {tmp_path}/carol.hash\n"
        f"      - {{name: alice, role: viewer, password_hash_file: {good_hash}}}\n"
    )
    settings = conf / "b-settings.yml"
    settings.write_text(text)
    r = check(conf)
    assert r.returncode == 1, r.stdout + r.stderr
    at = f"{settings}:"
    assert r.stderr.splitlines() == [
        f"{at}{line_of(text, UNSET_ENV)}: settings.secrets.from_env.env: "
        f"environment variable {UNSET_ENV} is not set",
        f"{at}{line_of(text, 'missing.secret')}: settings.secrets.from_file.file: "
        f"cannot read {tmp_path}/missing.secret: No such file or directory",
        f"{at}{line_of(text, 'empty.secret')}: settings.secrets.empty.file: {empty} is empty",
        f"{at}{line_of(text, 'missing.token')}: settings.webhook_auth.bearer_token_file: "
        f"cannot read {tmp_path}/missing.token: No such file or directory",
        f"{at}{line_of(text, 'short.token')}: settings.auth.users[1].token_file: "
        f"the token in {short} is too short (9 characters): use at least 16, "
        "e.g. `openssl rand -hex 32`",
        f"{at}{line_of(text, 'carol.hash')}: settings.auth.users[2].password_hash_file: "
        f"cannot read {tmp_path}/carol.hash: No such file or directory",
        f"{at}{line_of(text, 'name: alice, role: viewer')}: settings.auth.users[3].name: "
        "duplicate user name 'alice', first listed as settings.auth.users[0]: "
        "each user may be listed once",
        "FAILED: 7 problems",
    ]


def test_basic_auth_password_file_has_its_line(tmp_path: Path) -> None:
    text = (
        "settings:\n"
        "  webhook_auth:\n"
        "    basic_auth:\n"
        "      username: alertmanager\n"
        f"      password_file: {tmp_path}/am.password\n"
    )
    f = tmp_path / "alertreflex.yml"
    f.write_text(text)
    r = check(f)
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stderr.splitlines()[0] == (
        f"{f}:5: settings.webhook_auth.basic_auth.password_file: "
        f"cannot read {tmp_path}/am.password: No such file or directory"
    )
    # The file is read from where the setting says: with it there, the config is good.
    (tmp_path / "am.password").write_text("s3cret\n")
    ok = check(f)
    assert ok.returncode == 0 and ok.stdout.startswith("SUCCESS"), ok.stdout + ok.stderr
