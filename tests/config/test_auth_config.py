"""settings.auth: the users' password hashes and tokens, read and checked at load."""

from __future__ import annotations

from pathlib import Path

import bcrypt
import pytest

from alertreflex.actions.base import load_action_types, params_models
from alertreflex.config.loader import Config, ConfigError, load_config
from alertreflex.config.users import token_digest

TYPES = params_models(load_action_types())
TOKEN = "t0ken-for-scripts-0123456789"


def _hash(password: bytes) -> str:
    return bcrypt.hashpw(password, bcrypt.gensalt(rounds=4)).decode()


def _config(tmp_path: Path, users: str) -> Path:
    f = tmp_path / "c.yml"
    f.write_text(f"settings:\n  auth:\n    users:\n{users}")
    return f


def _load(tmp_path: Path, users: str) -> Config:
    return load_config(_config(tmp_path, users), TYPES)


def _problems(tmp_path: Path, users: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, users)
    return [str(p) for p in info.value.problems]


def _write(tmp_path: Path, name: str, text: str) -> Path:
    f = tmp_path / name
    f.write_text(text)
    return f


def test_users_are_read_with_hashes_and_token_digests(tmp_path: Path) -> None:
    """A password hash is kept as it is; a token only as its sha256."""
    hashed = _hash(b"alice's password")
    h = _write(tmp_path, "alice.hash", hashed + "\n")
    t = _write(tmp_path, "bot.token", TOKEN + "\n")
    cfg = _load(
        tmp_path,
        f"      - {{name: alice, role: operator, password_hash_file: {h}}}\n"
        f"      - {{name: bot, role: viewer, token_file: {t}}}\n",
    )
    assert cfg.users is not None
    alice, bot = cfg.users["alice"], cfg.users["bot"]
    assert (alice.role, alice.password_hash, alice.token_sha256) == (
        "operator",
        hashed.encode(),
        None,
    )
    assert (bot.role, bot.password_hash, bot.token_sha256) == ("viewer", None, token_digest(TOKEN))
    assert TOKEN not in repr(cfg.users) and hashed not in repr(cfg.users)


def test_no_auth_means_no_users(tmp_path: Path) -> None:
    f = _write(tmp_path, "c.yml", "settings: {ownership_label: team}\n")
    assert load_config(f, TYPES).users is None


def test_htpasswd_y_hash_is_accepted(tmp_path: Path) -> None:
    """htpasswd -B writes $2y$ hashes; they are bcrypt too."""
    hashed = "$2y$" + _hash(b"pw")[4:]
    h = _write(tmp_path, "a.hash", hashed)
    cfg = _load(tmp_path, f"      - {{name: a, role: viewer, password_hash_file: {h}}}\n")
    assert cfg.users is not None and cfg.users["a"].password_hash == hashed.encode()


@pytest.mark.parametrize(
    "content",
    [
        "hunter2",  # a password instead of its hash
        "alice:$2y$04$" + "a" * 53,  # an htpasswd line, user name included
        "$1$abcdefgh$0123456789abcdefghijkl",  # md5-crypt
        "$2b$04$" + "a" * 52,  # cut short
    ],
)
def test_password_file_must_hold_a_bcrypt_hash(tmp_path: Path, content: str) -> None:
    h = _write(tmp_path, "a.hash", content + "\n")
    problems = _problems(tmp_path, f"      - {{name: a, role: viewer, password_hash_file: {h}}}\n")
    assert len(problems) == 1
    assert "settings.auth.users[0].password_hash_file:" in problems[0]
    assert "does not hold a bcrypt hash" in problems[0]
    assert "alertreflex hash-password" in problems[0]
    assert content not in problems[0]  # whatever it holds, it is not echoed


def test_empty_token_file(tmp_path: Path) -> None:
    t = _write(tmp_path, "bot.token", "\n")
    problems = _problems(tmp_path, f"      - {{name: bot, role: viewer, token_file: {t}}}\n")
    assert problems == [f"{tmp_path / 'c.yml'}:4: settings.auth.users[0].token_file: {t} is empty"]


def test_short_token(tmp_path: Path) -> None:
    t = _write(tmp_path, "bot.token", "short-token\n")
    problems = _problems(tmp_path, f"      - {{name: bot, role: viewer, token_file: {t}}}\n")
    assert len(problems) == 1
    assert "settings.auth.users[0].token_file:" in problems[0]
    assert "too short (11 characters): use at least 16" in problems[0]
    assert "short-token" not in problems[0]


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.hash"
    problems = _problems(
        tmp_path,
        f"      - {{name: a, role: operator, password_hash_file: {missing}}}\n",
    )
    assert len(problems) == 1
    assert "settings.auth.users[0].password_hash_file: cannot read" in problems[0]
    assert str(missing) in problems[0]


def test_duplicate_user_names(tmp_path: Path) -> None:
    h = _write(tmp_path, "a.hash", _hash(b"pw"))
    problems = _problems(
        tmp_path,
        f"      - {{name: a, role: viewer, password_hash_file: {h}}}\n"
        f"      - {{name: b, role: viewer, password_hash_file: {h}}}\n"
        f"      - {{name: a, role: operator, password_hash_file: {h}}}\n",
    )
    assert len(problems) == 1
    assert "settings.auth.users[2].name: duplicate user name 'a'" in problems[0]
    assert "settings.auth.users[0]" in problems[0]


def test_shared_token(tmp_path: Path) -> None:
    """Two users with one token could not be told apart."""
    t = _write(tmp_path, "shared.token", TOKEN)
    problems = _problems(
        tmp_path,
        f"      - {{name: a, role: viewer, token_file: {t}}}\n"
        f"      - {{name: b, role: operator, token_file: {t}}}\n",
    )
    assert len(problems) == 1
    assert (
        "settings.auth.users[1].token_file: user 'b' has the same token as user 'a'"
        in (problems[0])
    )


def test_user_needs_a_credential_and_a_known_role(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path,
        "      - {name: a, role: viewer}\n      - {name: b, role: admin, token_file: x}\n",
    )
    assert any(
        "settings.auth.users[0]" in p and "password_hash_file or token_file" in p for p in problems
    )
    assert any("settings.auth.users[1].role" in p for p in problems)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    bad = _write(tmp_path, "bad.hash", "plain")
    short = _write(tmp_path, "short.token", "abc")
    problems = _problems(
        tmp_path,
        f"      - {{name: a, role: viewer, password_hash_file: {bad}}}\n"
        f"      - {{name: b, role: viewer, token_file: {short}}}\n"
        f"      - {{name: c, role: viewer, token_file: {tmp_path / 'missing'}}}\n",
    )
    assert [p.split(": ")[1] for p in problems] == [
        "settings.auth.users[0].password_hash_file",
        "settings.auth.users[1].token_file",
        "settings.auth.users[2].token_file",
    ]
