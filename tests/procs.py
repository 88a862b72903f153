"""Processes as the tests see them, through /proc."""

from __future__ import annotations

from pathlib import Path


def alive(pid: int) -> bool:
    """A zombie counts as gone: it is dead, merely not reaped yet (PID 1 may not reap)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")
