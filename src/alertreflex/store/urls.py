"""``--storage`` URLs: ``sqlite:///PATH`` (embedded) or ``postgresql://…`` (shared)."""

from __future__ import annotations

import os
import re
import secrets
import socket
from pathlib import Path

from alertreflex.store.base import Store
from alertreflex.store.sqlite import SQLiteStore

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class StorageURLError(ValueError):
    pass


def is_postgres(url: str) -> bool:
    return url.startswith(POSTGRES_SCHEMES)


def open_store(url: str, *, replica: str = "", lease: float = 30.0) -> Store:
    """The store for ``url`` (not opened yet). ``replica`` names this process in
    a shared store: its runs carry it, with a lease of ``lease`` seconds it renews."""
    # A URL read from a file (a Kubernetes Secret made with --from-file) ends in a newline.
    url = url.strip()
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if not path:
            raise StorageURLError(f"--storage {url}: no file name after sqlite:///")
        return SQLiteStore(Path(path))
    if is_postgres(url):
        # Imported here: asyncpg costs an SQLite-only process ~15 MiB of RSS.
        from alertreflex.store.postgres import PostgresStore

        return PostgresStore(url, replica=replica, lease=lease)
    scheme = url.partition(":")[0]
    raise StorageURLError(
        f"--storage {url}: unsupported scheme {scheme!r};"
        " use sqlite:///PATH or postgresql://USER@HOST/DATABASE"
    )


def redact(url: str) -> str:
    """``url`` without its password, for logs and messages."""
    if not is_postgres(url):
        return url
    from alertreflex.store.postgres import PostgresStore

    return PostgresStore(url).where


# A replica's name is a label value and part of each run's owner: printable, no
# spaces, at most as long as a DNS name (what the default, the host name, is).
_REPLICA_NAME = re.compile(r"[^\s\x00-\x1f\x7f]{1,253}")


def default_replica_name() -> str:
    return socket.gethostname() or "localhost"


def replica_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a replica, or None."""
    if _REPLICA_NAME.fullmatch(name):
        return None
    return "expected a name without spaces or control characters, at most 253 characters"


def replica_id(name: str) -> str:
    """The owner of the runs this process holds in a shared store: its replica name
    (stable across restarts, for people and metrics), then its pid and a random part.

    The name alone is not safe as an owner: two live processes may share it (two
    containers with one fixed host name, a restarted replica whose old process still
    finishes its runs), and the store would then let one renew, end, interrupt or
    take back at start the runs the other is running. A restarted process therefore
    never owns its predecessor's runs: it takes them over like any other replica's,
    once their lease has run out."""
    return f"{name}:{os.getpid()}:{secrets.token_hex(4)}"
