"""Ingest benchmark: the real ``alertreflex serve`` process under webhook load.

Prints figures and asserts nothing. See bench/README.md for what is measured and how.

    .venv/bin/python bench/ingest.py            # about 4-5 minutes
    .venv/bin/python bench/ingest.py --quick    # about 1 minute

Everything runs on loopback: a fresh server (fresh SQLite file) per case, a load
generator in a separate process (so that its CPU time is measured apart from the
server's), and this process, which orchestrates, samples the server's RSS and CPU and
scrapes ``/metrics``. The server is stopped with SIGTERM and the temporary files are
removed at the end, Ctrl-C included.
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

    def __init__(self, size: int, port: int, prefix: int | None = None) -> None:
        self.size = size
        self.seq = 0
        self.prefix = random.getrandbits(24) if prefix is None else prefix
        self._base = int(time.time()) - 3600
        self._second = -1
        self._second_text = b""
        self._head = b"POST /webhook HTTP/1.1\r\nHost: %s:%d\r\n" % (HOST.encode(), port)
        self._head += b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"

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

    def request(self) -> bytes:
        body, _ = self.body()
        return self._head % len(body) + body


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

    def __init__(self, on_response: Callable[[_RawConn, int, float], None]) -> None:
        self._on_response = on_response
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


class RawLoad:
    """Closed-loop load on N connections with hand-written HTTP/1.1 (cheap on CPU)."""

    def __init__(self, port: int, payloads: Payloads, concurrency: int) -> None:
        self.port = port
        self.payloads = payloads
        self.concurrency = concurrency
        self.result = LoadResult()
        self.warm_end = math.inf
        self.end = math.inf
        self._conns: list[_RawConn] = []
        self._active = 0
        self._done: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Future[None]] = set()

    async def _connect(self) -> _RawConn:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(lambda: _RawConn(self._response), HOST, self.port)
        sock = conn.transport.get_extra_info("socket") if conn.transport else None
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.lost.add_done_callback(functools.partial(self._lost, conn))
        return conn

    async def prepare(self) -> None:
        self._done = asyncio.get_running_loop().create_future()
        self._conns = [await self._connect() for _ in range(self.concurrency)]

    def _send(self, conn: _RawConn) -> None:
        conn.send(self.payloads.request(), self.payloads.size)

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
            task = asyncio.ensure_future(self._replace())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self._active -= 1
            if self._active == 0 and self._done is not None and not self._done.done():
                self._done.set_result(None)

    async def _replace(self) -> None:
        try:
            conn = await self._connect()
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

    def __init__(self, port: int, payloads: Payloads, concurrency: int) -> None:
        self.url = f"http://{HOST}:{port}/webhook"
        self.payloads = payloads
        self.concurrency = concurrency
        self.result = LoadResult()
        self._session: Any = None

    async def prepare(self) -> None:
        import aiohttp  # only this mode needs it

        connector = aiohttp.TCPConnector(limit=self.concurrency, force_close=False)
        self._session = aiohttp.ClientSession(connector=connector)

    async def _worker(self, warm_end: float, end: float) -> None:
        r = self.result
        headers = {"Content-Type": "application/json"}
        while (t0 := time.monotonic()) < end:
            body, seqs = self.payloads.body()
            try:
                async with self._session.post(self.url, data=body, headers=headers) as resp:
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
        workers = [
            asyncio.ensure_future(self._worker(warm_end, end)) for _ in range(self.concurrency)
        ]
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
    payloads = Payloads(1, port)
    result = LoadResult()
    loop = asyncio.get_running_loop()
    waiter: list[asyncio.Future[int]] = []

    def on_response(_conn: _RawConn, status: int, _t1: float) -> None:
        waiter[0].set_result(status)

    _, conn = await loop.create_connection(lambda: _RawConn(on_response), HOST, port)
    start = time.monotonic()
    for k in range(count):
        await _sleep_until(start + k * interval)
        body, seqs = payloads.body()
        request = payloads._head % len(body) + body
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
        payloads = Payloads(spec["size"], spec["port"])
        cls = RawLoad if spec["client"] == "raw" else AiohttpLoad
        load = cls(spec["port"], payloads, spec["concurrency"])
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
) -> None:
    """One reflex that matches every bench alert, and ``reflexes - 1`` that never do.

    With ``no_runs`` the first reflex belongs to another team, so nothing matches:
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
        "    match: ['alertname = \"BenchAlert\"', 'severity =~ \"warning|critical\"']",
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
        t0 = time.monotonic()
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
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
        """(own, reaped children's) CPU seconds: utime+stime, cutime+cstime."""
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            own = (int(fields[11]) + int(fields[12])) / CLK_TCK
            children = (int(fields[13]) + int(fields[14])) / CLK_TCK
            return own, children
        return 0.0, 0.0

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

    def sum(self, name: str) -> float:
        return sum(v for n, _labels, v in self.samples if n == name)

    def buckets(self, name: str) -> list[tuple[float, float]]:
        """Cumulative (le, count) of a histogram without other labels."""
        out = []
        for n, labels, v in self.samples:
            if n == f"{name}_bucket" and (m := re.search(r'le="([^"]+)"', labels)):
                out.append((float(m.group(1)), v))
        return sorted(out)


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
    notif_s: float = 0.0
    alerts_s: float = 0.0
    p50_ms: float | None = None
    p99_ms: float | None = None
    server_p99_ms: float | None = None
    non200: int = 0
    errors: int = 0
    gen_cpu: float = 0.0  # fraction of one core during the window
    srv_cpu: float = 0.0  # server process (all threads)
    child_cpu: float = 0.0  # reaped exec children
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


