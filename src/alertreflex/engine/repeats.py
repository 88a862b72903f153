"""Notifications that Alertmanager sends again, byte for byte.

Alertmanager re-sends a group's notification every ``repeat_interval`` and an HA
pair delivers each one twice: most of what arrives repeats a body this process has
already stored. Ingesting such a body again changes nothing (its episodes are known
and unchanged, its runs exist), so it is recognised by a digest of the bytes before
any parsing and answered at once: no validation, no planning, no write. The repeats
are counted in memory and added to the stored notification's row now and then
(``repeats``, ``last_received_at``), so the store keeps one copy of the body.

Only bodies that were stored in this process are remembered, and a body is no
longer a mere repeat once one of its episodes changed status: after a resolved
notification, the same firing body again is a flap, which the full path handles.
So a body is forgotten when a notification changes one of its alerts, and all are
forgotten when the config changes (a new reflex may match alerts already seen, and
their next repeat must reach it). On a store shared by replicas, another replica
may change an episode unseen: the engine does not use this memory there.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

MAX_REMEMBERED = 4096  # bodies: more groups than most Alertmanagers have


def body_digest(body: bytes) -> str:
    """The digest that recognises a repeat: BLAKE2b-128 of the exact bytes."""
    return hashlib.blake2b(body, digest_size=16).hexdigest()


@dataclass(slots=True)
class Stored:
    notification_id: str
    fingerprints: tuple[str, ...]  # a tuple: a frozenset of one takes four times the memory
    firing: int  # alerts of each status, for the counters a repeat bumps too
    resolved: int
    repeats: int = 0  # since the last flush
    last_at: float = 0.0


class Repeats:
    def __init__(self, size: int = MAX_REMEMBERED) -> None:
        self._size = size
        self._stored: OrderedDict[str, Stored] = OrderedDict()
        self._pending: dict[str, Stored] = {}  # by digest: counts not yet written
        # The digests of each alert: most alerts are in one body, whose digest stands
        # alone (a set of one costs ~200 bytes, 4,096 of them most of this memory).
        self._by_fingerprint: dict[str, str | set[str]] = {}

    def __len__(self) -> int:
        return len(self._stored)

    def remember(
        self,
        digest: str,
        notification_id: str,
        fingerprints: frozenset[str],
        firing: int,
        resolved: int,
    ) -> None:
        """A body just stored durably: its repeats may skip the store."""
        self._drop(digest)
        self._stored[digest] = Stored(notification_id, tuple(fingerprints), firing, resolved)
        by_fingerprint = self._by_fingerprint
        for fingerprint in fingerprints:
            known = by_fingerprint.get(fingerprint)
            if known is None:
                by_fingerprint[fingerprint] = digest
            elif isinstance(known, set):
                known.add(digest)
            elif known != digest:
                by_fingerprint[fingerprint] = {known, digest}
        if len(self._stored) > self._size:
            self._drop(next(iter(self._stored)))

    def changed(self, fingerprints: frozenset[str]) -> None:
        """These alerts' episodes changed: bodies holding them are no longer repeats."""
        for fingerprint in fingerprints:
            known = self._by_fingerprint.get(fingerprint)
            for digest in [known] if isinstance(known, str) else list(known or ()):
                self._drop(digest)

    def _drop(self, digest: str) -> None:
        stored = self._stored.pop(digest, None)
        if stored is None:
            return
        for fingerprint in stored.fingerprints:
            known = self._by_fingerprint.get(fingerprint)
            if known == digest:
                del self._by_fingerprint[fingerprint]
            elif isinstance(known, set):
                known.discard(digest)
                if len(known) == 1:
                    self._by_fingerprint[fingerprint] = known.pop()

    def repeat(self, digest: str, now: float) -> Stored | None:
        """The stored notification this body repeats, counted; None if unknown."""
        stored = self._stored.get(digest)
        if stored is None:
            return None
        self._stored.move_to_end(digest)
        stored.repeats += 1
        stored.last_at = now
        self._pending[digest] = stored
        return stored

    def take_counts(self) -> dict[str, tuple[int, float]]:
        """The repeats counted since the last call: notification id -> (count, last)."""
        counts = {s.notification_id: (s.repeats, s.last_at) for s in self._pending.values()}
        for stored in self._pending.values():
            stored.repeats = 0
        self._pending.clear()
        return counts

    def forget(self) -> None:
        """The config changed: every body goes through the full path once more."""
        self._stored.clear()
        self._by_fingerprint.clear()
