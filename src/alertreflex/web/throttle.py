"""Slowing down password guessing: failed logins counted per user name and per client
address.

After ``THRESHOLD`` failures in a row, a user name or an address must wait before its
next attempt: 1 s, then twice as long after each further failure, up to a cap. While
it waits, its attempts are answered 429 without their credentials being checked, so
guessing faster gains nothing. Failures are forgotten after ``WINDOW`` without one
(counted from the end of the last wait), and a success forgets the failures of its
user name and of its address.

A user name's wait is capped low (``USER_MAX_DELAY``): anyone, from anywhere, can
fail a user's logins, and must not be able to lock that user out for long. An
address's wait only holds back that address, and may grow longer.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from alertreflex.store.base import AuditEntry

log = structlog.get_logger("alertreflex.access")

THRESHOLD = 5  # failures in a row before the first wait
WINDOW = 300.0  # seconds without a failure after which the count starts again
FIRST_DELAY = 1.0
USER_MAX_DELAY = 60.0
ADDRESS_MAX_DELAY = 300.0
MAX_KEYS = 4096  # per table; the least recently failed are dropped past it
MAX_NAME = 128  # no user name is longer (schema.AuthUser); longer ones share a key

Clock = Callable[[], float]
Audit = Callable[[AuditEntry], Awaitable[None]]


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0  # when the last one was counted
    until: float = 0.0  # no attempt before this


class Backoff:
    """Failures per key, in a bounded table: the wait each key must respect."""

    def __init__(
        self,
        max_delay: float,
        *,
        threshold: int = THRESHOLD,
        window: float = WINDOW,
        first_delay: float = FIRST_DELAY,
        max_keys: int = MAX_KEYS,
        clock: Clock = time.monotonic,
    ) -> None:
        self.max_delay = max_delay
        self.threshold = threshold
        self.window = window
        self.first_delay = first_delay
        self.max_keys = max_keys
        self._clock = clock
        self._failures: OrderedDict[str, _Failures] = OrderedDict()

    def __len__(self) -> int:
        return len(self._failures)

    def _current(self, key: str, now: float) -> _Failures | None:
        found = self._failures.get(key)
        if found is not None and now >= max(found.last, found.until) + self.window:
            del self._failures[key]
            return None
        return found

    def wait(self, key: str) -> float:
        """Seconds before ``key`` may try again; 0 if it may now."""
        now = self._clock()
        found = self._current(key, now)
        return 0.0 if found is None else max(0.0, found.until - now)

    def failed(self, key: str) -> int:
        """Count a failure of ``key``; returns its failures in a row so far."""
        now = self._clock()
        found = self._current(key, now) or _Failures()
        found.count += 1
        found.last = now
        if found.count >= self.threshold:
            doublings = min(found.count - self.threshold, 32)  # 2**32 s is past any cap
            found.until = now + min(self.first_delay * 2**doublings, self.max_delay)
        self._failures[key] = found
        self._failures.move_to_end(key)
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)
        return found.count

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)


@dataclass(frozen=True)
class Throttled:
    """An attempt refused unchecked: who must wait, and how long."""

    seconds: float
    subject: str  # "for user 'vera'" or "from 127.0.0.1"

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.seconds))

    @property
    def message(self) -> str:
        return (
            f"too many failed logins {self.subject}: try again in {self.retry_after} s "
            "(credentials sent before then are not checked)"
        )


class LoginThrottle:
    """The two tables, and the audit entry and warning when a key starts waiting."""

    def __init__(self, audit: Audit | None = None, clock: Clock = time.monotonic) -> None:
        self.users = Backoff(USER_MAX_DELAY, clock=clock)
        self.addresses = Backoff(ADDRESS_MAX_DELAY, clock=clock)
        self._audit = audit

    def wait(self, user: str | None, address: str) -> Throttled | None:
        """Why an attempt of ``user`` (None for a bearer token) from ``address`` must
        not be checked now, or None if it may be."""
        waits = [(self.addresses.wait(address), f"from {address}")]
        if user is not None:
            waits.append((self.users.wait(user[:MAX_NAME]), f"for user {user[:MAX_NAME]!r}"))
        seconds, subject = max(waits)
        return Throttled(seconds, subject) if seconds > 0 else None

    async def failed(self, user: str | None, address: str) -> None:
        """Count a failed attempt; record the moment a user or an address starts waiting."""
        if self.addresses.failed(address) == self.addresses.threshold:
            await self._started("address", address, self.addresses)
        if user is not None and self.users.failed(user[:MAX_NAME]) == self.users.threshold:
            await self._started("user", user[:MAX_NAME], self.users)

    def succeeded(self, user: str | None, address: str) -> None:
        if user is not None:
            self.users.succeeded(user[:MAX_NAME])
        self.addresses.succeeded(address)

    async def _started(self, kind: str, key: str, table: Backoff) -> None:
        # Once per key and streak, not per attempt: a flood adds one entry.
        reason = (
            f"{table.threshold} failed logins in a row for {kind} {key}: its next attempts "
            f"wait {table.first_delay:g} s, twice as long after each further failure, "
            f"at most {table.max_delay:g} s"
        )
        log.warning("login_throttled", kind=kind, key=key, failures=table.threshold)
        if self._audit is None:
            return
        entry = AuditEntry(
            time.time(),
            "alertreflex",
            "login_throttled",
            key,
            reason,
            {"kind": kind, "failures": table.threshold, "max_delay": table.max_delay},
        )
        try:
            await self._audit(entry)
        except Exception as exc:  # the refusal stands whatever the store says
            log.error("audit_failed", action="login_throttled", key=key, error=str(exc))


def address_key(remote: str | None) -> str:
    """The client address failures are counted under: IPv6 clients by their /64, as
    one client commonly holds a whole /64 and could otherwise change address freely."""
    if remote is None:
        return "unknown"
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return remote
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(address) >> 64 << 64, 64)))
    return str(address)
