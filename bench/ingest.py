"""Ingest benchmark: the real ``alertreflex serve`` process under webhook load.

Prints figures and asserts nothing. See bench/README.md for what is measured and how.

    .venv/bin/python bench/ingest.py            # about 4-5 minutes
    .venv/bin/python bench/ingest.py --quick    # about 1 minute

Everything runs on loopback: a fresh server (fresh SQLite file) per case, a load
generator in a separate process (so that its CPU time is measured apart from the
server's), and this process, which orchestrates, samples the server's RSS and CPU and
scrapes ``/metrics``. The server is stopped with SIGTERM and the temporary files are
removed at the end, Ctrl-C included.

With ``--storage postgresql://...`` every case gets a fresh schema instead (dropped
at the end as well), and ``--replicas N`` runs N servers on it sharing the load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import math
import multiprocessing as mp
import os
import random
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

BIN = Path(sys.executable).parent / "alertreflex"
HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Targets, from the project's goals.
TARGET_NOTIF_S = 4_000.0  # 1-alert notifications/s acknowledged, concurrency 16
TARGET_ALERTS_S = 50_000.0  # alerts/s acknowledged with 50-alert payloads, concurrency 16
TARGET_P99_MS = 15.0  # acknowledgement latency p99
TARGET_ACTION_P50_MS = 5.0  # alert-to-action start, p50, at low load
TARGET_IDLE_RSS_MIB = 60.0
TARGET_REFLEX_RATIO = 0.90  # 10,000 reflexes vs 10 reflexes, throughput
TARGET_CONCURRENCY = 16
# PostgreSQL (issue 6): per replica, at least this share of what SQLite does; the
# summary holds each replica to this share of the SQLite targets above.
TARGET_PG_SHARE = 0.5
QUIET_CPU = 0.25  # other processes' CPU (share of one core) under which the machine is quiet

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy


# --- payloads ----------------------------------------------------------------------

_NOTIFICATION_HEAD = (
    b'{"receiver":"alertreflex","status":"firing",'
    b'"groupLabels":{"alertname":"BenchAlert"},'
    b'"commonLabels":{"alertname":"BenchAlert","team":"bench","job":"node","severity":"critical"},'
    b'"commonAnnotations":{},"externalURL":"http://127.0.0.1:19093","version":"4",'
    b'"groupKey":"{}:{alertname=\\"BenchAlert\\"}","truncatedAlerts":0,"alerts":['
)
_NOTIFICATION_TAIL = b"]}"
# %(seq)d twice, then startsAt, then the fingerprint.
_ALERT = (
    b'{"status":"firing","labels":{"alertname":"BenchAlert","team":"bench","job":"node",'
    b'"severity":"critical","instance":"host-%d:9100","seq":"%s"},'
    b'"annotations":{"summary":"bench alert","description":"up == 0 for 1m"},'
    b'"startsAt":"%s","endsAt":"0001-01-01T00:00:00Z",'
    b'"generatorURL":"http://127.0.0.1:19090/graph?g0.expr=up+%%3D%%3D+0&g0.tab=1",'
    b'"fingerprint":"%s"}'
)


class Payloads:
    """Alertmanager v4 notifications in which every alert is a new episode.

    Each alert gets a unique ``seq`` label, a unique fingerprint (a random per-process
    prefix and a counter) and a unique ``startsAt`` (an hour ago plus ``seq`` us).
    """

    def __init__(self, size: int, prefix: int | None = None) -> None:
        self.size = size
        self.seq = 0
        self.prefix = random.getrandbits(24) if prefix is None else prefix
        self._base = int(time.time()) - 3600
        self._second = -1
        self._second_text = b""
        self._heads: dict[int, bytes] = {}  # per port: replicas listen on several

    def _starts_at(self, seq: int) -> bytes:
        second, micro = divmod(seq, 1_000_000)
        if second != self._second:
            self._second = second
            stamp = time.gmtime(self._base + second)
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", stamp).encode()
        return b"%s.%06dZ" % (self._second_text, micro)

    def body(self) -> tuple[bytes, list[str]]:
        """One notification, and the ``seq`` labels of its alerts."""
        parts = []
        seqs = []
        for _ in range(self.size):
            self.seq += 1
            seq = self.seq
            label = b"%06x-%d" % (self.prefix, seq)
            fingerprint = b"%06x%010x" % (self.prefix, seq)
            parts.append(_ALERT % (seq, label, self._starts_at(seq), fingerprint))
            seqs.append(label.decode())
        return _NOTIFICATION_HEAD + b",".join(parts) + _NOTIFICATION_TAIL, seqs

    def http(self, body: bytes, port: int) -> bytes:
        """``body`` as an HTTP/1.1 POST to the server on ``port``."""
        head = self._heads.get(port)
        if head is None:
            head = b"POST /webhook HTTP/1.1\r\nHost: %s:%d\r\n" % (HOST.encode(), port)
            head += b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            self._heads[port] = head
        return head % len(body) + body

    def request(self, port: int) -> bytes:
        body, _ = self.body()
        return self.http(body, port)


# --- load generator (runs in its own process) -----------------------------------------


@dataclass
class LoadResult:
    window: float = 0.0
    ok: int = 0
    ok_alerts: int = 0
    non200: int = 0
    errors: int = 0  # connection lost with a request in flight
    statuses: dict[int, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    cpu_s: float = 0.0  # generator CPU time during the window
    sent: list[tuple[str, float, float]] = field(default_factory=list)  # paced: seq, t, ack ms


def _cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


_CONTENT_LENGTH = re.compile(rb"(?i)\r\ncontent-length:[ \t]*(\d+)")


class _RawConn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request in flight at a time."""

    def __init__(self, on_response: Callable[[_RawConn, int, float], None], port: int) -> None:
        self._on_response = on_response
        self.port = port
        self._buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.t0 = 0.0
        self.alerts = 0
        self.busy = False
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send(self, request: bytes, alerts: int) -> None:
        assert self.transport is not None
        self.alerts = alerts
        self.busy = True
        self.t0 = time.monotonic()
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            m = _CONTENT_LENGTH.search(buf, 0, end + 2)
            total = end + 4 + (int(m.group(1)) if m else 0)
            if len(buf) < total:
                return
            status = int(buf[9:12])
            del buf[:total]
            self.busy = False
            self._on_response(self, status, time.monotonic())

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)


def spread(ports: Sequence[int], concurrency: int) -> list[int]:
    """The port of each connection: round robin over the replicas, as a load balancer
    that balances connections (not requests) would do. With fewer connections than
    replicas, some replicas get none."""
    return [ports[i % len(ports)] for i in range(concurrency)]


