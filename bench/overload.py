"""Overload benchmark: notifications offered at twice what the machine can run.

Prints figures and asserts nothing:

    cd bench && ../.venv/bin/python overload.py [--seconds 60] [--calibrate 15]

Every notification is one new alert episode whose reflex runs a short process
(``true``; ``max_concurrent`` 64, ``max_concurrent_runs`` 64), posted by ``wrk``.

1. Calibration: a fresh server with an unbounded queue takes an unpaced flood for
   ``--calibrate`` seconds, then drains the backlog with no intake; the runs it
   completes per second while draining are what the machine can run (C).
2. Overload: a fresh server with the default queue (10,000) is offered 2 C
   notifications per second (wrk paced with ``delay()``) for ``--seconds``. The queue
   fills; from then on half of what is offered is refused.

Reported: runs completed per second before the queue filled and while it was full
(the aim: while full >= 90% of before), RSS of the server and its exec helper when
the queue filled and at the end (the aim: within 20%), the answers' p50/p99, how
many were refused, and how many log lines the refusals made. Run it before and after
a change by pointing PYTHONPATH at the other source tree (the server inherits it).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ingest import Server, descendants
from wrkload import have_wrk, new_episodes_script, run_wrk

CONFIG = """\
settings:
  max_concurrent_runs: 64
  max_queued_runs: {queue}
reflexes:
  - name: flood
    team: bench
    match: ['alertname="Flood"']
    max_concurrent: 64
    on_firing: [{{exec: {{command: ["true"]}}}}]
"""
CONNECTIONS = 16
# Paced: many connections, each waiting a long delay() between its requests, so that
# the answers' own latency hardly changes the rate offered.
PACED_CONNECTIONS = 128
DRAIN = 10  # seconds of backlog draining, after the calibration's flood


@dataclass
class Sample:
    t: float
    completed: float  # runs finished, any state
    unfinished: float
    refused: float
    rss_mib: float


@dataclass
class Watch:
    server: Server
    limit: int
    samples: list[Sample] = field(default_factory=list)

    def take(self, t0: float) -> Sample:
        m = self.server.metrics()
        unfinished = m.sum("alertreflex_queued_runs") + m.sum("alertreflex_running_runs")
        refused = sum(
            v
            for n, labels, v in m.samples
            if n == "alertreflex_notifications_total" and 'status="queue_full"' in labels
        )
        sample = Sample(
            time.monotonic() - t0,
            m.sum("alertreflex_runs_total"),
            unfinished,
            refused,
            rss_mib(self.server.pid),
        )
        self.samples.append(sample)
        return sample

    async def every_second(self, t0: float, seconds: float) -> None:
        while time.monotonic() - t0 < seconds:
            await asyncio.to_thread(self.take, t0)
            await asyncio.sleep(1.0)


def rss_mib(pid: int) -> float:
    """The server's RSS plus its helpers' (the exec worker)."""
    total = 0.0
    for p in [pid, *descendants(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            continue
    return total


def rate(samples: list[Sample], start: float, end: float) -> float:
    window = [s for s in samples if start <= s.t <= end]
    if len(window) < 2:
        return 0.0
    return (window[-1].completed - window[0].completed) / (window[-1].t - window[0].t)


def serve(tmp: Path, name: str, queue: int) -> Server:
    d = tmp / name
    d.mkdir()
    (d / "c.yml").write_text(CONFIG.format(queue=queue))
    return Server(d / "c.yml", f"sqlite:///{d}/s.db", d / "server.log", "info").start()


async def calibrate(tmp: Path, seconds: int) -> float:
    """Runs completed per second while a backlog drains with no intake: what the
    machine can run (during the flood that made the backlog, intake takes its share)."""
    server = serve(tmp, "calibrate", 10_000_000)
    try:
        watch = Watch(server, 10_000_000)
        t0 = time.monotonic()
        script = new_episodes_script(tmp / "calibrate.lua", salt="c0")
        await asyncio.gather(
            run_wrk(f"{server.url}/webhook", script, seconds=seconds, connections=CONNECTIONS),
            watch.every_second(t0, seconds),
        )
        await watch.every_second(t0, seconds + DRAIN)
        drained = [s for s in watch.samples if s.t > seconds + 1]
        if not drained or drained[-1].unfinished == 0:
            print("  calibration: the backlog drained before the end; flood longer")
        return rate(watch.samples, seconds + 1, seconds + DRAIN)
    finally:
        server.stop()


async def overload(tmp: Path, capacity: float, seconds: int) -> None:
    limit = 10_000
    server = serve(tmp, "overload", limit)
    offered = 2 * capacity
    delay_ms = max(1, round(PACED_CONNECTIONS * 1000 / offered))
    try:
        watch = Watch(server, limit)
        t0 = time.monotonic()
        script = new_episodes_script(tmp / "overload.lua", delay_ms=delay_ms, salt="o0")
        result, _ = await asyncio.gather(
            run_wrk(
                f"{server.url}/webhook", script, seconds=seconds, connections=PACED_CONNECTIONS
            ),
            watch.every_second(t0, seconds),
        )
        log = server.log()
    finally:
        server.stop()
    samples = watch.samples
    full = next((s for s in samples if s.refused > 0), None)
    print(
        f"overload: offered {PACED_CONNECTIONS * 1000 / delay_ms:,.0f}/s "
        f"(2 x {capacity:,.0f} runs/s) for {seconds}s"
    )
    print(
        f"  answers: {result.requests:,} ({result.rate:,.0f}/s), refused {result.non2xx:,}, "
        f"socket errors {result.socket_errors}, p50 {result.p50_ms:.1f} ms, "
        f"p99 {result.p99_ms:.1f} ms"
    )
    if full is None:
        print("  the queue never filled: offer more (--calibrate longer?)")
        return
    end = samples[-1].t
    before = rate(samples, min(5.0, full.t / 2), full.t)
    during = rate(samples, full.t + 5, end)
    peak = max(s.unfinished for s in samples)
    print(f"  queue full at {full.t:.0f}s; most runs accepted and not finished: {peak:,.0f}")
    print(
        f"  runs completed/s: {before:,.0f} before the queue filled, {during:,.0f} while "
        f"full ({during / before:.0%})"
        if before
        else "  runs completed/s: -"
    )
    print(
        f"  RSS (server + exec worker): {full.rss_mib:.0f} MiB when full, "
        f"{samples[-1].rss_mib:.0f} MiB at the end ({samples[-1].rss_mib / full.rss_mib:.0%})"
    )
    lines = sum(1 for line in log.splitlines() if "webhook_queue_full" in line)
    print(f"  log lines for {samples[-1].refused:,.0f} refusals: {lines}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="of overload")
    parser.add_argument("--calibrate", type=int, default=15, help="seconds of calibration")
    args = parser.parse_args()
    if not have_wrk():
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    with tempfile.TemporaryDirectory(prefix="alertreflex-overload-") as tmp:
        capacity = await calibrate(Path(tmp), args.calibrate)
        print(f"calibration: {capacity:,.0f} runs completed/s draining a backlog")
        await overload(Path(tmp), capacity, args.seconds)


if __name__ == "__main__":
    asyncio.run(main())
