"""Slowloris benchmark: valid webhooks while thousands of clients send their headers a
line a second and never finish (issue 16, "a slow client cannot starve the webhook").

Prints figures and asserts nothing:

    .venv/bin/python bench/slowloris.py                        # 2,000 slow, ulimit 1024
    .venv/bin/python bench/slowloris.py --reconnect            # ... reconnecting at once
    .venv/bin/python bench/slowloris.py --slow 20000 --nofile 65536

A fresh ``alertreflex serve`` (SQLite in a temporary directory, default settings but
``--header-timeout`` and ``--max-connections``) runs under ``prlimit --nofile``.
First ``wrk`` posts webhooks alone for ``--duration`` seconds; then ``wrk`` again,
and a second after it started (its keep-alive connections are open, as Alertmanager
keeps them) ``--slow`` clients connect, each sending a request line and then one
header line a second, never the end of the headers; with ``--reconnect`` each
connects again as soon as the server closed it, as an attacker would. Once they are
all connected, ``--fresh`` webhooks go at once, each on a new connection (where a
full server must make room). It reports what the slow clients got (connections, how
long the server held them) and what the webhooks got (answers, p50/p99).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ingest import HOST, Server, http_get

FIRING = Path(__file__).resolve().parent.parent / "tests/fixtures/alertmanager/firing.json"
CONFIG = """\
settings:
  web: {{header_timeout: {header_timeout}, max_connections: {max_connections}}}
reflexes:
  - name: note
    team: warehouse
    match: ['alertname = "BucketTooFull_ORANGE"']
    on_firing: [{{exec: {{command: ["true"]}}}}]