class RawLoad:
    """Closed-loop load on N connections with hand-written HTTP/1.1 (cheap on CPU)."""

    def __init__(self, ports: Sequence[int], payloads: Payloads, concurrency: int) -> None:
        self.ports = list(ports)
        self.payloads = payloads
        self.concurrency = concurrency
        self.result = LoadResult()
        self.warm_end = math.inf
        self.end = math.inf
        self._conns: list[_RawConn] = []
        self._active = 0
        self._done: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Future[None]] = set()

    async def _connect(self, port: int) -> _RawConn:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(lambda: _RawConn(self._response, port), HOST, port)
        sock = conn.transport.get_extra_info("socket") if conn.transport else None
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.lost.add_done_callback(functools.partial(self._lost, conn))
        return conn

    async def prepare(self) -> None:
        self._done = asyncio.get_running_loop().create_future()
        self._conns = [await self._connect(port) for port in spread(self.ports, self.concurrency)]

    def _send(self, conn: _RawConn) -> None:
        conn.send(self.payloads.request(conn.port), self.payloads.size)

    def _response(self, conn: _RawConn, status: int, t1: float) -> None:
        r = self.result
        if self.warm_end <= t1 <= self.end:
            if status == 200:
                r.ok += 1
                r.ok_alerts += conn.alerts
            else:
                r.non200 += 1
            r.statuses[status] = r.statuses.get(status, 0) + 1
            r.latencies_ms.append((t1 - conn.t0) * 1000.0)
        if t1 < self.end:
            self._send(conn)
        else:
            self._finish_one(conn)

    def _finish_one(self, conn: _RawConn) -> None:
        if conn.transport is not None:
            conn.transport.close()
        self._active -= 1
        if self._active == 0 and self._done is not None and not self._done.done():
            self._done.set_result(None)

    def _lost(self, conn: _RawConn, _fut: object = None) -> None:
        if not conn.busy:
            return  # closed by us at the end
        conn.busy = False
        if self.warm_end <= time.monotonic() <= self.end:
            self.result.errors += 1
        if time.monotonic() < self.end:
            task = asyncio.ensure_future(self._replace(conn.port))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self._active -= 1
            if self._active == 0 and self._done is not None and not self._done.done():
                self._done.set_result(None)

    async def _replace(self, port: int) -> None:
        try:
            conn = await self._connect(port)
        except OSError:
            self._active -= 1
            if self._active == 0 and self._done is not None and not self._done.done():
                self._done.set_result(None)
            return
        self._send(conn)

    async def run(self, warm_end: float, end: float) -> LoadResult:
        self.warm_end, self.end = warm_end, end
        self._active = len(self._conns)
        for conn in self._conns:
            self._send(conn)
        await _sleep_until(warm_end)
        cpu0 = _cpu_seconds()
        await _sleep_until(end)
        self.result.cpu_s = _cpu_seconds() - cpu0
        assert self._done is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._done, 30.0)
        self.result.window = end - warm_end
        return self.result


class AiohttpLoad:
    """The same closed-loop load through aiohttp's client, for comparison."""

    def __init__(self, ports: Sequence[int], payloads: Payloads, concurrency: int) -> None:
        self.urls = [f"http://{HOST}:{port}/webhook" for port in spread(ports, concurrency)]
        self.payloads = payloads
        self.concurrency = concurrency
        self.result = LoadResult()
        self._session: Any = None

    async def prepare(self) -> None:
        import aiohttp  # only this mode needs it

        connector = aiohttp.TCPConnector(limit=self.concurrency, force_close=False)
        self._session = aiohttp.ClientSession(connector=connector)

    async def _worker(self, url: str, warm_end: float, end: float) -> None:
        r = self.result
        headers = {"Content-Type": "application/json"}
        while (t0 := time.monotonic()) < end:
            body, seqs = self.payloads.body()
            try:
                async with self._session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    status = resp.status
            except OSError:
                if warm_end <= time.monotonic() <= end:
                    r.errors += 1
                continue
            t1 = time.monotonic()
            if warm_end <= t1 <= end:
                if status == 200:
                    r.ok += 1
                    r.ok_alerts += len(seqs)
                else:
                    r.non200 += 1
                r.statuses[status] = r.statuses.get(status, 0) + 1
                r.latencies_ms.append((t1 - t0) * 1000.0)

    async def run(self, warm_end: float, end: float) -> LoadResult:
        workers = [asyncio.ensure_future(self._worker(url, warm_end, end)) for url in self.urls]
        await _sleep_until(warm_end)
        cpu0 = _cpu_seconds()
        await _sleep_until(end)
        self.result.cpu_s = _cpu_seconds() - cpu0
        await asyncio.wait(workers, timeout=30.0)
        await self._session.close()
        self.result.window = end - warm_end
        return self.result


async def _sleep_until(t: float) -> None:
    delay = t - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


async def paced(port: int, count: int, interval: float) -> LoadResult:
    """One 1-alert notification every ``interval`` s on one connection: low load."""
    payloads = Payloads(1)
    result = LoadResult()
    loop = asyncio.get_running_loop()
    waiter: list[asyncio.Future[int]] = []

    def on_response(_conn: _RawConn, status: int, _t1: float) -> None:
        waiter[0].set_result(status)

    _, conn = await loop.create_connection(lambda: _RawConn(on_response, port), HOST, port)
    start = time.monotonic()
    for k in range(count):
        await _sleep_until(start + k * interval)
        body, seqs = payloads.body()
        request = payloads.http(body, port)
        waiter[:] = [loop.create_future()]
        sent_wall = time.time()
        conn.send(request, 1)
        status = await asyncio.wait_for(waiter[0], 30.0)
        ack_ms = (time.monotonic() - conn.t0) * 1000.0
        if status == 200:
            result.ok += 1
            result.sent.append((seqs[0], sent_wall, ack_ms))
        else:
            result.non200 += 1
    if conn.transport is not None:
        conn.transport.close()
    return result


def generator_main(pipe: Connection, spec: dict[str, Any]) -> None:
    """Entry point of the load generator process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us

    async def main() -> LoadResult:
        if spec["mode"] == "paced":
            return await paced(spec["port"], spec["count"], spec["interval"])
        payloads = Payloads(spec["size"])
        cls = RawLoad if spec["client"] == "raw" else AiohttpLoad
        load = cls(spec["ports"], payloads, spec["concurrency"])
        await load.prepare()
        pipe.send("ready")
        loop = asyncio.get_running_loop()
        warm_end, end = await loop.run_in_executor(None, pipe.recv)
        return await load.run(warm_end, end)

    pipe.send(asyncio.run(main()))


# --- the server under test ----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def _yaml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(
    path: Path,
    *,
    reflexes: int,
    command: Sequence[str],
    max_concurrent_runs: int,
    max_queued_runs: int,
    no_runs: bool = False,
    match: str = "['alertname = \"BenchAlert\"', 'severity =~ \"warning|critical\"']",
) -> None:
    """One reflex that matches every bench alert, and ``reflexes - 1`` that never do.

    ``match`` is the first reflex's matchers, as YAML. With ``no_runs`` the first
    reflex belongs to another team, so nothing matches:
    what is left is the cost of taking notifications in (validate, match, store).

    The others look like other teams' reflexes: 90% pinned to their own alertname in
    other teams, 9% in team ``bench`` pinned to other alertnames, 1% in other teams
    with no alertname (regex matchers), as a real multi-team config would hold.
    """
    argv = ", ".join(_yaml_str(a) for a in command)
    lines = [
        "settings:",
        f"  max_concurrent_runs: {max_concurrent_runs}",
        f"  max_queued_runs: {max_queued_runs}",
        "  shutdown_grace: 2s",
        "reflexes:",
        "  - name: bench-exec",
        f"    team: {'nobody' if no_runs else 'bench'}",
        f"    match: {match}",
        "    on_firing:",
        f"      - exec: {{command: [{argv}], timeout: 30s}}",
        f"    max_concurrent: {max_concurrent_runs}",
    ]
    for i in range(1, reflexes):
        if i % 100 == 1:
            team, match = (
                f"team{i % 97}",
                f"['severity = \"critical\"', 'service =~ \"svc{i}|x{i}\"']",
            )
        elif i % 10 == 0:
            team, match = "bench", f"['alertname = \"BenchOther{i}\"']"
        else:
            team = f"team{i % 97}"
            match = f"['alertname = \"Alert{i}\"', 'severity =~ \"warning|critical\"']"
        lines += [
            f"  - name: other-{i:05d}",
            f"    team: {team}",
            f"    match: {match}",
            "    on_firing:",
            "      - exec: {command: [echo, '{{ alert.labels.alertname }}'], timeout: 5s}",
        ]
    path.write_text("\n".join(lines) + "\n")


def http_get(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    try:
        with _OPENER.open(url, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


BASELINE_SERVER = """
import sys, orjson
from aiohttp import web
async def webhook(request):
    orjson.loads(await request.read())
    return web.json_response({"status": "accepted"}, dumps=lambda o: orjson.dumps(o).decode())
