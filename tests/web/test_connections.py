"""The server's connections (issue 16, "a slow client cannot starve the webhook"):
deadlines for headers, bodies and idle keep-alives, a bound on open connections that
evicts the longest-waiting idle ones, the open file limit, and malformed requests as
one structured log line. Real server processes, except where a fake clock says more."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import resource
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import httpx
import pytest
import structlog
from aiohttp import ClientSession, web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import CollectorRegistry

from alertreflex.config.schema import WebSettings
from alertreflex.web.badrequests import PER_WINDOW, WINDOW, ServerLog
from alertreflex.web.connections import (
    BUSY,
    GRACE,
    HEADERS,
    IDLE,
    READY,
    Connection,
    ConnectionGuard,
    ConnectionMetrics,
    GuardedSite,
    track_requests,
)
from alertreflex.web.filelimit import FileBudget
from tests.conftest import ServerProcess
from tests.logs import event_lines, events
from tests.payloads import fixture

REFLEX = """\
reflexes:
  - name: echo
    team: warehouse
    match: ['alertname = "BucketTooFull_ORANGE"']
    on_firing:
      - exec: {command: ["true"]}
"""
BODY = json.dumps(fixture("firing.json")).encode()
# Room for the sweep (a quarter of the shortest timeout) and a loaded shared machine.
MARGIN = 2.5


def config(**web_settings: Any) -> str:
    return f"settings:\n  web: {json.dumps(web_settings)}\n{REFLEX}"


@contextmanager
def server_file_limit(n: int) -> Iterator[None]:
    """Servers started inside get RLIMIT_NOFILE ``n`` (soft and hard), as under
    ``ulimit -n n``: the make_server fixture has no option for it."""
    limit = functools.partial(resource.setrlimit, resource.RLIMIT_NOFILE, (n, n))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(subprocess, "Popen", functools.partial(subprocess.Popen, preexec_fn=limit))
        yield


@pytest.fixture
def many_sockets() -> Iterator[None]:
    """This test process opens thousands of client sockets: raise its own limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 8192:
        pytest.skip(f"needs an open file limit of 8192 or more, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (8192, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def webhook_request(port: int) -> bytes:
    return (
        f"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(BODY)}\r\n\r\n"
    ).encode() + BODY


async def status_of(reader: asyncio.StreamReader) -> int:
    """The status of one response, its body read too (keep-alive stays usable)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = re.search(rb"(?i)content-length: *(\d+)", head)
    await reader.readexactly(int(length.group(1)) if length else 0)
    return int(head.split(b" ", 2)[1])


async def closed_by_server(reader: asyncio.StreamReader, timeout: float) -> bool:
    """Whether the server closed the connection within ``timeout`` (EOF or reset)."""
    try:
        await asyncio.wait_for(reader.read(), timeout)  # returns at EOF only
    except ConnectionError:
        pass
    except TimeoutError:
        return False
    return True


async def slow_client(port: int, connected: asyncio.Queue[None]) -> float:
    """A slowloris: a request line, then one header line a second, never the end of
    the headers. Returns how long the server kept it open."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        connected.put_nowait(None)
        return 0.0
    opened = time.monotonic()
    connected.put_nowait(None)

    async def drip() -> None:
        writer.write(f"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode())
        for n in range(1000):
            await asyncio.sleep(1)
            writer.write(b"X-Slow-%d: 1\r\n" % n)

    dripping = asyncio.create_task(drip())
    with suppress(ConnectionError):
        await reader.read()
    dripping.cancel()
    writer.close()
    return time.monotonic() - opened


async def post_webhook(port: int) -> int:
    """The webhook's status, or 0 when the connection failed."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
    except (OSError, TimeoutError):
        return 0
    try:
        writer.write(webhook_request(port))
        return await asyncio.wait_for(status_of(reader), 10)
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return 0
    finally:
        writer.close()


def log_lines(srv: ServerProcess, event: str) -> list[str]:
    return event_lines(srv.log(), event)


def wait_for_lines(srv: ServerProcess, event: str, count: int, timeout: float = 10) -> list[str]:
    deadline = time.monotonic() + timeout
    while len(lines := log_lines(srv, event)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return lines


def test_slow_clients_do_not_starve_the_webhook(make_server: Any, many_sockets: None) -> None:
    """The issue's measurement: under the common limit of 1,024 open files, 2,000
    connections that send a header line a second and never finish, then 100 valid
    webhooks: all 100 are answered 200, every slow connection is closed by the server
    within header_timeout (plus the sweep's period), and the log says so in a few
    lines, not one per connection."""
    with server_file_limit(1024):
        srv = make_server(config(header_timeout="2s"))

    async def scenario() -> tuple[list[int], list[float], int]:
        connected: asyncio.Queue[None] = asyncio.Queue()
        slow = [asyncio.create_task(slow_client(srv.port, connected)) for _ in range(2000)]
        for _ in range(2000):
            await asyncio.wait_for(connected.get(), 30)
        statuses = await asyncio.gather(*(post_webhook(srv.port) for _ in range(100)))
        done, still_open = await asyncio.wait(slow, timeout=2 + MARGIN)
        for task in still_open:
            task.cancel()
        return list(statuses), [t.result() for t in done], len(still_open)

    statuses, held, still_open = asyncio.run(scenario())
    assert statuses == [200] * 100
    assert still_open == 0
    assert max(held) < 2 + MARGIN, sorted(held)[-10:]
    assert srv.metric("alertreflex_http_connections_closed_total") > 1000
    srv.stop()
    lines = log_lines(srv, "http_connections_closed")
    assert 1 <= len(lines) <= 6, lines


def test_a_stalled_body_is_closed_after_body_timeout(make_server: Any) -> None:
    """A request announcing 1,000 bytes of body that sends 10 and stalls is closed
    once body_timeout has passed since its headers, not before; the handler whose
    read was cut short makes a debug line, not an error with a traceback."""
    srv = make_server(config(body_timeout="2s"))

    async def stall() -> tuple[bool, float]:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(
            f"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n".encode()
            + BODY[:10]
        )
        t0 = time.monotonic()
        closed = await closed_by_server(reader, 2 + MARGIN)
        writer.close()
        return closed, time.monotonic() - t0

    closed, after = asyncio.run(stall())
    assert closed, "the stalled request is still open"
    assert after > 1.5
    assert srv.metric('alertreflex_http_connections_closed_total{reason="body_timeout"}') == 1
    srv.stop()
    assert len(log_lines(srv, "http_client_gone")) == 1  # the handler's read, cut short
    assert not [e for e in events(srv.log()) if e["level"] == "error"]


def test_a_reload_applies_the_timeouts_to_open_connections(make_server: Any) -> None:
    """The timeouts are read from the running config: a connection that sent nothing
    under header_timeout 60s is closed about a second after a reload set it to 1s."""
    srv = make_server(config(header_timeout="60s"))

    async def scenario() -> bool:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        assert not await closed_by_server(reader, 1.5)
        srv.config.write_text(config(header_timeout="1s"))
        resp = await asyncio.to_thread(httpx.post, f"{srv.url}/-/reload", timeout=10)
        assert resp.status_code == 200, resp.text
        closed = await closed_by_server(reader, 1 + MARGIN)
        writer.close()
        return closed

    assert asyncio.run(scenario())


def test_at_the_bound_the_longest_idle_connection_makes_room(make_server: Any) -> None:
    """With max_connections 20 and 20 idle keep-alive connections open (for more than
    the second a just-idle connection is spared), a new connection's webhook is
    served, and the connection idle the longest, the first, is the one closed for it;
    the 19 others stay open."""
    srv = make_server(config(max_connections=20))

    async def scenario() -> tuple[int, bool, list[bool]]:
        await asyncio.sleep(0.2)  # the readiness probe's connection is gone by then
        conns = []
        for _ in range(20):
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
            writer.write(f"GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n\r\n".encode())
            assert await status_of(reader) == 200
            conns.append((reader, writer))
        await asyncio.sleep(GRACE + 0.2)
        status = await post_webhook(srv.port)
        first = await closed_by_server(conns[0][0], 2)
        others = [await closed_by_server(r, 0.05) for r, _ in conns[1:]]
        for _, w in conns:
            w.close()
        return status, first, others

    status, first, others = asyncio.run(scenario())
    assert status == 200
    assert first, "the oldest idle connection was not closed"
    assert not any(others)
    assert srv.metric('alertreflex_http_connections_closed_total{reason="evicted"}') == 1


def test_malformed_requests_make_one_structured_line_each(make_server: Any) -> None:
    """Bytes that are not HTTP, and a request with a broken header line, are answered
    400 (by aiohttp) and logged as one ``http_bad_request`` line each, with the remote
    address and the parser's message, and no traceback anywhere in the log."""
    srv = make_server(REFLEX)

    async def send(data: bytes) -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(data)
        status = await status_of(reader)
        writer.close()
        return status

    assert asyncio.run(send(b"GARBAGE\r\n\r\n")) == 400
    assert asyncio.run(send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nBroken Header\r\n\r\n")) == 400
    lines = wait_for_lines(srv, "http_bad_request", 2)
    assert len(lines) == 2, srv.log()
    for line in lines:
        assert re.match(r"ts=\S+ level=info msg=http_bad_request ", line), line
        assert "remote=127.0.0.1" in line
        assert "status=400" in line
    assert "Invalid method" in lines[0]
    assert srv.metric("alertreflex_http_bad_requests_total") == 2
    srv.stop()
    assert log_lines(srv, "http_bad_request") == lines
    assert "Traceback" not in srv.log()


def test_the_open_file_limit_is_checked_at_start_and_watched(make_server: Any) -> None:
    """Under RLIMIT_NOFILE 256 with max_connections 1,000: one warning at start says
    what does not fit and what to do, and the connection limit is lowered to fit.
    Connections taking the process near its limit make one "near the limit" line, not
    one per connection; once they are gone, the next ones near it make a second."""
    with server_file_limit(256):
        srv = make_server(config(max_connections=1000, header_timeout="1s"))
    start = log_lines(srv, "open_file_limit_low")
    assert len(start) == 1, srv.log()
    assert "max_connections=1000" in start[0]
    assert "LimitNOFILE=" in start[0]
    kept = int(re.search(r"connections_kept=(\d+)", start[0]).group(1))
    assert kept < 256
    assert srv.metric("alertreflex_http_connections_limit") == kept

    async def fill() -> None:
        """240 connections that send nothing, until the server closes them."""
        conns = [await asyncio.open_connection("127.0.0.1", srv.port) for _ in range(240)]
        await asyncio.gather(*(closed_by_server(r, 1 + MARGIN) for r, _ in conns))
        for _, w in conns:
            w.close()

    asyncio.run(fill())
    assert len(wait_for_lines(srv, "open_files_near_limit", 1)) == 1, srv.log()
    time.sleep(2)  # a recount (each second) sees the files fall back and re-arms
    assert len(log_lines(srv, "open_files_near_limit")) == 1
    asyncio.run(fill())
    assert len(wait_for_lines(srv, "open_files_near_limit", 2)) == 2, srv.log()


# The guard itself, with a fake clock and fake transports.


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False
        self.protocol: asyncio.BaseProtocol | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def get_protocol(self) -> asyncio.BaseProtocol:
        assert self.protocol is not None
        return self.protocol


class Body:
    def __init__(self, complete: bool) -> None:
        self.complete = complete

    def is_eof(self) -> bool:
        return self.complete


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Rig:
    """A guard on a fake clock."""

    def __init__(self, settings: WebSettings, limit: int | None = None) -> None:
        self.clock = Clock()
        self.registry = CollectorRegistry()
        self.guard = ConnectionGuard(
            lambda: settings,
            ConnectionMetrics(self.registry),
            FileBudget(limit=limit, in_use=0),
            clock=self.clock,
        )
        self._factory = self.guard.protocol_factory(asyncio.Protocol)

    def connect(self, *sent: bytes) -> tuple[Connection, FakeTransport]:
        """A new connection, then ``sent`` received on it, one chunk each."""
        conn = self._factory()
        transport = FakeTransport()
        transport.protocol = conn
        conn.connection_made(transport)
        for chunk in sent:
            conn.data_received(chunk)
        return conn, transport

    def closed(self, reason: str) -> float | None:
        return self.registry.get_sample_value(
            "alertreflex_http_connections_closed_total", {"reason": reason}
        )


REQUEST = b"GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
LONG = WebSettings(max_connections=3, header_timeout=3600, idle_timeout=3600)


def test_a_connection_with_a_request_in_progress_is_never_evicted() -> None:
    """At the bound, a connection whose request is being handled (its body all in)
    stays however old it is and however long its handler takes, and so does one
    whose headers are all in but whose handler has not started yet; an idle one goes.
    With no connection to spare, a newcomer gets 503 and is closed."""
    rig = Rig(LONG)
    busy, busy_t = rig.connect(REQUEST)
    busy.begin(Body(complete=True))
    ready, ready_t = rig.connect(REQUEST)
    idle, idle_t = rig.connect(REQUEST)
    idle.begin(Body(complete=True))
    idle.end()
    assert (busy.phase, ready.phase, idle.phase) == (BUSY, READY, IDLE)
    rig.clock.now += 600
    rig.guard.sweep(rig.clock.now)  # the slow handler: no deadline applies to it
    assert not busy_t.closed
    _, new_t = rig.connect()
    assert (busy_t.closed, ready_t.closed, idle_t.closed, new_t.closed) == (
        False,
        False,
        True,
        False,
    )
    assert rig.closed("evicted") == 1
    _, refused_t = rig.connect()  # the newcomer before it has not been read from yet
    assert refused_t.closed
    assert refused_t.written.startswith(b"HTTP/1.1 503 ")
    assert rig.closed("refused") == 1
    assert len(rig.guard) == 3


def test_eviction_takes_the_longest_waiting_and_spares_newcomers_a_second() -> None:
    """The connection waiting longest in its phase goes first. A connection sending
    its headers slowly can go at once, but one not read from yet (a valid request
    may be waiting in the kernel) and one just idle after a response are spared for
    GRACE: attackers reconnecting faster than they are evicted get 503 instead of
    evicting those."""
    rig = Rig(LONG)
    old_idle, old_idle_t = rig.connect(REQUEST)
    old_idle.begin(Body(complete=True))
    old_idle.end()
    rig.clock.now += 10
    slow, slow_t = rig.connect(b"POST /webhook HTTP/1.1\r\n")
    assert slow.phase == HEADERS
    rig.clock.now += 0.1
    _, unread_t = rig.connect()
    rig.clock.now += 0.1
    _, first_t = rig.connect()  # the oldest, idle for 10 s, makes room
    assert (old_idle_t.closed, slow_t.closed, unread_t.closed) == (True, False, False)
    _, second_t = rig.connect()  # then the slow one, though it is younger than GRACE
    assert (slow_t.closed, unread_t.closed, first_t.closed) == (True, False, False)
    _, third_t = rig.connect()  # only newcomers not read from yet: refused
    assert third_t.closed
    assert third_t.written.startswith(b"HTTP/1.1 503 ")
    rig.clock.now += GRACE
    _, fourth_t = rig.connect()  # a second on, the oldest of them goes
    assert (unread_t.closed, first_t.closed, second_t.closed, fourth_t.closed) == (
        True,
        False,
        False,
        False,
    )
    assert (rig.closed("evicted"), rig.closed("refused")) == (3, 1)


@pytest.mark.parametrize(
    ("phase", "timeout", "reason"),
    [
        (HEADERS, "header_timeout", "header_timeout"),
        (IDLE, "idle_timeout", "idle"),
        (BUSY, "body_timeout", "body_timeout"),
    ],
)
def test_each_phase_is_closed_at_its_own_deadline(phase: int, timeout: str, reason: str) -> None:
    """Headers still arriving, a body still arriving, and an idle keep-alive
    connection are each closed once their own timeout has passed since the phase
    began, and counted under their reason."""
    settings = WebSettings(header_timeout=5, body_timeout=7, idle_timeout=11)
    rig = Rig(settings)
    conn, transport = rig.connect()
    if phase != HEADERS:
        conn.begin(Body(complete=False))
    if phase == IDLE:
        conn.end()
    deadline = conn.since + getattr(settings, timeout)
    rig.guard.sweep(deadline - 0.01)
    assert not transport.closed
    rig.guard.sweep(deadline + 0.01)
    assert transport.closed
    assert len(rig.guard) == 0
    assert rig.closed(reason) == 1


def test_the_connection_bound_stays_under_the_open_file_limit() -> None:
    """max_connections is lowered to what fits beside the files already open and the
    headroom, and the warning tells how far to raise the limit."""
    budget = FileBudget(limit=1024, in_use=30)
    assert budget.max_connections == 1024 - 30 - 1024 // 8
    assert budget.problem(512) is None
    problem = budget.problem(5000)
    assert problem is not None
    assert "at most 866 connections" in problem
    assert "at least 5158" in problem
    assert FileBudget(limit=None, in_use=30).problem(10**6) is None
    assert Rig(WebSettings(max_connections=5000), limit=1024).guard.limit() == 1024 - 128


def test_bad_request_lines_are_rate_limited() -> None:
    """A flood of malformed requests logs PER_WINDOW lines per window; the next line
    says how many were left out, and the counter counts them all. A client gone in
    the middle of its request is a debug line with its own budget."""
    now = [0.0]
    registry = CollectorRegistry()
    handler = ServerLog(ConnectionMetrics(registry).bad_requests, clock=lambda: now[0])

    def record(error: BaseException) -> logging.LogRecord:
        return logging.LogRecord(
            "aiohttp.server",
            logging.ERROR,
            __file__,
            1,
            "Error handling request from %s",
            ("10.0.0.1",),
            (type(error), error, None),
        )

    bad = record(HttpProcessingError(code=400, message="Invalid method encountered:\n\n  b'X'"))
    gone = record(ConnectionResetError("Connection lost"))
    with structlog.testing.capture_logs() as logs:
        for _ in range(PER_WINDOW + 5):
            handler.handle(bad)
        handler.handle(gone)
        now[0] += WINDOW
        handler.handle(bad)
    events = [(e["event"], e["log_level"]) for e in logs]
    assert events == [("http_bad_request", "info")] * PER_WINDOW + [
        ("http_client_gone", "debug"),
        ("http_bad_request", "info"),
    ]
    assert logs[0]["remote"] == "10.0.0.1"
    assert logs[0]["error"] == "Invalid method encountered: b'X'"
    assert "suppressed" not in logs[0]
    assert logs[-1]["suppressed"] == 5
    assert registry.get_sample_value("alertreflex_http_bad_requests_total") == PER_WINDOW + 6


async def test_requests_through_the_guarded_site_mark_their_connection() -> None:
    """The guard's hooks into aiohttp: the site listens with the guard's protocol in
    front of aiohttp's (runner.addresses sees it), and the middleware finds that
    protocol from the request, BUSY while its handler runs, IDLE after. This breaks
    if aiohttp stops going through BaseSite's ``_server`` or hands requests a
    transport whose protocol is not the one the loop created."""
    seen: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        conn = request.transport.get_protocol()
        assert isinstance(conn, Connection)
        seen.append(conn.phase)
        return web.Response(text="ok")

    app = web.Application(middlewares=[track_requests])
    app.router.add_get("/", handler)
    guard = ConnectionGuard(
        lambda: WebSettings(), ConnectionMetrics(CollectorRegistry()), FileBudget(None, 0)
    )
    runner = web.AppRunner(app)
    await runner.setup()
    site = GuardedSite(runner, guard, "127.0.0.1", 0, backlog=16)
    await site.start()
    try:
        port = runner.addresses[0][1]
        async with ClientSession() as session:
            for _ in range(2):
                async with session.get(f"http://127.0.0.1:{port}/") as resp:
                    assert await resp.text() == "ok"
            assert len(guard) == 1  # one kept-alive connection, reused
            assert [c.phase for c in guard._open] == [IDLE]
    finally:
        await runner.cleanup()
    assert seen == [BUSY, BUSY]
