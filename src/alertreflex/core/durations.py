"""Prometheus-style durations (``90s``, ``1h30m``, ``500ms``) as float seconds."""

from __future__ import annotations

import re

_UNITS: dict[str, float] = {
    "y": 365 * 86400.0,
    "w": 7 * 86400.0,
    "d": 86400.0,
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 0.001,
}
# Units must appear from largest to smallest, each at most once, as in Prometheus.
_ORDER = ["y", "w", "d", "h", "m", "s", "ms"]
_PART = re.compile(r"(\d+)(ms|y|w|d|h|m|s)")


def parse_duration(text: str) -> float:
    """Return the duration in seconds; raise ValueError naming what is wrong."""
    if not isinstance(text, str):
        raise ValueError(f"duration must be a string like '30s' or '1h30m', got {text!r}")
    s = text.strip()
    if s == "0":
        return 0.0
    if not s:
        raise ValueError("duration is empty")
    pos = 0
    total = 0.0
    last = -1
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        unit = m.group(2)
        rank = _ORDER.index(unit)
        if rank <= last:
            raise ValueError(f"invalid duration {text!r}: units must go from largest to smallest")
        last = rank
        total += int(m.group(1)) * _UNITS[unit]
        pos = m.end()
    if pos != len(s):
        raise ValueError(
            f"invalid duration {text!r}: expected a number and unit (ms, s, m, h, d, w, y), "
            "e.g. '30s' or '1h30m'"
        )
    return total


def format_duration(seconds: float) -> str:
    """Inverse of :func:`parse_duration` for whole milliseconds."""
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    out = []
    for unit in _ORDER:
        size = round(_UNITS[unit] * 1000)
        if ms >= size:
            out.append(f"{ms // size}{unit}")
            ms %= size
    return "".join(out)
