"""The users of the UI and the API (``settings.auth``), read from their files.

Passwords are kept as the bcrypt hashes the files hold; tokens only as their sha256
digests, so a memory dump or a debug print of the config shows neither.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from alertreflex.config.schema import Auth

MIN_TOKEN_LENGTH = 16

# $2b$12$ + 22 characters of salt (the last one carries 2 bits, so only .Oeu) + 31 of hash.
_BCRYPT = re.compile(
    r"^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{21}[.Oeu][./A-Za-z0-9]{31}$"
)

ReadFile = Callable[[str, str], str | None]  # (setting path, file name) -> text or None
Report = Callable[[str, str], None]  # (setting path, message)


@dataclass(frozen=True)
class ApiUser:
    name: str
    role: str  # "viewer" or "operator"
    password_hash: bytes | None  # bcrypt, as in password_hash_file
    token_sha256: bytes | None  # sha256 of the token in token_file

    def __repr__(self) -> str:  # no hash or digest in logs and tracebacks
        return f"ApiUser(name={self.name!r}, role={self.role!r})"


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def is_bcrypt_hash(text: str) -> bool:
    return _BCRYPT.fullmatch(text) is not None


def read_users(auth: Auth, read_file: ReadFile, report: Report) -> dict[str, ApiUser]:
    """Every user of ``auth`` whose files read and check out; the others are reported.

    ``read_file`` reports unreadable and empty files itself and returns None for them.
    """
    users: dict[str, ApiUser] = {}
    token_owner: dict[bytes, str] = {}
    for i, user in enumerate(auth.users):
        at = f"settings.auth.users[{i}]"
        ok = True
        password_hash: bytes | None = None
        if user.password_hash_file:
            text = read_file(f"{at}.password_hash_file", user.password_hash_file)
            if text is None:
                ok = False
            elif not is_bcrypt_hash(text.strip()):
                ok = False
                report(
                    f"{at}.password_hash_file",
                    f"{user.password_hash_file} does not hold a bcrypt hash (60 characters "
                    "starting with $2b$, $2a$ or $2y$); make one with "
                    "`alertreflex hash-password > FILE`",
                )
            else:
                password_hash = text.strip().encode("ascii")
        token_sha256: bytes | None = None
        if user.token_file:
            token = read_file(f"{at}.token_file", user.token_file)
            if token is None:
                ok = False
            elif len(token) < MIN_TOKEN_LENGTH:
                ok = False
                report(
                    f"{at}.token_file",
                    f"the token in {user.token_file} is too short ({len(token)} characters): "
                    f"use at least {MIN_TOKEN_LENGTH}, e.g. `openssl rand -hex 32`",
                )
            else:
                token_sha256 = token_digest(token)
                other = token_owner.get(token_sha256)
                if other is not None:
                    ok = False
                    report(
                        f"{at}.token_file",
                        f"user {user.name!r} has the same token as user {other!r}: "
                        "give each user a token of their own",
                    )
                else:
                    token_owner[token_sha256] = user.name
        first = next((j for j, u in enumerate(auth.users[:i]) if u.name == user.name), None)
        if first is not None:
            report(
                f"{at}.name",
                f"duplicate user name {user.name!r}, first listed as "
                f"settings.auth.users[{first}]: each user may be listed once",
            )
            continue
        if ok:
            users[user.name] = ApiUser(user.name, user.role, password_hash, token_sha256)
    return users
