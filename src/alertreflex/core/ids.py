"""Run identifiers: sortable by creation time, unique without a database round trip.

The id is also the ``Idempotency-Key`` of HTTP actions and ``ALERTREFLEX_RUN_ID`` of
commands, so it must be unique across replicas and restarts, not just per table.
"""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def new_id() -> str:
    """A 26-character ULID-style id: 48 bits of milliseconds, 80 random bits."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))
