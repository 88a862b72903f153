"""Paths into nested data, written the way users read them: ``reflexes[2].on_firing[0].url``."""

from __future__ import annotations

from collections.abc import Iterable

Path = tuple[str | int, ...]


def format_path(path: Iterable[str | int]) -> str:
    """``("reflexes", 2, "on_firing", 0, "url")`` -> ``reflexes[2].on_firing[0].url``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