app = web.Application()
app.router.add_post("/webhook", webhook)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""
"""The floor: aiohttp reading the body and parsing the JSON, nothing else."""


class Server:
    """``alertreflex serve`` as a subprocess in its own session (Ctrl-C stays with us)."""

    def __init__(
        self, config: Path, storage: str, log: Path, log_level: str, *, baseline: bool = False
    ) -> None:
        self.config = config
        self.storage = storage
        self.log_path = log
        self.log_level = log_level
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_s = 0.0
        self.baseline = baseline
        if baseline:
            self.command = [sys.executable, "-c", BASELINE_SERVER, str(self.port)]
        else:
            self.command = [
                str(BIN),
                "serve",
                "--config",
                str(config),
                "--storage",
                storage,
                "--listen",
                f"{HOST}:{self.port}",
                "--log-level",
                log_level,
            ]

    def start(self, timeout: float = 180.0) -> Server:
        self.launch()
        return self.wait_ready(time.monotonic(), timeout)

    def launch(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, t0: float, timeout: float) -> Server:
        """Wait until the server answers; ``startup_s`` counts from ``t0``."""
        assert self.proc is not None
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            with contextlib.suppress(OSError):
                if self.baseline:
                    socket.create_connection((HOST, self.port), 1.0).close()
                    self.startup_s = time.monotonic() - t0
                    return self
                if http_get(f"{self.url}/-/ready", 2.0)[0] == 200:
                    self.startup_s = time.monotonic() - t0
                    return self
            time.sleep(0.05)
        raise RuntimeError(f"server not ready after {timeout:g}s:\n{self.log()[-4000:]}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def memory_mib(self) -> tuple[float, float]:
        """(VmRSS, VmHWM) of the server process, in MiB."""
        rss = hwm = 0.0
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) / 1024
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1]) / 1024
        return rss, hwm

    def cpu_seconds(self) -> tuple[float, float]:
        """(the server's own, its actions') CPU seconds. The actions are every process
        below the server, alive or reaped: ``exec`` steps run in a long-lived helper
        process, whose CPU and whose children's the server never reaps."""
        own, actions = process_cpu_seconds(self.pid)
        for pid in descendants(self.pid):
            child_own, child_reaped = process_cpu_seconds(pid)
            actions += child_own + child_reaped
        return own, actions

    def metrics(self) -> Metrics:
        return Metrics(http_get(f"{self.url}/metrics")[1].decode())

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def process_cpu_seconds(pid: int) -> tuple[float, float]:
    """(own, reaped children's) CPU seconds of a process: utime+stime, cutime+cstime;
    zeros when it is gone or not ours to see."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        own = (int(fields[11]) + int(fields[12])) / CLK_TCK
        children = (int(fields[13]) + int(fields[14])) / CLK_TCK
        return own, children
    return 0.0, 0.0


def descendants(pid: int) -> list[int]:
    """The live processes below ``pid``, at any depth."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        with contextlib.suppress(OSError, ValueError):
            for task in Path(f"/proc/{parent}/task").iterdir():
                children = [int(c) for c in (task / "children").read_text().split()]
                found += children
                todo += children
    return found


# --- PostgreSQL storage ---------------------------------------------------------------


def is_postgres(url: str | None) -> bool:
    return bool(url) and str(url).startswith(("postgresql://", "postgres://"))


def with_params(dsn: str, **params: str) -> str:
    """``dsn`` with these query parameters set. asyncpg hands the ones it does not
    know to the server as session settings, which is how a schema and a name reach
    every connection of alertreflex's pool without alertreflex knowing."""
    parts = urlsplit(dsn)
    query = dict(parse_qsl(parts.query))
    query.update(params)
    return urlunsplit(parts._replace(query=urlencode(query)))


def pg_fetch(dsn: str, sql: str, *args: object) -> list[Any]:
    """One statement on a connection of its own (this orchestrator is not async)."""
    import asyncpg  # only PostgreSQL runs need it

    async def fetch() -> list[Any]:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    return asyncio.run(fetch())


class PgSchema:
    """A fresh schema for one case, so that no case inherits another's rows; it is
    created and migrated before the servers start (``serve`` refuses an unmigrated
    schema) and dropped with everything in it when the case ends."""

    def __init__(self, admin_dsn: str) -> None:
        self.admin_dsn = admin_dsn
        self.name = f"bench_{secrets.token_hex(5)}"
        # The same name as application_name: PgProcesses finds this case's backends by it.
        self.dsn = with_params(admin_dsn, search_path=self.name, application_name=self.name)

    def create(self) -> None:
        pg_fetch(self.admin_dsn, f"CREATE SCHEMA {self.name}")
        done = subprocess.run(
            [str(BIN), "migrate", "--storage", self.dsn],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"alertreflex migrate exited with {done.returncode}:\n{done.stdout}{done.stderr}"
            )

    def drop(self) -> None:
        pg_fetch(self.admin_dsn, f"DROP SCHEMA IF EXISTS {self.name} CASCADE")


class PgProcesses:
    """The PostgreSQL processes working for one case, for their CPU time: without
    them the database's work would count as "other" and look like a busy machine.

    They are the backends of this case's servers (by application_name) and the
    server's background processes (WAL writer, checkpointer, autovacuum, ...), which
    also serve any other client of the same PostgreSQL. Backends come and go with the
    pools, so they are looked up at every snapshot. A PostgreSQL on another machine
    (or out of sight in /proc) counts as zero.
    """

    def __init__(self, admin_dsn: str, application_name: str) -> None:
        self.admin_dsn = admin_dsn
        self.application_name = application_name

    def pids(self) -> list[int]:
        rows = pg_fetch(
            self.admin_dsn,
            "SELECT pid FROM pg_stat_activity"
            " WHERE application_name = $1 OR backend_type <> 'client backend'",
            self.application_name,
        )
        return [int(row["pid"]) for row in rows]

    def cpu_seconds(self) -> dict[int, float]:
        return {pid: process_cpu_seconds(pid)[0] for pid in self.pids()}


