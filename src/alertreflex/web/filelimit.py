"""The open-file budget: how many connections fit under RLIMIT_NOFILE, and one warning
when the process comes near that limit.

Out of file descriptors, the event loop cannot accept: libuv (under uvloop) then
accepts and drops whatever waits in the backlog, valid webhooks included, and nothing
is logged. So the connection bound stays below the limit, leaving headroom for what
else needs descriptors: the store, the exec helper's pipes, outbound HTTP, and the
sockets accepted in one go before the guard gets to close any of them.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from typing import Final

import structlog

log = structlog.get_logger("alertreflex.http")

HEADROOM_SHARE: Final = 8  # an eighth of the limit is kept for other descriptors...
HEADROOM_MIN: Final = 32  # ...and never less: more than the defaults need beside
# what is open at start (16 concurrent runs' HTTP, the store's pool growing, pipes).
WARN_SHARE: Final = 0.8  # "near the limit": this share of it is open (below the bound
# on connections when max_connections does not fit, so a full house is reported)
REARM_SHARE: Final = 0.7  # warn again only once usage fell below this share


def open_files() -> int | None:
    """Descriptors open in this process now; None where /proc does not tell."""
    try:
        return len(os.listdir("/proc/self/fd")) - 1  # less the one listdir opened
    except OSError:
        return None


@dataclass(frozen=True)
class FileBudget:
    limit: int | None  # the soft RLIMIT_NOFILE; None: unlimited
    in_use: int  # descriptors already open when the server started

    @classmethod
    def measure(cls) -> FileBudget:
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        limit = None if soft == resource.RLIM_INFINITY else soft
        return cls(limit, open_files() or 0)

    @property
    def headroom(self) -> int:
        return max(HEADROOM_MIN, (self.limit or 0) // HEADROOM_SHARE)

    @property
    def max_connections(self) -> int | None:
        """Connections that fit beside what is open and the headroom (at least 1)."""
        if self.limit is None:
            return None
        return max(1, self.limit - self.in_use - self.headroom)

    def problem(self, max_connections: int) -> str | None:
        """What to do when ``max_connections`` does not fit; None when it does."""
        room = self.max_connections
        if room is None or max_connections <= room:
            return None
        needed = max_connections + self.in_use + self.headroom
        return (
            f"settings.web.max_connections ({max_connections}) does not fit in the open "
            f"file limit ({self.limit}) beside the {self.in_use} files open at start and "
            f"{self.headroom} kept for the store, runs and outbound HTTP: at most {room} "
            f"connections are kept open. Raise the limit to at least {needed} "
            "(LimitNOFILE= in the systemd unit, ulimit -n) or lower max_connections."
        )


class NearLimit:
    """Warns once when open descriptors reach WARN_SHARE of the limit, and again only
    after they fell below REARM_SHARE: a flood of connections makes one line."""

    def __init__(self, limit: int | None) -> None:
        self._limit = limit
        self._warn_at = int(limit * WARN_SHARE) if limit else None
        self._rearm_below = int(limit * REARM_SHARE) if limit else 0
        self.armed = True

    def fd_opened(self, fd: int, connections: int) -> None:
        """A descriptor numbered ``fd`` was just handed out: as the kernel hands out the
        lowest free number, at least ``fd + 1`` are open. Free to call per connection,
        and it sees the bursts of sockets accepted in one go, which a count taken now
        and then would miss."""
        if self.armed and self._warn_at is not None and fd + 1 >= self._warn_at:
            self._warn(fd + 1, connections)

    def recount(self, connections: int) -> None:
        """Count the open descriptors (a few hundred microseconds for thousands): warn,
        or re-arm once they fell back."""
        if self._warn_at is None or (count := open_files()) is None:
            return
        if self.armed and count >= self._warn_at:
            self._warn(count, connections)
        elif not self.armed and count < self._rearm_below:
            self.armed = True

    def _warn(self, count: int, connections: int) -> None:
        self.armed = False
        log.warning(
            "open_files_near_limit",
            open_files=count,
            limit=self._limit,
            connections=connections,
            message="the process nears its open file limit: past it new connections, "
            "webhooks included, are dropped unseen. Raise LimitNOFILE (ulimit -n) or "
            "lower settings.web.max_connections (docs/operations/systemd.md)",
        )