@dataclass
class Snapshot:
    """CPU counters and metrics at one moment of a case."""

    t: float
    own: float  # server process, all threads
    children: float  # its reaped children (exec actions)
    busy: float  # the whole machine
    steal: float
    bench: float  # this process
    metrics: Metrics

    @classmethod
    def take(cls, srv: Server) -> Snapshot:
        own, children = srv.cpu_seconds()
        busy, steal = machine_cpu()
        metrics = Metrics("") if srv.baseline else srv.metrics()
        return cls(time.monotonic(), own, children, busy, steal, _cpu_seconds(), metrics)


def machine_cpu() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine, all CPUs, from /proc/stat."""
    with contextlib.suppress(OSError, ValueError):
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in first[1:9])
        return (user + nice + system + irq + softirq) / CLK_TCK, steal / CLK_TCK
    return 0.0, 0.0


class Bench:
    def __init__(self, opts: argparse.Namespace) -> None:
        self.opts = opts
        self.tmp = Path(tempfile.mkdtemp(prefix="alertreflex-bench-"))
        self.servers: list[Server] = []
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
        if self.opts.keep:
            print(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def storage_url(self) -> str:
        if self.opts.storage:
            return str(self.opts.storage).replace("{case}", str(self.case_no))
        return f"sqlite:///{self.tmp / f'case-{self.case_no}.db'}"

    @contextlib.contextmanager
    def server(self, reflexes: int, command: Sequence[str]) -> Iterator[Server]:
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
        srv = Server(
            cfg, self.storage_url(), self.tmp / f"server-{self.case_no}.log", self.opts.log_level
        )
        self.servers.append(srv)
        try:
            yield srv.start()
        finally:
            srv.stop()
            self.servers.remove(srv)
            if not self.opts.keep:
                for f in self.tmp.glob(f"case-{self.case_no}.db*"):
                    f.unlink()

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

    def start_py_spy(self, srv: Server, name: str, reflexes: int) -> subprocess.Popen[bytes] | None:
        if not self.opts.py_spy:
            return None
        out = Path(self.opts.py_spy)
        out.mkdir(parents=True, exist_ok=True)
        slug = re.sub(r"[^a-z0-9]+", "-", f"{name} {reflexes} reflexes".lower()).strip("-")
        spy = shutil.which("py-spy", path=f"{BIN.parent}:{os.environ.get('PATH', '')}")
        if spy is None:
            print("  --py-spy: py-spy not found (pip install py-spy)", flush=True)
            return None
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
                str(out / f"{slug}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    @staticmethod
    def finish_py_spy(spy: subprocess.Popen[bytes] | None) -> None:
        if spy is not None:
            try:
                spy.wait(15)
            except subprocess.TimeoutExpired:
                spy.terminate()
                spy.wait()

    def idle_rss(self, srv: Server) -> float:
        time.sleep(0.5)  # let start-up garbage settle
        return srv.memory_mib()[0]

    # throughput

    def drive(self, srv: Server, res: CaseResult) -> tuple[Snapshot, Snapshot, float]:
        """Run the load generator against ``srv``; fill ``res``; (start, end, peak RSS)."""
        o = self.opts
        parent, child = self.mp.Pipe()
        spec = {
            "mode": "load",
            "port": srv.port,
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
        spy = None if srv.baseline else self.start_py_spy(srv, res.name, res.reflexes)
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
        self.finish_py_spy(spy)
        assert s0 is not None
        if s1 is None:
            s1 = Snapshot.take(srv)
        window = result.window
        res.notif_s = result.ok / window
        res.alerts_s = result.ok_alerts / window
        res.p50_ms = percentile(result.latencies_ms, 0.50)
        res.p99_ms = percentile(result.latencies_ms, 0.99)
        res.non200 = result.non200
        res.errors = result.errors
        res.gen_cpu = result.cpu_s / window
        dt = s1.t - s0.t
        res.srv_cpu = (s1.own - s0.own) / dt
        res.child_cpu = (s1.children - s0.children) / dt
        res.other_cpu = (s1.busy - s0.busy) / dt - res.srv_cpu - res.child_cpu
        res.other_cpu -= res.gen_cpu + (s1.bench - s0.bench) / dt
        res.other_cpu = max(0.0, res.other_cpu)  # clock-tick rounding can make it negative
        res.steal = (s1.steal - s0.steal) / dt
        return s0, s1, peak

    def baseline_case(self, size: int, concurrency: int) -> CaseResult:
        res = CaseResult(f"{size:>2} alert x c{concurrency:<2}", size, concurrency, 0)
        res.quiet_before = self.wait_quiet()
        self.case_no += 1
        srv = Server(Path(), "", self.tmp / f"baseline-{self.case_no}.log", "", baseline=True)
        self.servers.append(srv)
        try:
            srv.start(30)
            res.startup_s = srv.startup_s
            res.idle_rss = self.idle_rss(srv)
            _s0, _s1, peak = self.drive(srv, res)
            res.peak_rss = max(peak, *srv.memory_mib())
        finally:
            srv.stop()
            self.servers.remove(srv)
        return res

    def load_case(self, size: int, concurrency: int, reflexes: int) -> CaseResult:
        o = self.opts
        res = CaseResult(f"{size:>2} alert x c{concurrency:<2}", size, concurrency, reflexes)
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
        o = self.opts
        out: dict[str, Any] = {"quiet_before": self.wait_quiet()}
        with self.server(o.reflexes, ["date", "+%s.%N"]) as srv:
            s0 = Snapshot.take(srv)
            m0 = s0.metrics
            parent, child = self.mp.Pipe()
            spec = {
                "mode": "paced",
                "port": srv.port,
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
            ours = s1.own - s0.own + s1.children - s0.children + s1.bench - s0.bench
            out["other_cpu"] = (s1.busy - s0.busy - ours) / dt  # the generator is in it
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
        self, srv: Server, sent: dict[str, float]
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


def print_cases(title: str, cases: list[CaseResult]) -> None:
    print(f"\n{title}")
    head = (
        f"{'case':<14} {'reflexes':>8} {'notif/s':>8} {'alerts/s':>9} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'srv p99':>7} {'non200':>6} {'srv cpu':>7} {'exec cpu':>8} "
        f"{'gen cpu':>7} {'other':>6} {'runs/s':>7} {'backlog':>8} {'drain/s':>8} "
        f"{'idle MiB':>8} {'peak MiB':>8}"
    )
    print(head)
    print("-" * len(head))
    for c in cases:
        drain = fmt(c.drain_s, ".0f") + ("" if c.drained else "+")
        print(
            f"{c.name:<14} {c.reflexes:>8} {c.notif_s:>8.0f} {c.alerts_s:>9.0f} "
            f"{fmt(c.p50_ms):>7} {fmt(c.p99_ms):>7} {fmt(c.server_p99_ms):>7} "
            f"{c.non200 + c.errors:>6} {c.srv_cpu:>7.0%} {c.child_cpu:>8.0%} {c.gen_cpu:>7.0%} "
            f"{c.other_cpu:>6.0%} {c.runs_s_load:>7.0f} {c.backlog:>8} {drain:>8} "
            f"{c.idle_rss:>8.1f} {c.peak_rss:>8.1f}"
        )
    busy = [c.name.strip() for c in cases if c.other_cpu >= QUIET_CPU]
    if busy:
        print(
            f"  WARNING: other processes used >= {QUIET_CPU:.0%} of a core during: "
            f"{', '.join(busy)}; those figures are low."
        )
    sys.stdout.flush()


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("ok" if ok else "MISSED")


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
        "(default: a fresh temporary SQLite file per case)",
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
                print(
                    f"  {c.name}: {c.notif_s:.0f} notif/s, {c.alerts_s:.0f} alerts/s, "
                    f"p99 {fmt(c.p99_ms)} ms",
                    flush=True,
                )
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
    print_cases(f"Throughput ({o.reflexes} reflexes, {what}, fresh server per case)", cases)
    print(
        "  p50/p99: client-measured ack latency; srv p99: the server's own "
        "alertreflex_webhook_duration_seconds;\n  non200 includes connection errors; cpu as "
        "a share of one core; runs/s: runs finished during the load window;\n  backlog: "
        "queued+running runs when the load stopped; drain/s: runs finished per second "
        f"afterwards ('+': not empty after {o.drain_time:g}s)."
    )
    if big:
        print_cases(f"Matching cost ({o.big_reflexes} reflexes)", big)
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
        f"{latency.get('other_cpu', 0.0):.0%} of a core meanwhile, generator included)"
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
    rows: list[tuple[str, str, str, bool | None]] = []
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
    rows.append(
        (
            f"idle RSS ({o.reflexes} reflexes, median of cases)",
            f"< {TARGET_IDLE_RSS_MIB:g} MiB",
            fmt(idle_rss) + " MiB",
            None if idle_rss is None else idle_rss < TARGET_IDLE_RSS_MIB,
        )
    )
    if big:
        rows.append(
            (
                f"idle RSS ({o.big_reflexes} reflexes)",
                "(info)",
                fmt(big[0].idle_rss) + " MiB",
                None,
            )
        )
    rows.append(("peak RSS, all cases", "(info)", fmt(peak_rss) + " MiB", None))
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