def db_cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds the database processes used between two samples; a backend born in
    between counts from zero (it is new), one gone by ``after`` is lost (pools keep
    theirs open, so that is rare)."""
    return sum(max(0.0, t - before.get(pid, 0.0)) for pid, t in after.items())


class Replicas:
    """The servers of one case, measured as one: the load is spread over their ports,
    CPU seconds and memory are summed, their ``/metrics`` are merged.

    One server with SQLite (or the floor's bare app); with PostgreSQL, N ``alertreflex
    serve`` sharing one schema, as a deployment behind a load balancer would run them.
    """

    def __init__(self, servers: Sequence[Server], db: PgProcesses | None = None) -> None:
        self.servers = list(servers)
        self.db = db  # the PostgreSQL processes working for this case, when there is one
        self.baseline = self.servers[0].baseline
        self.startup_s = 0.0

    def __len__(self) -> int:
        return len(self.servers)

    @property
    def ports(self) -> list[int]:
        return [srv.port for srv in self.servers]

    @property
    def url(self) -> str:
        """Any replica's API shows every replica's runs: the first one will do."""
        return self.servers[0].url

    def start(self, timeout: float = 180.0) -> Replicas:
        """Start them all at once (as a rollout would), then wait for each."""
        t0 = time.monotonic()
        for srv in self.servers:
            srv.launch()
        for srv in self.servers:
            srv.wait_ready(t0, timeout)
        self.startup_s = max(srv.startup_s for srv in self.servers)
        return self

    def memory_mib(self) -> tuple[float, float]:
        """(VmRSS, VmHWM) summed over the replicas, in MiB. The sum of the high-water
        marks is an upper bound of the summed peak: they need not peak together."""
        pairs = [srv.memory_mib() for srv in self.servers]
        return sum(rss for rss, _ in pairs), sum(hwm for _, hwm in pairs)

    def cpu_seconds(self) -> tuple[float, float]:
        pairs = [srv.cpu_seconds() for srv in self.servers]
        return sum(own for own, _ in pairs), sum(children for _, children in pairs)

    def db_cpu_seconds(self) -> dict[int, float]:
        return {} if self.db is None else self.db.cpu_seconds()

    def metrics(self) -> Metrics:
        return Metrics.merged([srv.metrics() for srv in self.servers])


class Metrics:
    """The Prometheus text format, just enough of it."""

    _LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")

    def __init__(self, text: str) -> None:
        self.samples: list[tuple[str, str, float]] = []
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            if m := self._LINE.match(line):
                self.samples.append((m.group(1), m.group(2) or "", float(m.group(3))))

    @classmethod
    def merged(cls, parts: Sequence[Metrics]) -> Metrics:
        """Several replicas' samples as one exposition: counters, gauges and histogram
        buckets then add up across replicas (the ones this bench reads are per
        replica)."""
        out = cls("")
        for part in parts:
            out.samples += part.samples
        return out

    def sum(self, name: str) -> float:
        return sum(v for n, _labels, v in self.samples if n == name)

    def buckets(self, name: str) -> list[tuple[float, float]]:
        """Cumulative (le, count) of a histogram without other labels, summed over
        the replicas."""
        counts: dict[float, float] = {}
        for n, labels, v in self.samples:
            if n == f"{name}_bucket" and (m := re.search(r'le="([^"]+)"', labels)):
                le = float(m.group(1))
                counts[le] = counts.get(le, 0.0) + v
        return sorted(counts.items())


def bucket_diff(
    after: list[tuple[float, float]], before: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    prev = dict(before)
    return [(le, c - prev.get(le, 0.0)) for le, c in after]


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """As PromQL's histogram_quantile: linear within the bucket, in the same unit."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if math.isinf(le):
                return lower  # in the +Inf bucket: the highest finite bound
            if count == below:
                return le
            return lower + (le - lower) * (rank - below) / (count - below)
        lower, below = le, count
    return lower


def percentile(values: list[float], q: float) -> float | None:
    """Nearest rank."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


# --- cases --------------------------------------------------------------------------


@dataclass
class CaseResult:
    name: str
    size: int
    concurrency: int
    reflexes: int
    replicas: int = 1  # servers sharing the load (PostgreSQL); figures are their sum
    notif_s: float = 0.0
    alerts_s: float = 0.0
    p50_ms: float | None = None
    p99_ms: float | None = None
    server_p99_ms: float | None = None
    non200: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)  # answers by HTTP status
    gen_cpu: float = 0.0  # fraction of one core during the window
    srv_cpu: float = 0.0  # server process (all threads)
    child_cpu: float = 0.0  # the exec helper process and the actions it ran
    db_cpu: float = 0.0  # the PostgreSQL processes working for the case
    runs_s_load: float = 0.0  # runs finished per second during the window
    backlog: int = 0  # queued + running runs when the load stopped
    drain_s: float | None = None  # runs finished per second while draining the backlog
    drained: bool = True
    idle_rss: float = 0.0
    peak_rss: float = 0.0
    startup_s: float = 0.0
    other_cpu: float = 0.0  # CPU used by processes that are not part of the bench
    steal: float = 0.0  # CPU time the hypervisor took away
    quiet_before: float = 0.0  # other processes' CPU just before the case

    @property
    def notif_s_per_replica(self) -> float:
        return self.notif_s / self.replicas

    @property
    def alerts_s_per_replica(self) -> float:
        return self.alerts_s / self.replicas


@dataclass
class Snapshot:
    """CPU counters and metrics at one moment of a case."""

    t: float
    own: float  # server process, all threads
    children: float  # the processes below it: the exec helper and the actions
    busy: float  # the whole machine
    steal: float
    bench: float  # this process
    metrics: Metrics
    db: dict[int, float]  # PostgreSQL processes' CPU seconds, by pid

    @classmethod
    def take(cls, srv: Replicas) -> Snapshot:
        db = srv.db_cpu_seconds()  # first: it asks PostgreSQL, the slowest read here
        own, children = srv.cpu_seconds()
        busy, steal = machine_cpu()
        metrics = Metrics("") if srv.baseline else srv.metrics()
        return cls(time.monotonic(), own, children, busy, steal, _cpu_seconds(), metrics, db)


def machine_cpu() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine, all CPUs, from /proc/stat."""
    with contextlib.suppress(OSError, ValueError):
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in first[1:9])
        return (user + nice + system + irq + softirq) / CLK_TCK, steal / CLK_TCK
    return 0.0, 0.0


_LOG_ERROR = re.compile(r"level='(?:error|critical)'|^Traceback")  # logfmt, or a crash


def fill_load(res: CaseResult, result: LoadResult) -> None:
    """The client's side of a case: throughput, latency, failures."""
    window = result.window
    res.notif_s = result.ok / window
    res.alerts_s = result.ok_alerts / window
    res.p50_ms = percentile(result.latencies_ms, 0.50)
    res.p99_ms = percentile(result.latencies_ms, 0.99)
    res.non200 = result.non200
    res.errors = result.errors
    res.statuses = {k: v for k, v in result.statuses.items() if k != 200}
    res.gen_cpu = result.cpu_s / window


def fill_cpu(res: CaseResult, s0: Snapshot, s1: Snapshot) -> None:
    """Who used the CPU during the window, as shares of one core; "other" is what is
    left of the machine's busy time, i.e. processes that are not part of the bench."""
    dt = s1.t - s0.t
    res.srv_cpu = (s1.own - s0.own) / dt
    res.child_cpu = (s1.children - s0.children) / dt
    res.db_cpu = db_cpu_between(s0.db, s1.db) / dt
    res.other_cpu = (s1.busy - s0.busy) / dt - res.srv_cpu - res.child_cpu - res.db_cpu
    res.other_cpu -= res.gen_cpu + (s1.bench - s0.bench) / dt
    res.other_cpu = max(0.0, res.other_cpu)  # clock-tick rounding can make it negative
    res.steal = (s1.steal - s0.steal) / dt


