"""Soak benchmark: minutes of an Alertmanager-like mix, with a short retention.

Prints figures and asserts nothing:

    cd bench && ../.venv/bin/python soak.py [--minutes 10] [--rate 150] [--retention 30s]

A fresh ``alertreflex serve`` (SQLite) gets, from a load generator in its own
process, about ``--rate`` notifications a second: repeats of an active group's
notification (half of them byte-identical, half with a changed annotation, as
``{{ $value }}`` makes them), new groups of 1 to 10 alerts (new episodes, ``--new``,
15% by default) and resolved groups (``--resolved``, 15%: as many groups resolve as
start, so the alerts firing at a time stay about the same, as in a real system; the
mix 0.2/0.1 makes the firing set grow without end); and every 5 minutes a burst of
1,000 new groups in 2 seconds. A 503 is retried a second later, as Alertmanager
would. The first notifications start ``--groups`` groups (2,000), the set that fires
at a time: each lives about a minute and a half, past a short retention, and gets a
repeat every 20 s or so. Every episode's firing and
resolved steps append a line to a file (fingerprint, startsAt, trigger).

Every 10 s it prints the server's RSS (with its exec helper), the store's size
(file and WAL), the runs waiting, the answers' p50/p99 and the refusals. At the end
the queue drains and the side effects are checked against the generator's own
record: every accepted episode ran its firing steps exactly once (and its resolved
steps once, if it was resolved).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import random
import statistics
import tempfile
import time
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
from ingest import Server
from overload import rss_mib

CONFIG = """\
settings:
  retention: {retention}
  max_concurrent_runs: 64
reflexes:
  - name: record
    team: bench
    match: ['alertname="Soak"']
    max_concurrent: 64
    on_firing: [{{exec: {{command: ["sh", "-c", "{script}"]}}}}]
    on_resolved: [{{exec: {{command: ["sh", "-c", "{script}"]}}}}]
