"""Alert fingerprints as Prometheus computes them (FNV-1a 64 over sorted labels)."""

from __future__ import annotations

from collections.abc import Mapping

_OFFSET = 14695981039346656037
_PRIME = 1099511628211
_MASK = (1 << 64) - 1
_SEP = 0xFF


def fingerprint(labels: Mapping[str, str]) -> str:
    h = _OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode():
                h = ((h ^ byte) * _PRIME) & _MASK
            h = ((h ^ _SEP) * _PRIME) & _MASK
    return f"{h:016x}"