class Bench:
    def __init__(self, opts: argparse.Namespace) -> None:
        self.opts = opts
        self.tmp = Path(tempfile.mkdtemp(prefix="alertreflex-bench-"))
        self.servers: list[Server] = []
        self.schemas: list[PgSchema] = []  # created and not dropped yet
        self.kept_schemas: list[str] = []
        self.procs: list[Any] = []
        self.case_no = 0
        self.mp = mp.get_context("spawn")

    # lifecycle

    def cleanup(self) -> None:
        for p in self.procs:
            if p.is_alive():
                p.terminate()
                p.join(5)
        for srv in self.servers:
            srv.stop()
        self.drop_schemas()  # after the servers: their connections would hold locks
        if self.opts.keep:
            print(f"kept {self.tmp}")
            if self.kept_schemas:
                print(f"kept PostgreSQL schemas {', '.join(self.kept_schemas)}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def storage_url(self) -> str:
        if self.opts.storage:
            return str(self.opts.storage).replace("{case}", str(self.case_no))
        return f"sqlite:///{self.tmp / f'case-{self.case_no}.db'}"

    def open_storage(self) -> tuple[str, PgProcesses | None]:
        """The case's --storage URL and, with PostgreSQL, its database processes.

        PostgreSQL gets a fresh, migrated schema per case, as SQLite gets a fresh file.
        """
        url = self.storage_url()
        if not is_postgres(url):
            return url, None
        schema = PgSchema(url)
        self.schemas.append(schema)  # before creating it: Ctrl-C may come meanwhile
        schema.create()
        return schema.dsn, PgProcesses(url, schema.name)

    def drop_schemas(self) -> None:
        """Drop (or with --keep, note) the schemas; one stays listed until it is gone,
        so that a Ctrl-C in the middle leaves it to cleanup()."""
        for schema in list(self.schemas):
            if self.opts.keep:
                self.kept_schemas.append(schema.name)
            else:
                try:
                    schema.drop()
                except Exception as exc:  # whatever it is: report it, clean up the rest
                    print(f"could not drop PostgreSQL schema {schema.name}: {exc}", flush=True)
            self.schemas.remove(schema)

    def log_path(self, replica: int) -> Path:
        if self.opts.replicas == 1:
            return self.tmp / f"server-{self.case_no}.log"
        return self.tmp / f"server-{self.case_no}-replica-{replica + 1}.log"

    @contextlib.contextmanager
    def server(self, reflexes: int, command: Sequence[str]) -> Iterator[Replicas]:
        """The servers of one case: one with SQLite, --replicas with PostgreSQL."""
        self.case_no += 1
        cfg = self.tmp / f"config-{self.case_no}.yml"
        write_config(
            cfg,
            reflexes=reflexes,
            command=command,
            max_concurrent_runs=self.opts.max_concurrent_runs,
            max_queued_runs=self.opts.max_queued_runs,
            no_runs=self.opts.no_runs,
        )
        servers: list[Server] = []
        try:
            storage, db = self.open_storage()
            for replica in range(self.opts.replicas):
                srv = Server(cfg, storage, self.log_path(replica), self.opts.log_level)
                servers.append(srv)
                self.servers.append(srv)
            yield Replicas(servers, db).start()
        finally:
            for srv in servers:
                srv.stop()
                self.servers.remove(srv)
            self.report_log_errors(servers)
            self.drop_schemas()
            if not self.opts.keep:
                for f in self.tmp.glob(f"case-{self.case_no}.db*"):
                    f.unlink()

    @staticmethod
    def report_log_errors(servers: Sequence[Server]) -> None:
        """Errors in the servers' logs, which the figures alone would hide."""
        for srv in servers:
            with contextlib.suppress(OSError):
                lines = srv.log().splitlines()
                bad = [ln for ln in lines if _LOG_ERROR.search(ln)]
                if bad:
                    print(f"  {srv.log_path.name}: {len(bad)} error lines, first: {bad[0][:300]}")

    def wait_quiet(self) -> float:
        """Wait, at most --quiet-wait seconds, until processes other than ours use less
        than a quarter of a core (tests or builds running beside the bench skew every
        figure). Returns their share of a core when we stopped waiting."""
        deadline = time.monotonic() + self.opts.quiet_wait
        while True:
            b0, c0, t0 = machine_cpu()[0], _cpu_seconds(), time.monotonic()
            time.sleep(0.5)
            dt = time.monotonic() - t0
            other = (machine_cpu()[0] - b0 - (_cpu_seconds() - c0)) / dt
            if other < QUIET_CPU or time.monotonic() >= deadline:
                return other

    def start_py_spy(
        self, srvs: Replicas, name: str, reflexes: int
    ) -> list[subprocess.Popen[bytes]]:
        """One py-spy per server (per replica: ``-replica-N`` in the file name)."""
        if not self.opts.py_spy:
            return []
        out = Path(self.opts.py_spy)
        out.mkdir(parents=True, exist_ok=True)
        slug = re.sub(r"[^a-z0-9]+", "-", f"{name} {reflexes} reflexes".lower()).strip("-")
        spy = shutil.which("py-spy", path=f"{BIN.parent}:{os.environ.get('PATH', '')}")
        if spy is None:
            print("  --py-spy: py-spy not found (pip install py-spy)", flush=True)
            return []
        if len(srvs) == 1:
            return [self._py_spy(spy, srvs.servers[0], out / f"{slug}.txt")]
        return [
            self._py_spy(spy, srv, out / f"{slug}-replica-{i + 1}.txt")
            for i, srv in enumerate(srvs.servers)
        ]

    def _py_spy(self, spy: str, srv: Server, output: Path) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(srv.pid),
                "--threads",
                "--rate",
                "100",
                "--duration",
                str(max(1, math.ceil(self.opts.warmup + self.opts.duration))),
                "--format",
                "raw",
                "--output",
                str(output),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    @staticmethod
    def finish_py_spy(spies: list[subprocess.Popen[bytes]]) -> None:
        for spy in spies:
            try:
                spy.wait(15)
            except subprocess.TimeoutExpired:
                spy.terminate()
                spy.wait()

    def idle_rss(self, srv: Replicas) -> float:
        time.sleep(0.5)  # let start-up garbage settle
        return srv.memory_mib()[0]

    # throughput

    def drive(self, srv: Replicas, res: CaseResult) -> tuple[Snapshot, Snapshot, float]:
        """Run the load generator against ``srv``; fill ``res``; (start, end, peak RSS)."""
        o = self.opts
        parent, child = self.mp.Pipe()
        spec = {
            "mode": "load",
            "ports": srv.ports,
            "size": res.size,
            "concurrency": res.concurrency,
            "client": o.client,
        }
        proc = self.mp.Process(target=generator_main, args=(child, spec), daemon=True)
        self.procs.append(proc)
        proc.start()
        if not parent.poll(60) or parent.recv() != "ready":
            raise RuntimeError("load generator did not start")
        start = time.monotonic() + 0.05
        warm_end, end = start + o.warmup, start + o.warmup + o.duration
        parent.send((warm_end, end))
        spies = [] if srv.baseline else self.start_py_spy(srv, res.name, res.reflexes)
        peak = 0.0
        s0: Snapshot | None = None
        s1: Snapshot | None = None
        while not parent.poll(0.05):
            now = time.monotonic()
            peak = max(peak, srv.memory_mib()[0])
            if s0 is None and now >= warm_end:
                s0 = Snapshot.take(srv)
            if s1 is None and now >= end:
                s1 = Snapshot.take(srv)
            if not proc.is_alive():
                break
        result: LoadResult = parent.recv()
        proc.join(10)
        self.procs.remove(proc)
        self.finish_py_spy(spies)
        assert s0 is not None
        if s1 is None:
            s1 = Snapshot.take(srv)
        fill_load(res, result)
        fill_cpu(res, s0, s1)
        return s0, s1, peak

    def baseline_case(self, size: int, concurrency: int) -> CaseResult:
        """The floor: one bare aiohttp process, whatever --replicas says."""
        res = CaseResult(f"{size:>2} alert x c{concurrency:<2}", size, concurrency, 0)
        res.quiet_before = self.wait_quiet()
        self.case_no += 1
        srv = Server(Path(), "", self.tmp / f"baseline-{self.case_no}.log", "", baseline=True)
        self.servers.append(srv)
        try:
            one = Replicas([srv]).start(30)
            res.startup_s = one.startup_s
            res.idle_rss = self.idle_rss(one)
            _s0, _s1, peak = self.drive(one, res)
            res.peak_rss = max(peak, *one.memory_mib())
        finally:
            srv.stop()
            self.servers.remove(srv)
        return res

    def load_case(self, size: int, concurrency: int, reflexes: int) -> CaseResult:
        o = self.opts
        res = CaseResult(
            f"{size:>2} alert x c{concurrency:<2}", size, concurrency, reflexes, o.replicas
        )
        res.quiet_before = self.wait_quiet()
        with self.server(reflexes, ["true"]) as srv:
            res.startup_s = srv.startup_s
            res.idle_rss = self.idle_rss(srv)
            s0, s1, peak = self.drive(srv, res)
            m0, m1 = s0.metrics, s1.metrics
            window = s1.t - s0.t
            server_hist = bucket_diff(
                m1.buckets("alertreflex_webhook_duration_seconds"),
                m0.buckets("alertreflex_webhook_duration_seconds"),
            )
            sp99 = histogram_quantile(0.99, server_hist)
            res.server_p99_ms = None if sp99 is None else sp99 * 1000
            res.runs_s_load = (
                m1.sum("alertreflex_runs_total") - m0.sum("alertreflex_runs_total")
            ) / window
            # Drain: how fast the backlog left by the load is worked off, load stopped.
            m = srv.metrics()
            t0, done0 = time.monotonic(), m.sum("alertreflex_runs_total")
            res.backlog = int(m.sum("alertreflex_queued_runs") + m.sum("alertreflex_running_runs"))
            if res.backlog > 0:
                deadline = t0 + o.drain_time
                left = res.backlog
                while left > 0 and time.monotonic() < deadline:
                    time.sleep(0.1)
                    peak = max(peak, srv.memory_mib()[0])
                    m = srv.metrics()
                    left = int(m.sum("alertreflex_queued_runs") + m.sum("alertreflex_running_runs"))
                elapsed = time.monotonic() - t0
                res.drain_s = (m.sum("alertreflex_runs_total") - done0) / elapsed
                res.drained = left == 0
            rss, hwm = srv.memory_mib()
            res.peak_rss = max(peak, rss, hwm)
        return res

    # latency at low load

    def latency_case(self) -> dict[str, Any]:
        """Alert to action start at low load. With replicas, the single connection goes
        to the first one (round robin per connection), and it holds the runs."""
        o = self.opts
        out: dict[str, Any] = {"quiet_before": self.wait_quiet()}
        with self.server(o.reflexes, ["date", "+%s.%N"]) as srv:
            s0 = Snapshot.take(srv)
            m0 = s0.metrics
            parent, child = self.mp.Pipe()
            spec = {
                "mode": "paced",
                "port": srv.ports[0],
                "count": o.latency_count,
                "interval": o.latency_interval,
            }
            proc = self.mp.Process(target=generator_main, args=(child, spec), daemon=True)
            self.procs.append(proc)
            proc.start()
            if not parent.poll(o.latency_count * o.latency_interval + 60):
                raise RuntimeError("paced generator did not finish")
            result: LoadResult = parent.recv()
            s1 = Snapshot.take(srv)
            proc.join(10)
            self.procs.remove(proc)
            dt = s1.t - s0.t
            db = db_cpu_between(s0.db, s1.db)
            ours = s1.own - s0.own + s1.children - s0.children + s1.bench - s0.bench + db
            out["other_cpu"] = (s1.busy - s0.busy - ours) / dt  # the generator is in it
            out["db_cpu"] = db / dt
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                m1 = srv.metrics()
                if m1.sum("alertreflex_runs_total") - m0.sum("alertreflex_runs_total") >= result.ok:
                    break
                time.sleep(0.1)
            hist = bucket_diff(
                m1.buckets("alertreflex_action_start_delay_seconds"),
                m0.buckets("alertreflex_action_start_delay_seconds"),
            )
            q50, q99 = histogram_quantile(0.5, hist), histogram_quantile(0.99, hist)
            out["server_p50_ms"] = None if q50 is None else q50 * 1000
            out["server_p99_ms"] = None if q99 is None else q99 * 1000
            out["ack_p50_ms"] = percentile([s[2] for s in result.sent], 0.5)
            out["ack_p99_ms"] = percentile([s[2] for s in result.sent], 0.99)
            sent = {seq: t for seq, t, _ack in result.sent}
            delays, spawn = self._action_starts(srv, sent)
            out["count"] = len(delays)
            out["sent"] = result.ok
            out["non200"] = result.non200
            out["p50_ms"] = percentile(delays, 0.5)
            out["p99_ms"] = percentile(delays, 0.99)
            out["spawn_p50_ms"] = percentile(spawn, 0.5)
        return out

    def _action_starts(
        self, srv: Replicas, sent: dict[str, float]
    ) -> tuple[list[float], list[float]]:
        """(send-to-``date`` ms, step-start-to-``date`` ms) per run, from the API."""
        status, body = http_get(f"{srv.url}/api/v1/runs?limit=1000")
        ids = [r["id"] for r in json.loads(body)["runs"]] if status == 200 else []
        delays, spawn = [], []
        for run_id in ids:
            status, body = http_get(f"{srv.url}/api/v1/runs/{run_id}")
            if status != 200:
                continue
            run = json.loads(body)
            seq = run["alert"]["labels"].get("seq")
            steps = run.get("steps") or []
            if seq not in sent or not steps or not steps[0].get("output"):
                continue
            ran_at = float(steps[0]["output"].split()[0])
            delays.append((ran_at - sent[seq]) * 1000)
            spawn.append((ran_at - steps[0]["started_at"]) * 1000)
        return delays, spawn


# --- report -------------------------------------------------------------------------


def fmt(v: float | None, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


Column = tuple[str, str, Callable[[CaseResult], str]]  # heading, alignment, cell


def columns(*, db: bool, replicas: int) -> list[Column]:
    """The table's columns. PostgreSQL adds the database's CPU, several replicas add
    the throughput per replica; the SQLite table stays as it always was."""
    per_replica: list[Column] = [
        ("notif/s/r", ">9", lambda c: f"{c.notif_s_per_replica:.0f}"),
        ("alerts/s/r", ">10", lambda c: f"{c.alerts_s_per_replica:.0f}"),
    ]
    db_cpu: list[Column] = [("db cpu", ">6", lambda c: f"{c.db_cpu:.0%}")]
    return [
        ("case", "<14", lambda c: c.name),
        ("reflexes", ">8", lambda c: str(c.reflexes)),
        ("notif/s", ">8", lambda c: f"{c.notif_s:.0f}"),
        ("alerts/s", ">9", lambda c: f"{c.alerts_s:.0f}"),
        *(per_replica if replicas > 1 else []),
        ("p50 ms", ">7", lambda c: fmt(c.p50_ms)),
        ("p99 ms", ">7", lambda c: fmt(c.p99_ms)),
        ("srv p99", ">7", lambda c: fmt(c.server_p99_ms)),
        ("non200", ">6", lambda c: str(c.non200 + c.errors)),
        ("srv cpu", ">7", lambda c: f"{c.srv_cpu:.0%}"),
        ("exec cpu", ">8", lambda c: f"{c.child_cpu:.0%}"),
        *(db_cpu if db else []),
        ("gen cpu", ">7", lambda c: f"{c.gen_cpu:.0%}"),
        ("other", ">6", lambda c: f"{c.other_cpu:.0%}"),
        ("runs/s", ">7", lambda c: f"{c.runs_s_load:.0f}"),
        ("backlog", ">8", lambda c: str(c.backlog)),
        ("drain/s", ">8", lambda c: fmt(c.drain_s, ".0f") + ("" if c.drained else "+")),
        ("idle MiB", ">8", lambda c: f"{c.idle_rss:.1f}"),
        ("peak MiB", ">8", lambda c: f"{c.peak_rss:.1f}"),
    ]


def print_cases(
    title: str, cases: list[CaseResult], *, db: bool = False, replicas: int = 1
) -> None:
    print(f"\n{title}")
    cols = columns(db=db, replicas=replicas)
    head = " ".join(format(heading, align) for heading, align, _cell in cols)
    print(head)
    print("-" * len(head))
    for c in cases:
        print(" ".join(format(cell(c), align) for _heading, align, cell in cols))
    busy = [c.name.strip() for c in cases if c.other_cpu >= QUIET_CPU]
    if busy:
        print(
            f"  WARNING: other processes used >= {QUIET_CPU:.0%} of a core during: "
            f"{', '.join(busy)}; those figures are low."
        )
    sys.stdout.flush()


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("ok" if ok else "MISSED")


def replicas_problem(replicas: int, storage: str | None) -> str | None:
    if replicas < 1:
        return f"--replicas {replicas}: at least 1"
    if replicas > 1 and not is_postgres(storage):
        return (
            f"--replicas {replicas} needs --storage postgresql://...: an SQLite file "
            "belongs to one alertreflex process, replicas share a PostgreSQL database"
        )
    return None


Row = tuple[str, str, str, bool | None]  # measure, target, measured, verdict


def per_replica_rows(one: CaseResult | None, fifty: CaseResult | None) -> list[Row]:
    """Issue 6's aim on PostgreSQL: per replica, at least half of what SQLite does,
    here half of the targets SQLite is held to (compare with a SQLite run of the
    same machine for the measured ratio)."""
    rows: list[Row] = []
    for case, target, what in (
        (one, TARGET_NOTIF_S, "1-alert notifications/s"),
        (fifty, TARGET_ALERTS_S, "alerts/s, 50-alert payloads"),
    ):
        if case is None:
            continue
        value = case.notif_s_per_replica if case.size == 1 else case.alerts_s_per_replica
        rows.append(
            (
                f"{what} per replica (sum/{case.replicas}), c{case.concurrency}",
                f">= {target * TARGET_PG_SHARE:,.0f}",
                f"{value:,.0f}",
                value >= target * TARGET_PG_SHARE,
            )
        )
    return rows


def progress(c: CaseResult) -> None:
    """One line as a case ends, so that a long run shows where it is."""
    line = f"  {c.name}: {c.notif_s:.0f} notif/s, {c.alerts_s:.0f} alerts/s"
    if c.replicas > 1:
        line += (
            f" ({c.notif_s_per_replica:.0f} and {c.alerts_s_per_replica:.0f} "
            f"per replica of {c.replicas})"
        )
    line += f", p99 {fmt(c.p99_ms)} ms"
    trouble = [f"{n} answers {status}" for status, n in sorted(c.statuses.items())]
    if c.errors:
        trouble.append(f"{c.errors} connections lost")
    if trouble:
        line += "; " + ", ".join(trouble)
    print(line, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a ~1-minute run (fewer, shorter cases)")
    p.add_argument("--duration", type=float, default=5.0, help="measured seconds per case (5)")
    p.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first (1)")
    p.add_argument("--concurrency", default="1,4,16,64", help="connections per case (1,4,16,64)")
    p.add_argument("--sizes", default="1,50", help="alerts per notification (1,50)")
    p.add_argument("--reflexes", type=int, default=10, help="reflexes in the config (10)")
    p.add_argument(
        "--no-runs",
        action="store_true",
        help="no reflex matches: measure intake alone (validate, match, store, acknowledge)",
    )
    p.add_argument(
        "--big-reflexes",
        type=int,
        default=10_000,
        help="reflex count for the matching-cost comparison at concurrency 16 (10000; 0: skip)",
    )
    p.add_argument("--max-concurrent-runs", type=int, default=64)
    p.add_argument("--max-queued-runs", type=int, default=1_000_000)
    p.add_argument(
        "--drain-time", type=float, default=6.0, help="longest wait for the run backlog (6)"
    )
    p.add_argument("--latency-count", type=int, default=200, help="paced notifications (200)")
    p.add_argument("--latency-interval", type=float, default=0.02, help="seconds between (0.02)")
    p.add_argument(
        "--storage",
        metavar="URL",
        help="the server's --storage; '{case}' in it is replaced by the case number "
        "(default: a fresh temporary SQLite file per case); with postgresql://USER@HOST/DB "
        "each case gets a fresh schema there, migrated, dropped afterwards",
    )
    p.add_argument(
        "--replicas",
        type=int,
        default=1,
        metavar="N",
        help="alertreflex servers per case sharing the --storage, which must then be "
        "postgresql://...; the load is spread over them, one connection each in turn (1)",
    )
    p.add_argument(
        "--client",
        choices=["raw", "aiohttp"],
        default="raw",
        help="load generator HTTP client: hand-written HTTP/1.1 (raw, cheap) or aiohttp",
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=5.0,
        help="before each case, wait up to this long for other processes to go quiet (5)",
    )
    p.add_argument(
        "--py-spy",
        metavar="DIR",
        help="record the server with py-spy during each load case into DIR (raw format)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the floor: a bare aiohttp app (read, orjson.loads, answer) under the same load",
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    o = p.parse_args(argv)
    if o.quick:
        o.duration, o.warmup, o.drain_time = 2.0, 0.5, 3.0
        o.concurrency, o.latency_count = "1,16", 100
    concurrencies = [int(c) for c in o.concurrency.split(",")]
    sizes = [int(s) for s in o.sizes.split(",")]
    if not BIN.exists():
        print(f"{BIN} not found: install alertreflex into this interpreter's environment")
        return 2
    if problem := replicas_problem(o.replicas, o.storage):
        p.error(problem)
    pg = is_postgres(o.storage)

    def on_term(_sig: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored
    bench = Bench(o)
    t_start = time.monotonic()
    print(
        f"alertreflex ingest bench: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"client={o.client}, {o.warmup:g}s warm-up + {o.duration:g}s per case, "
        f"max_concurrent_runs={o.max_concurrent_runs}, storage={o.storage or 'temp SQLite'}, "
        f"log level {o.log_level}",
        flush=True,
    )
    if pg:
        print(
            f"  PostgreSQL: a fresh schema per case; {o.replicas} replica(s) per case, "
            "connections spread round robin; srv cpu, exec cpu and MiB summed over them",
            flush=True,
        )
    cases: list[CaseResult] = []
    big: list[CaseResult] = []
    floor: list[CaseResult] = []
    latency: dict[str, Any] = {}
    try:
        if not o.no_baseline:
            for size in sizes if not o.quick else sizes[:1]:
                c = bench.baseline_case(size, TARGET_CONCURRENCY)
                floor.append(c)
                print(
                    f"  floor {c.name}: {c.notif_s:.0f} notif/s, generator {c.gen_cpu:.0%} "
                    "of a core",
                    flush=True,
                )
        for size in sizes:
            for conc in concurrencies:
                c = bench.load_case(size, conc, o.reflexes)
                cases.append(c)
                progress(c)
        if o.big_reflexes:
            for size in sizes if not o.quick else sizes[:1]:
                c = bench.load_case(size, TARGET_CONCURRENCY, o.big_reflexes)
                big.append(c)
                print(
                    f"  {c.name} with {o.big_reflexes} reflexes: {c.notif_s:.0f} notif/s, "
                    f"startup {c.startup_s:.1f}s",
                    flush=True,
                )
        latency = bench.latency_case()
    except KeyboardInterrupt:
        print("\ninterrupted: stopping the server and cleaning up", flush=True)
        bench.cleanup()
        return 130
    bench.cleanup()

    what = "none matching" if o.no_runs else "exec: [true]"
    print_cases(
        f"Throughput ({o.reflexes} reflexes, {what}, fresh server per case)",
        cases,
        db=pg,
        replicas=o.replicas,
    )
    print(
        "  p50/p99: client-measured ack latency; srv p99: the server's own "
        "alertreflex_webhook_duration_seconds;\n  non200 includes connection errors; cpu as "
        "a share of one core; runs/s: runs finished during the load window;\n  backlog: "
        "queued+running runs when the load stopped; drain/s: runs finished per second "
        f"afterwards ('+': not empty after {o.drain_time:g}s)."
    )
    if pg:
        print(
            f"  PostgreSQL, {o.replicas} replica(s): every figure is the sum over the "
            "replicas (srv p99 from their merged histograms);\n  notif/s/r, alerts/s/r: "
            "the sum / replicas; db cpu: this case's PostgreSQL backends and the\n  "
            "server's background processes (WAL writer, checkpointer...), not in 'other'."
        )
    if big:
        print_cases(f"Matching cost ({o.big_reflexes} reflexes)", big, db=pg, replicas=o.replicas)
    if floor:
        print_cases(
            "Floor: a bare aiohttp app (read the body, orjson.loads, answer), same generator",
            floor,
        )
    print("\nAlert-to-action start at low load", end=" ")
    print(f"({o.latency_count} 1-alert notifications, one every {o.latency_interval * 1000:g} ms)")
    print(
        "  independent (send -> `date +%s.%N` in the step): p50 "
        f"{fmt(latency.get('p50_ms'), '.2f')}"
        f" ms, p99 {fmt(latency.get('p99_ms'), '.2f')} ms over {latency.get('count')} runs"
        f" ({latency.get('non200')} non-200; other processes used "
        f"{latency.get('other_cpu', 0.0):.0%} of a core meanwhile, generator included"
        + (f"; PostgreSQL {latency.get('db_cpu', 0.0):.0%})" if pg else ")")
    )
    print(
        f"  server histogram alertreflex_action_start_delay_seconds: p50 "
        f"{fmt(latency.get('server_p50_ms'), '.2f')} ms, p99 "
        f"{fmt(latency.get('server_p99_ms'), '.2f')} ms (bucket-interpolated)"
    )
    print(
        f"  of which step start -> `date` running (spawn+exec): p50 "
        f"{fmt(latency.get('spawn_p50_ms'), '.2f')} ms; ack at this load: p50 "
        f"{fmt(latency.get('ack_p50_ms'), '.2f')} ms, "
        f"p99 {fmt(latency.get('ack_p99_ms'), '.2f')} ms"
    )

    def find(size: int, conc: int, among: list[CaseResult]) -> CaseResult | None:
        return next((c for c in among if c.size == size and c.concurrency == conc), None)

    one = find(1, TARGET_CONCURRENCY, cases)
    fifty = find(50, TARGET_CONCURRENCY, cases)
    idle = sorted(c.idle_rss for c in cases)
    idle_rss = idle[len(idle) // 2] if idle else None
    peak_rss = max((c.peak_rss for c in cases + big), default=None)
    rows: list[Row] = []
    rows.append(
        (
            f"1-alert notifications/s, c{TARGET_CONCURRENCY}",
            f">= {TARGET_NOTIF_S:,.0f}",
            fmt(one.notif_s if one else None, ",.0f"),
            None if one is None else one.notif_s >= TARGET_NOTIF_S,
        )
    )
    rows.append(
        (
            f"alerts/s with 50-alert payloads, c{TARGET_CONCURRENCY}",
            f">= {TARGET_ALERTS_S:,.0f}",
            fmt(fifty.alerts_s if fifty else None, ",.0f"),
            None if fifty is None else fifty.alerts_s >= TARGET_ALERTS_S,
        )
    )
    for case in (one, fifty):
        if case is not None:
            rows.append(
                (
                    f"p99 ack, {case.size}-alert c{case.concurrency}",
                    f"< {TARGET_P99_MS:g} ms",
                    fmt(case.p99_ms, ".1f") + " ms",
                    None if case.p99_ms is None else case.p99_ms < TARGET_P99_MS,
                )
            )
    worst = max((c.p99_ms or 0.0 for c in cases), default=None)
    rows.append(("p99 ack, worst case above", f"< {TARGET_P99_MS:g} ms", fmt(worst) + " ms", None))
    a50 = latency.get("p50_ms")
    rows.append(
        (
            "alert-to-action start p50 (independent)",
            f"< {TARGET_ACTION_P50_MS:g} ms",
            fmt(a50, ".2f") + " ms",
            None if a50 is None else a50 < TARGET_ACTION_P50_MS,
        )
    )
    s50 = latency.get("server_p50_ms")
    rows.append(
        (
            "alert-to-action start p50 (server histogram)",
            f"< {TARGET_ACTION_P50_MS:g} ms",
            fmt(s50, ".2f") + " ms",
            None if s50 is None else s50 < TARGET_ACTION_P50_MS,
        )
    )
    if pg:
        rows += per_replica_rows(one, fifty)
    # The RSS target is a process's: with replicas, the summed figures per replica.
    per = "" if o.replicas == 1 else ", per replica"
    idle_rss = None if idle_rss is None else idle_rss / o.replicas
    rows.append(
        (
            f"idle RSS ({o.reflexes} reflexes, median of cases{per})",
            f"< {TARGET_IDLE_RSS_MIB:g} MiB",
            fmt(idle_rss) + " MiB",
            None if idle_rss is None else idle_rss < TARGET_IDLE_RSS_MIB,
        )
    )
    if big:
        rows.append(
            (
                f"idle RSS ({o.big_reflexes} reflexes{per})",
                "(info)",
                fmt(big[0].idle_rss / o.replicas) + " MiB",
                None,
            )
        )
    summed = "" if o.replicas == 1 else f" ({o.replicas} replicas summed)"
    rows.append((f"peak RSS, all cases{summed}", "(info)", fmt(peak_rss) + " MiB", None))
    startups = sorted(c.startup_s for c in cases)
    if startups:
        rows.append(
            (
                f"start-up to ready, {o.reflexes} reflexes (median)",
                "(info)",
                f"{startups[len(startups) // 2]:.1f} s",
                None,
            )
        )
    if big:
        rows.append(
            (
                f"start-up to ready, {o.big_reflexes} reflexes",
                "(info)",
                f"{big[0].startup_s:.1f} s",
                None,
            )
        )
    for b in big:
        base = find(b.size, b.concurrency, cases)
        if base is None or base.alerts_s == 0:
            continue
        ratio = b.alerts_s / base.alerts_s
        rows.append(
            (
                f"{o.big_reflexes} vs {o.reflexes} reflexes, {b.size}-alert c{b.concurrency}",
                f">= {TARGET_REFLEX_RATIO:.0%}",
                f"{ratio:.1%}",
                ratio >= TARGET_REFLEX_RATIO,
            )
        )
    for f in floor:
        base = find(f.size, f.concurrency, cases)
        if base is not None and f.notif_s:
            rows.append(
                (
                    f"{f.size}-alert c{f.concurrency}: alertreflex / bare aiohttp",
                    "(info)",
                    f"{base.notif_s / f.notif_s:.0%}",
                    None,
                )
            )
    drains = [c.drain_s for c in cases if c.drain_s is not None]
    rows.append(
        (
            "runs completed/s draining a backlog (best)",
            "(info)",
            fmt(max(drains) if drains else None, ",.0f"),
            None,
        )
    )
    print("\nSummary against the targets")
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'target':>11}  {'measured':>12}  verdict")
    print("-" * (width + 38))
    for label, target, measured, ok in rows:
        print(f"{label:<{width}}  {target:>11}  {measured:>12}  {verdict(ok)}")
    if o.py_spy:
        print(f"\npy-spy profiles (raw, one per case) in {o.py_spy}")
    print(f"\ntotal bench time {time.monotonic() - t_start:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