"""
# A fixed script: the alert's values arrive as environment variables, never as code.
SCRIPT = 'echo \\"$ALERT_FINGERPRINT $ALERT_STARTS_AT $ALERTREFLEX_TRIGGER\\" >> {out}'
BURST_EVERY = 300.0
BURST_SIZE = 1000
BURST_SECONDS = 2.0


class Group:
    def __init__(self, gid: int, size: int, starts_at: str) -> None:
        self.gid = gid
        self.size = size
        self.starts_at = starts_at
        self.value = 0

    def fingerprint(self, k: int) -> str:
        return f"{self.gid:010x}{k:06x}"

    def body(self, status: str) -> bytes:
        alerts = [
            {
                "status": status,
                "labels": {
                    "alertname": "Soak",
                    "team": "bench",
                    "group": str(self.gid),
                    "k": str(k),
                },
                "annotations": {"summary": "soak", "value": str(self.value)},
                "startsAt": self.starts_at,
                "endsAt": "2026-12-06T12:00:00Z"
                if status == "resolved"
                else "0001-01-01T00:00:00Z",
                "generatorURL": "http://127.0.0.1:9090/graph",
                "fingerprint": self.fingerprint(k),
            }
            for k in range(self.size)
        ]
        return json.dumps(
            {
                "receiver": "alertreflex",
                "status": status,
                "alerts": alerts,
                "groupLabels": {"group": str(self.gid)},
                "commonLabels": {"alertname": "Soak", "team": "bench", "group": str(self.gid)},
                "commonAnnotations": {},
                "externalURL": "http://127.0.0.1:9093",
                "version": "4",
                "groupKey": f'{{}}:{{group="{self.gid}"}}',
                "truncatedAlerts": 0,
            }
        ).encode()


def _starts_at(seq: int) -> str:
    second, micro = divmod(seq, 1_000_000)
    stamp = time.gmtime(1_765_000_000 + second)
    return time.strftime("%Y-%m-%dT%H:%M:%S", stamp) + f".{micro:06d}Z"


async def generate(
    url: str, seconds: float, rate: float, mix: tuple[float, float], groups: int, pipe: Connection
) -> None:
    """The load; sends (latencies, refusals, errors) every second and, at the end,
    the episodes it got accepted: {(fingerprint, startsAt): resolved?}."""
    rng = random.Random(7)
    active: list[Group] = []
    episodes: dict[tuple[str, str], bool] = {}
    seq = 0
    latencies: list[float] = []
    refused = errors = 0
    pending: set[asyncio.Task[None]] = set()

    async def post(session: aiohttp.ClientSession, body: bytes, on_ok: Any) -> None:
        nonlocal refused, errors
        for _ in range(30):  # as Alertmanager: retry a refused notification
            t0 = time.perf_counter()
            try:
                async with session.post(url, data=body) as resp:
                    await resp.read()
                    latencies.append(time.perf_counter() - t0)
                    if resp.status == 200:
                        on_ok()
                        return
                    refused += 1
            except aiohttp.ClientError:
                errors += 1
            await asyncio.sleep(1.0)

    def new_group() -> tuple[bytes, Any]:
        nonlocal seq
        seq += 1
        group = Group(seq, rng.randint(1, 10), _starts_at(seq))
        active.append(group)

        def ok() -> None:
            for k in range(group.size):
                episodes.setdefault((group.fingerprint(k), group.starts_at), False)

        return group.body("firing"), ok

    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.monotonic()
        next_report = start + 1
        next_burst = start + BURST_EVERY
        i = 0
        while time.monotonic() - start < seconds:
            now = time.monotonic()
            if now >= next_burst:
                for _ in range(BURST_SIZE):
                    body, ok = new_group()
                    task = asyncio.create_task(post(session, body, ok))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                    await asyncio.sleep(BURST_SECONDS / BURST_SIZE)
                next_burst += BURST_EVERY
                continue
            roll = rng.random()
            new, resolve = mix
            if len(active) < groups:
                body, ok = new_group()  # the firing set, built up at the start
            elif roll < 1 - new - resolve:
                group = rng.choice(active)
                if rng.random() < 0.5:
                    group.value += 1  # the annotation changed: not byte-identical
                body, ok = group.body("firing"), (lambda: None)
            elif roll < 1 - resolve:
                body, ok = new_group()
            else:
                group = active.pop(rng.randrange(len(active)))

                def resolved(g: Group = group) -> None:
                    for k in range(g.size):
                        key = (g.fingerprint(k), g.starts_at)
                        if key in episodes:
                            episodes[key] = True

                body, ok = group.body("resolved"), resolved
            task = asyncio.create_task(post(session, body, ok))
            pending.add(task)
            task.add_done_callback(pending.discard)
            i += 1
            if time.monotonic() >= next_report:
                pipe.send((latencies, refused, errors))
                latencies, refused, errors = [], 0, 0
                next_report += 1
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
        await asyncio.gather(*pending)
    pipe.send((latencies, refused, errors))
    pipe.send({f"{fp} {s}": r for (fp, s), r in episodes.items()})


def generator_main(
    url: str, seconds: float, rate: float, mix: tuple[float, float], groups: int, pipe: Connection
) -> None:
    asyncio.run(generate(url, seconds, rate, mix, groups, pipe))


def used_mib(db: Path) -> float:
    total = 0
    for suffix in ("", "-wal"):
        path = Path(f"{db}{suffix}")
        if path.exists():
            total += path.stat().st_size
    return total / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=150.0, help="notifications/s")
    parser.add_argument("--retention", default="30s")
    parser.add_argument("--groups", type=int, default=2000, help="groups firing at a time")
    parser.add_argument("--new", type=float, default=0.15, help="share of new groups")
    parser.add_argument("--resolved", type=float, default=0.15, help="share of resolutions")
    args = parser.parse_args()
    seconds = args.minutes * 60
    with tempfile.TemporaryDirectory(prefix="alertreflex-soak-") as tmp:
        d = Path(tmp)
        out = d / "effects.txt"
        (d / "c.yml").write_text(
            CONFIG.format(retention=args.retention, script=SCRIPT.format(out=out))
        )
        db = d / "s.db"
        server = Server(d / "c.yml", f"sqlite:///{db}", d / "server.log", "info").start()
        receiver, sender = mp.Pipe(duplex=False)
        gen = mp.get_context("spawn").Process(
            target=generator_main,
            args=(
                f"{server.url}/webhook",
                seconds,
                args.rate,
                (args.new, args.resolved),
                args.groups,
                sender,
            ),
        )
        try:
            gen.start()
            print(
                f"soak: {args.rate:g} notifications/s for {args.minutes:g} min, "
                f"retention {args.retention}, new {args.new:.0%}, resolved "
                f"{args.resolved:.0%}, bursts of {BURST_SIZE} every 5 min"
            )
            print("    t   RSS MiB   store MiB   waiting    p50 ms   p99 ms   refused  errors")
            window: list[float] = []
            refused = errors = 0
            t0 = time.monotonic()
            next_print = t0 + 10
            episodes: dict[str, bool] = {}
            while True:
                item = receiver.recv()
                if isinstance(item, dict):
                    episodes = item
                    break
                lat, ref, err = item
                window += lat
                refused += ref
                errors += err
                if time.monotonic() >= next_print:
                    m = server.metrics()
                    waiting = m.sum("alertreflex_queued_runs") + m.sum("alertreflex_running_runs")
                    p50 = statistics.median(window) * 1000 if window else 0.0
                    p99 = (
                        statistics.quantiles(window, n=100)[98] * 1000 if len(window) > 100 else 0.0
                    )
                    print(
                        f"{time.monotonic() - t0:5.0f} {rss_mib(server.pid):9.0f} "
                        f"{used_mib(db):11.1f} {waiting:9.0f} {p50:9.1f} {p99:8.1f} "
                        f"{refused:9d} {errors:7d}"
                    )
                    window, refused, errors = [], 0, 0
                    next_print += 10
            gen.join()
            while True:  # let the queue drain
                m = server.metrics()
                if m.sum("alertreflex_queued_runs") + m.sum("alertreflex_running_runs") == 0:
                    break
                time.sleep(1)
            log = server.log()
        finally:
            server.stop()
            if gen.is_alive():
                gen.kill()
        lines = Counter(out.read_text().splitlines()) if out.exists() else Counter()
        twice = sum(1 for n in lines.values() if n > 1)
        fired = {k for k in episodes}
        missing_firing = sum(1 for k in fired if lines.get(f"{k} firing", 0) == 0)
        missing_resolved = sum(
            1 for k, resolved in episodes.items() if resolved and lines.get(f"{k} resolved", 0) == 0
        )
        print(f"episodes accepted: {len(episodes):,}; side effects: {sum(lines.values()):,} lines")
        print(
            f"  run more than once: {twice}; firing never ran: {missing_firing}; "
            f"resolved never ran: {missing_resolved}"
        )
        print(
            f"  log lines: {len(log.splitlines()):,} "
            f"({sum(1 for x in log.splitlines() if 'webhook_queue_full' in x)} queue full)"
        )


if __name__ == "__main__":
    main()
