"""A small tmpfs that a test can fill up: a real full disk, without filling the
machine's. Mounting needs root, which CI has; elsewhere these tests skip, and where
ALERTREFLEX_REQUIRE_TOOLS is set (CI) they fail instead: skipping is not passing."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _cannot(why: str) -> None:
    if os.environ.get("ALERTREFLEX_REQUIRE_TOOLS"):
        pytest.fail(why, pytrace=False)
    pytest.skip(why)


@contextmanager
def small_tmpfs(path: Path, size: str = "4m") -> Iterator[Path]:
    """``path``, a new directory with a tmpfs of ``size`` mounted on it."""
    if os.geteuid() != 0:
        _cannot("a full disk is simulated with a tmpfs, and mounting one needs root")
    path.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        _cannot(f"cannot mount a tmpfs on {path}: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        # Lazily: a server process that a fixture stops later may still hold files.
        subprocess.run(["umount", "--lazy", str(path)], check=True)


def fill(directory: Path) -> Path:
    """Write a file in ``directory`` until its file system has no byte left; returns
    it (delete it to make room again)."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 1 << 14, 1 << 10, 1):
            chunk = b"\0" * size
            while True:
                try:
                    os.write(fd, chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    return filler
