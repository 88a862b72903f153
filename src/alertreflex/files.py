"""Writing files that others read while they are written: Prometheus' rule files,
alertreflex's own reflexes, a converter's output. A reader sees the old file or the
new one, never half of one, and a crash after the rename keeps the new one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, text: str | bytes) -> bool:
    """Write ``text`` to ``path`` (temp file, fsync, rename, fsync of the directory);
    False when the file already held exactly that."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    with contextlib.suppress(OSError):
        if path.read_bytes() == data:
            return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # read by Prometheus or an editor, often another user
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
    return True


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
