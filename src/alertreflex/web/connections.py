"""The server's connections: how long a client may take to send a request, how long a
connection may stay idle, and how many may be open at once.

aiohttp reads request headers without a deadline and accepts connections for as long
as the process has file descriptors, so a few thousand clients sending one header line
per second (slowloris) kept valid webhooks from being served. Here every connection
is wrapped in a :class:`Connection` that knows its phase and since when; a sweep a few
times a second closes the ones past their deadline, and at the bound
:meth:`ConnectionGuard.admit` makes room by closing the connections that have gone
longest without a request being handled::

    opened -> HEADERS --empty line--> READY --handler starts--> BUSY
                 ^                                                |
                 +--first byte of the next request-- IDLE <-------+ handler returns

HEADERS (and READY) last at most ``header_timeout``; BUSY with its body still
arriving at most ``body_timeout``; IDLE at most ``idle_timeout``. All four settings
are read from the running config, so a reload applies them.

Only HEADERS and IDLE connections are evicted, longest in their phase first, and not
in their first second when they have not been read from yet or are kept alive after
a response; when none can go, the newcomer is refused (503). Without that grace,
attackers outnumbering the bound and reconnecting as fast as they are evicted fill
each batch of accepts with more connections than the bound: every batch would evict
every connection, valid requests waiting in the kernel to be read included.

The request path pays for this with a phase test per received chunk, a search for the
end of the headers in a request's first chunk, and a few attribute writes per request
(the middleware); the sweep and eviction cost is per connection, not per request.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import logging
import operator
import time
from collections.abc import Callable
from typing import Final, cast

import structlog
from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry, Counter, Gauge

from alertreflex.config.schema import WebSettings
from alertreflex.web.filelimit import FileBudget, NearLimit

log = structlog.get_logger("alertreflex.http")

HEADERS: Final = 0  # receiving a request line and headers, or nothing yet
READY: Final = 1  # the headers are in, the handler has not started yet
BUSY: Final = 2  # a request is being handled
IDLE: Final = 3  # kept alive between two requests
GRACE: Final = 1.0  # seconds a connection not read from yet, or just idle, is not evicted

REASONS: Final = ("header_timeout", "body_timeout", "idle", "evicted", "refused")
# Idle connections closing is routine; running out of room is the operator's business.
_LOG_LEVEL: Final = {
    "header_timeout": logging.INFO,
    "body_timeout": logging.INFO,
    "idle": logging.DEBUG,
    "evicted": logging.WARNING,
    "refused": logging.WARNING,
}
LOG_EVERY: Final = 10.0  # seconds: at most one line per reason in that time
# Evicting a few more than needed keeps a flood at the bound from scanning every
# connection for every new one: one scan frees room for limit // 64 newcomers.
_EVICT_EXTRA_SHARE: Final = 64
_REFUSED: Final = (
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
    b"Content-Length: 0\r\nRetry-After: 1\r\n\r\n"
)
_since = operator.attrgetter("since")
_DISCARD: Final = asyncio.Protocol()  # stands in for the handler of a refused connection


class ConnectionMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.open = Gauge(
            "alertreflex_http_connections", "HTTP connections open now.", registry=registry
        )
        self.limit = Gauge(
            "alertreflex_http_connections_limit",
            "Open HTTP connections at most: settings.web.max_connections, or fewer when "
            "the open file limit leaves less room.",
            registry=registry,
        )
        self.closed = Counter(
            "alertreflex_http_connections_closed",
            "HTTP connections alertreflex closed, by reason: header_timeout, body_timeout, "
            "idle, evicted (to make room for a new one), refused (no room).",
            ["reason"],
            registry=registry,
        )
        for reason in REASONS:
            self.closed.labels(reason)
        self.bad_requests = Counter(
            "alertreflex_http_bad_requests",
            "Requests that could not be parsed as HTTP, answered 400.",
            registry=registry,
        )


class Connection(asyncio.Protocol):
    """One accepted connection: its phase for the guard, everything else passed on to
    aiohttp's protocol, created only once the guard admitted the connection."""

    __slots__ = (
        "_guard",
        "_handler",
        "_make_handler",
        "payload",
        "phase",
        "read",
        "since",
        "transport",
    )

    def __init__(
        self, guard: ConnectionGuard, make_handler: Callable[[], asyncio.Protocol]
    ) -> None:
        self._guard = guard
        self._make_handler = make_handler
        self._handler: asyncio.Protocol = _DISCARD
        self.transport: asyncio.Transport | None = None
        self.phase: int = HEADERS
        self.since = 0.0
        self.read = False  # any bytes received yet
        self.payload: StreamReader | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.since = self._guard.clock()
        if self._guard.admit(self):
            self._handler = self._make_handler()
            self._handler.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        phase = self.phase
        if phase != BUSY:  # a body's bytes cost this test only
            if phase == IDLE:  # the first bytes of the next request
                self.phase = phase = HEADERS
                self.since = self._guard.clock()
            self.read = True
            # Headers sent at once (any client but a slow one) end in this chunk; when
            # the empty line is split across chunks, the connection just stays HEADERS.
            if phase == HEADERS and b"\r\n\r\n" in data:
                self.phase = READY
        self._handler.data_received(data)

    def eof_received(self) -> bool | None:
        return self._handler.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._guard.forget(self)
        self._handler.connection_lost(exc)

    def pause_writing(self) -> None:
        self._handler.pause_writing()

    def resume_writing(self) -> None:
        self._handler.resume_writing()

    def begin(self, payload: StreamReader) -> None:
        """A request's headers are in and its handler starts."""
        self.phase = BUSY
        self.since = self._guard.clock()
        self.payload = payload

    def end(self) -> None:
        self.phase = IDLE
        self.since = self._guard.clock()
        self.payload = None