"""
WRK_LUA = """\
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("{body}")
wrk.body = f:read("*a")
f:close()
"""


@dataclass
class Slowloris:
    """``count`` slow clients, each reconnecting once the server closed it."""

    port: int
    count: int
    reconnect: bool
    connects: int = 0
    failures: int = 0
    held: list[float] = field(default_factory=list)  # seconds, per closed connection
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._client()) for _ in range(self.count)]

    async def settle(self, timeout: float) -> int:
        """Without reconnecting: wait for the server to close them all; how many it
        had not closed after ``timeout`` seconds."""
        if self.reconnect:
            return 0
        _, pending = await asyncio.wait(self._tasks, timeout=timeout)
        return len(pending)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _client(self) -> None:
        while True:
            try:
                reader, writer = await asyncio.open_connection(HOST, self.port)
            except OSError:
                self.failures += 1
                await asyncio.sleep(1)
                continue
            self.connects += 1
            if self.connects == self.count:
                self.connected.set()
            opened = time.monotonic()
            drip = asyncio.create_task(self._drip(writer))
            try:
                await reader.read()
            except OSError:
                pass
            finally:
                drip.cancel()
                writer.close()
            self.held.append(time.monotonic() - opened)
            if not self.reconnect:
                return

    async def _drip(self, writer: asyncio.StreamWriter) -> None:
        writer.write(f"POST /webhook HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n".encode())
        n = 0
        while not writer.is_closing():
            await asyncio.sleep(1)
            writer.write(b"X-Slow-%d: 1\r\n" % n)
            n += 1


async def wrk(url: str, lua: Path, duration: int, connections: int) -> dict[str, float]:
    proc = await asyncio.create_subprocess_exec(
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "-s",
        str(lua),
        url,
        stdout=asyncio.subprocess.PIPE,
    )
    out = (await proc.communicate())[0].decode()
    figures = {"req/s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    for pct in ("50", "99"):
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        figures[f"p{pct} ms"] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    figures["errors"] = float(sum(int(n) for n in errors.groups())) if errors else 0.0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    figures["non-2xx"] = float(non2xx.group(1)) if non2xx else 0.0
    return figures


async def fresh_webhooks(port: int, count: int, body: bytes) -> dict[str, float]:
    """``count`` webhooks at once, each on a new connection: their answers, and the
    latency of those answered 200."""
    request = (
        f"POST /webhook HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body

    async def one() -> tuple[str, float]:
        t0 = time.monotonic()
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 10)
            writer.write(request)
            answer = await asyncio.wait_for(reader.read(), 10)
            writer.close()
        except (OSError, TimeoutError):
            return "failed", 0.0
        status = answer[9:12].decode() if answer.startswith(b"HTTP/1.1 ") else "failed"
        return status, time.monotonic() - t0

    results = await asyncio.gather(*(one() for _ in range(count)))
    figures = {s: float(sum(1 for r, _ in results if r == s)) for s in ("200", "503", "failed")}
    latencies = [t for r, t in results if r == "200"]
    if len(latencies) > 1:
        figures["p50 ms"] = quantile(latencies, 0.5) * 1000
        figures["p99 ms"] = quantile(latencies, 0.99) * 1000
    return figures


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q * 100) - 1] if len(values) > 1 else 0.0


def row(label: str, figures: dict[str, float]) -> str:
    return f"{label:<22}" + "  ".join(f"{k} {v:,.1f}" for k, v in figures.items())


async def bench(args: argparse.Namespace, work: Path) -> None:
    (work / "alertreflex.yml").write_text(
        CONFIG.format(header_timeout=args.header_timeout, max_connections=args.max_connections)
    )
    lua = work / "post.lua"
    lua.write_text(WRK_LUA.format(body=FIRING))
    server = Server(work / "alertreflex.yml", f"sqlite:///{work}/a.db", work / "server.log", "info")
    server.command = ["prlimit", f"--nofile={args.nofile}:{args.nofile}", *server.command]
    server.start()
    try:
        url = f"{server.url}/webhook"
        print(
            f"server: RLIMIT_NOFILE {args.nofile}, header_timeout {args.header_timeout}, "
            f"max_connections {args.max_connections}; "
            f"slow clients {'' if args.reconnect else 'do not '}reconnect"
        )
        print(row("webhooks alone", await wrk(url, lua, args.duration, args.connections)))
        slow = Slowloris(server.port, args.slow, args.reconnect)
        loaded = asyncio.create_task(wrk(url, lua, args.duration, args.connections))
        await asyncio.sleep(1)
        t0 = time.monotonic()
        slow.start()
        await asyncio.wait_for(slow.connected.wait(), 120)
        print(f"{args.slow:,} slow clients connected in {time.monotonic() - t0:.1f}s")
        print(row("webhooks, slow load", await loaded))
        fresh = await fresh_webhooks(server.port, args.fresh, FIRING.read_bytes())
        print(row("new connections", fresh))
        wait = args.header_timeout_s + 5
        still_open = await slow.settle(wait)
        await slow.stop()
        held = slow.held or [0.0]
        print(
            f"slow clients: {slow.connects:,} connections, {len(slow.held):,} closed by the "
            f"server, held p50 {statistics.median(held):.1f}s max {max(held):.1f}s, "
            f"{slow.failures:,} connects failed"
            + (f", {still_open:,} still open {wait:g}s later" if not args.reconnect else "")
        )
        metrics = http_get(f"{server.url}/metrics")[1].decode()
        closed = re.findall(r'connections_closed_total\{reason="(\w+)"\} ([\d.e+]+)', metrics)
        print("server closed: " + ", ".join(f"{r} {float(n):,.0f}" for r, n in closed))
    finally:
        server.stop()
    lines = [line for line in server.log().splitlines() if "http_connections_closed" in line]
    print(f"server log: {len(lines)} http_connections_closed lines")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--slow", type=int, default=2000, help="slow clients (default 2000)")
    ap.add_argument("--nofile", type=int, default=1024, help="server's RLIMIT_NOFILE")
    ap.add_argument(
        "--header-timeout", default="10s", help="settings.web.header_timeout, in seconds"
    )
    ap.add_argument("--max-connections", type=int, default=512, help="settings.web.max_connections")
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--connections", type=int, default=16, help="wrk's connections")
    ap.add_argument("--fresh", type=int, default=100, help="webhooks on new connections")
    ap.add_argument(
        "--reconnect", action="store_true", help="slow clients connect again once closed"
    )
    args = ap.parse_args()
    args.header_timeout_s = float(args.header_timeout.removesuffix("s"))
    # Reconnecting slow clients open a socket before the closed one is released.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = (2 if args.reconnect else 1) * args.slow + args.fresh + 256
    if hard != resource.RLIM_INFINITY and hard < need:
        print(f"needs an open file limit of {need} for the clients, the hard one is {hard}")
        return 2
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory(prefix="alertreflex-slowloris-") as work:
        asyncio.run(bench(args, Path(work)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
