"""Run identifiers: sortable by creation time, unique without a database round trip.

The id is also the ``Idempotency-Key`` of HTTP actions and ``ALERTREFLEX_RUN_ID`` of
commands, so it must be unique across replicas and restarts, not just per table.
"""

from __future__ import annotations

import base64
import random
import time

# RFC 4648 base32 -> Crockford's alphabet in lower case, whose order is ASCII order,
# so ids sort by time as strings.
_TO_CROCKFORD = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789abcdefghjkmnpqrstvwxyz"
)


def new_id() -> str:
    """A 24-character id: 48 bits of Unix milliseconds, then 72 random bits."""
    # random, not os.urandom: the syscall releases the GIL, and under load taking it
    # back from the store's threads cost ~4% of the loop. The generator is seeded
    # from the OS, and again in a forked child; ids need uniqueness, not secrecy.
    raw = (time.time_ns() // 1_000_000).to_bytes(6, "big") + random.getrandbits(72).to_bytes(
        9, "big"
    )
    return base64.b32encode(raw).translate(_TO_CROCKFORD).decode()
