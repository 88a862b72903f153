"""``--storage`` URLs: ``sqlite:///PATH`` (embedded) or ``postgresql://…`` (shared)."""

from __future__ import annotations

import os
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


def replica_id() -> str:
    """This process, among the replicas of a shared store: host name, pid and a
    random part (containers often share both: pid 1, a fixed host name)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