class ConnectionGuard:
    """Admits, times and closes the server's connections (see the module's doc)."""

    def __init__(
        self,
        settings: Callable[[], WebSettings],
        metrics: ConnectionMetrics,
        files: FileBudget,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.files = files
        self._open: dict[Connection, None] = {}  # insertion order: oldest first
        self._closed = {reason: metrics.closed.labels(reason) for reason in REASONS}
        self._unlogged = dict.fromkeys(REASONS, 0)
        self._next_log = dict.fromkeys(REASONS, 0.0)
        self._near_limit = NearLimit(files.limit)
        self._warned_max: int | None = None
        self._task: asyncio.Task[None] | None = None
        metrics.open.set_function(lambda: len(self._open))
        metrics.limit.set_function(self.limit)

    def __len__(self) -> int:
        return len(self._open)

    def limit(self) -> int:
        configured = self.settings().max_connections
        room = self.files.max_connections
        return configured if room is None else min(configured, room)

    def protocol_factory(
        self, make_handler: Callable[[], asyncio.Protocol]
    ) -> Callable[[], Connection]:
        """For ``loop.create_server``: connections that reach ``make_handler``'s protocols
        (aiohttp's ``web.Server``) once admitted."""
        return functools.partial(Connection, self, make_handler)

    def admit(self, conn: Connection) -> bool:
        """Take ``conn`` in, closing older connections without a request in progress
        if the bound is reached; refuse it (503, closed) when none can go."""
        limit = self.limit()
        if len(self._open) >= limit:
            self._evict(len(self._open) - limit + 1 + limit // _EVICT_EXTRA_SHARE)
            if len(self._open) >= limit:
                self._count("refused")
                if conn.transport is not None:
                    conn.transport.write(_REFUSED)
                    conn.transport.close()
                return False
        self._open[conn] = None
        sock = conn.transport.get_extra_info("socket") if conn.transport is not None else None
        if sock is not None:
            self._near_limit.fd_opened(sock.fileno(), len(self._open))
        return True

    def forget(self, conn: Connection) -> None:
        self._open.pop(conn, None)

    def _evict(self, count: int) -> None:
        settled = self.clock() - GRACE
        waiting = (
            c
            for c in self._open
            if (c.phase == HEADERS and (c.read or c.since <= settled))
            or (c.phase == IDLE and c.since <= settled)
        )
        for conn in heapq.nsmallest(count, waiting, key=_since):
            self._close(conn, "evicted")

    def _close(self, conn: Connection, reason: str) -> None:
        del self._open[conn]
        if conn.transport is not None:
            # abort, not close: close would wait for a client that does not read
            conn.transport.abort()
        self._count(reason)

    def _count(self, reason: str) -> None:
        self._closed[reason].inc()
        self._unlogged[reason] += 1

    def sweep(self, now: float) -> None:
        """Close the connections past their phase's deadline at ``now``."""
        web_settings = self.settings()
        headers_from = now - web_settings.header_timeout
        body_from = now - web_settings.body_timeout
        idle_from = now - web_settings.idle_timeout
        expired: list[tuple[Connection, str]] = []
        for conn in self._open:
            if conn.phase <= READY:
                if conn.since < headers_from:
                    expired.append((conn, "header_timeout"))
            elif conn.phase == IDLE:
                if conn.since < idle_from:
                    expired.append((conn, "idle"))
            elif conn.since < body_from and conn.payload is not None and not conn.payload.is_eof():
                expired.append((conn, "body_timeout"))
        for conn, reason in expired:
            self._close(conn, reason)

    def log_closed(self, now: float, *, flush: bool = False) -> None:
        """One line per reason with connections closed since its last line, at most one
        per LOG_EVERY seconds (``flush``: whatever is left, at stop): thousands of slow
        clients make a line, not thousands."""
        for reason, count in self._unlogged.items():
            if count and (flush or now >= self._next_log[reason]):
                self._unlogged[reason] = 0
                self._next_log[reason] = now + LOG_EVERY
                log.log(
                    _LOG_LEVEL[reason],
                    "http_connections_closed",
                    reason=reason,
                    connections=count,
                    open=len(self._open),
                    limit=self.limit(),
                )

    def check_budget(self) -> None:
        """Warn when max_connections does not fit under the open file limit: at start,
        and after a reload that changed it."""
        configured = self.settings().max_connections
        if configured == self._warned_max:
            return
        self._warned_max = configured
        if (problem := self.files.problem(configured)) is not None:
            log.warning(
                "open_file_limit_low",
                limit=self.files.limit,
                max_connections=configured,
                connections_kept=self.files.max_connections,
                message=problem,
            )

    async def _run(self) -> None:
        recounted = 0.0
        while True:
            s = self.settings()
            shortest = min(s.header_timeout, s.body_timeout, s.idle_timeout)
            await asyncio.sleep(min(1.0, max(0.05, shortest / 4)))
            now = self.clock()
            self.sweep(now)
            self.log_closed(now)
            if now - recounted >= 1.0:
                recounted = now
                self._near_limit.recount(len(self._open))

    def start(self) -> None:
        self.check_budget()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self.log_closed(self.clock(), flush=True)


@web.middleware
async def track_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Marks the connection BUSY while ``handler`` runs: not evicted, and its body
    timed. Outermost middleware, so the whole request counts."""
    transport = request.transport
    conn = transport.get_protocol() if transport is not None else None
    if not isinstance(conn, Connection):
        return await handler(request)
    conn.begin(request.content)
    try:
        return await handler(request)
    finally:
        conn.end()


class GuardedSite(web.BaseSite):
    """aiohttp's TCPSite with the guard in front of the server's protocol factory.
    BaseSite is aiohttp's public base for sites; ``_runner``, ``_backlog`` and
    ``_server`` are its attributes for subclasses (runner.addresses reads
    ``_server``). tests/web/test_connections.py breaks if that changes."""

    __slots__ = ("_guard", "_host", "_port")

    def __init__(
        self, runner: web.BaseRunner, guard: ConnectionGuard, host: str, port: int, *, backlog: int
    ) -> None:
        super().__init__(runner, backlog=backlog)
        self._guard = guard
        self._host = host
        self._port = port

    @property
    def name(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None, "runner.setup() comes first"
        self._server = await asyncio.get_running_loop().create_server(
            self._guard.protocol_factory(server), self._host, self._port, backlog=self._backlog
        )
