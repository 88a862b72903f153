"""alertreflex side by side with two plain Python receivers, driven by wrk: the aims
of "act as fast as the Go executor", each printed as a ratio measured in one run.

Prints figures and asserts nothing:

    cd bench && ../.venv/bin/python peers.py [--rounds 3] [--seconds 10] [--pg DSN]

The baselines run on the same payloads in the same round:

- ``naive_receiver.py``: aiohttp and one ``asyncio.create_subprocess_exec`` per
  alert, no record, no deduplication;
- ``parse_only_receiver.py``: aiohttp reading the body and parsing the JSON.

Every action is the same short shell script, which appends the alert's fingerprint to
a file: actions/s are the lines appended while wrk ran (runs that lag behind the
acknowledgements are not counted). wrk runs ``-t1 -c16`` for ``--seconds`` per row.

Rows of a round:

1. flood: every POST a new 1-alert episode. Naive receiver, then alertreflex (SQLite,
   10 reflexes, ``max_concurrent`` and ``max_concurrent_runs`` 64, the default queue
   of 10,000), then alertreflex with 10,000 reflexes, then (with ``--pg``)
   alertreflex on PostgreSQL. acks/s counts 200s; RSS (and PSS) is the server and
   its exec helper, not the actions' processes, at the end of the row; idle before
   load.
   Then the ceiling: the same script spawned alone, 64 at a time, no HTTP and no
   record (spawn_ceiling.py): what no receiver can exceed on this machine.
2. repeats: the same 1-alert body, then the same 50-alert body, posted again and
   again (Alertmanager's repeats; the first POST made the runs): parse-only handler,
   then alertreflex.
3. latency: a fresh alertreflex, one new alert as soon as it is ready (the first
   action after start), then 100 new alerts 20 ms apart; the action script writes
   bash's ``$EPOCHREALTIME`` when it starts, against the time the client sent the
   POST (same clock): alert-to-action start, bash's own start included.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from ingest import HOST, PgSchema, Server, free_port, write_config
from wrkload import WrkResult, have_wrk, new_episodes_script, run_wrk, static_body_script

HERE = Path(__file__).resolve().parent
ACTION_SH = '#!/bin/sh\necho "$1" >> {out}\n'
STAMP_SH = '#!/bin/bash\necho "$1 $EPOCHREALTIME" >> {out}\n'
MATCH = "['alertname = \"Flood\"']"
LATENCY_ALERTS = 100
LATENCY_GAP = 0.02


def notification(alerts: int, tag: str) -> bytes:
    """An Alertmanager v4 body of ``alerts`` firing alerts, each its own episode."""
    items = [
        {
            "status": "firing",
            "labels": {"alertname": "Flood", "team": "bench", "seq": f"{tag}-{i}"},
            "annotations": {"summary": "flood"},
            "startsAt": "2026-12-06T08:00:00.000Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://127.0.0.1:9090/graph",
            "fingerprint": f"{tag}{i:012x}",
        }
        for i in range(alerts)
    ]
    doc = {
        "version": "4",
        "groupKey": '{}:{alertname="Flood"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "alertreflex",
        "groupLabels": {"alertname": "Flood"},
        "commonLabels": {"alertname": "Flood", "team": "bench"},
        "commonAnnotations": {"summary": "flood"},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": items,
    }
    return json.dumps(doc).encode()


def post(url: str, body: bytes) -> int:
    req = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return int(resp.status)


def memory_mib(pid: int) -> tuple[float, float]:
    """(RSS, PSS) of a receiver: its process and its exec helper, not the actions'
    processes running at that moment. PSS counts a page shared by n processes as 1/n
    (the helper shares the interpreter's pages with the server), RSS whole in each."""
    keep = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for child in children.read_text().split() if children.exists() else ():
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"alertreflex.actions.exec_worker" in cmdline:
            keep.append(int(child))
    rss = pss = 0.0
    for p in keep:
        try:
            rollup = Path(f"/proc/{p}/smaps_rollup").read_text().splitlines()
        except OSError:
            continue
        for line in rollup:
            name, _, value = line.partition(":")
            if name == "Rss":
                rss += int(value.split()[0]) / 1024
            elif name == "Pss":
                pss += int(value.split()[0]) / 1024
    return rss, pss


def lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


class Baseline:
    """One of the baseline receivers, as a subprocess on a free port."""

    def __init__(self, script: str, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / script), str(self.port), *args],
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                post(f"{self.url}/webhook", notification(1, "warmup"))
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{script} did not start")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Flood:
    actions_per_s: float
    acks: WrkResult
    rss_mib: float
    idle_mib: float
    pss_mib: float
    idle_pss_mib: float


@dataclass
class Round:
    flood: dict[str, Flood] = field(default_factory=dict)
    repeats: dict[str, WrkResult] = field(default_factory=dict)
    ceiling: float = 0.0
    first_ms: dict[str, float] = field(default_factory=dict)
    start_ms: dict[str, list[float]] = field(default_factory=dict)


class Bench:
    def __init__(self, tmp: Path, seconds: int, pg: str | None) -> None:
        self.tmp = tmp
        self.seconds = seconds
        self.pg = pg
        self.case = 0

    def _dir(self, name: str) -> Path:
        self.case += 1
        d = self.tmp / f"{self.case:02d}-{name}"
        d.mkdir()
        return d

    def _script(self, d: Path, text: str, out: Path) -> Path:
        path = d / "action.sh"
        path.write_text(text.format(out=out))
        path.chmod(0o755)
        return path

    def alertreflex(
        self, d: Path, script: Path, *, reflexes: int = 10, storage: str | None = None
    ) -> Server:
        """alertreflex in ``d`` running ``script`` for every alert; not started yet."""
        config = d / "alertreflex.yml"
        write_config(
            config,
            reflexes=reflexes,
            command=[str(script), "{{ alert.fingerprint }}"],
            max_concurrent_runs=64,
            max_queued_runs=10_000,
            match=MATCH,
        )
        return Server(config, storage or f"sqlite:///{d}/s.db", d / "server.log", "info")

    async def flood(self, name: str, tag: str, **kw: object) -> Flood:
        """One flood row: a fresh receiver (``name``: naive or an alertreflex case)."""
        d = self._dir(f"flood-{tag}")
        out = d / "actions.txt"
        script = self._script(d, ACTION_SH, out)
        schema = None
        server: Server | Baseline
        if name == "naive":
            server = Baseline("naive_receiver.py", str(script))
        else:
            if name == "postgresql":
                assert self.pg is not None
                schema = PgSchema(self.pg)
                await asyncio.to_thread(schema.create)  # it runs a loop of its own
                kw = {**kw, "storage": schema.dsn}
            server = self.alertreflex(d, script, **kw).start()  # type: ignore[arg-type]
        try:
            await asyncio.sleep(1.0)  # the start-up's own work settles
            idle, idle_pss = memory_mib(server.pid)
            wrk = new_episodes_script(d / "flood.lua", salt=tag)
            before = lines(out)
            result = await run_wrk(f"{server.url}/webhook", wrk, seconds=self.seconds)
            done = lines(out) - before
            rss, pss = memory_mib(server.pid)
        finally:
            server.stop()
            if schema is not None:
                await asyncio.to_thread(schema.drop)
        return Flood(done / result.seconds, result, rss, idle, pss, idle_pss)

    async def ceiling(self) -> float:
        """Actions/s of the flood's script spawned alone (spawn_ceiling.py)."""
        d = self._dir("ceiling")
        out = d / "actions.txt"
        script = self._script(d, ACTION_SH, out)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(HERE / "spawn_ceiling.py"),
            str(self.seconds),
            str(script),
            stdout=asyncio.subprocess.DEVNULL,  # its count: the lines are counted here
        )
        t0 = time.monotonic()
        await proc.wait()
        return lines(out) / (time.monotonic() - t0)

    async def repeats(self, name: str, alerts: int) -> WrkResult:
        d = self._dir(f"repeat{alerts}-{name}")
        out = d / "actions.txt"
        body = d / "body.json"
        body.write_bytes(notification(alerts, f"r{alerts}"))
        server: Server | Baseline
        if name == "parse-only":
            server = Baseline("parse_only_receiver.py")
        else:
            server = self.alertreflex(d, self._script(d, ACTION_SH, out)).start()
        try:
            post(f"{server.url}/webhook", body.read_bytes())  # the runs; then repeats
            await asyncio.sleep(1.0)
            script = static_body_script(d / "repeat.lua", body)
            return await run_wrk(f"{server.url}/webhook", script, seconds=self.seconds)
        finally:
            server.stop()

    async def latency(self, name: str) -> tuple[float, list[float]]:
        """(first action after start, then each alert's) alert-to-action start, ms."""
        d = self._dir(f"latency-{name}")
        out = d / "stamps.txt"
        script = self._script(d, STAMP_SH, out)
        sent: dict[str, float] = {}
        t0 = time.monotonic()
        server: Server | Baseline
        if name == "naive":
            server = Baseline("naive_receiver.py", str(script))
        else:
            server = self.alertreflex(d, script)
            server.launch()
            server.wait_ready(t0, 180)
        try:
            for i in range(LATENCY_ALERTS + 1):
                tag = f"l{i:03d}"
                body = notification(1, tag)
                sent[f"{tag}{0:012x}"] = time.time()
                post(f"{server.url}/webhook", body)
                await asyncio.sleep(LATENCY_GAP)
            deadline = time.monotonic() + 10
            while lines(out) < len(sent) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        finally:
            server.stop()
        started = {}
        for line in out.read_text().splitlines():
            fp, _, stamp = line.partition(" ")
            if fp in sent:
                started[fp] = (float(stamp) - sent[fp]) * 1000
        first = started.get(f"l000{0:012x}", float("nan"))
        rest = [ms for fp, ms in started.items() if not fp.startswith("l000")]
        return first, rest

    async def round(self, n: int) -> Round:
        r = Round()
        cases: list[tuple[str, str, dict[str, object]]] = [
            ("naive", "naive", {}),
            ("alertreflex", "alertreflex", {}),
            ("10k reflexes", "alertreflex", {"reflexes": 10_000}),
        ]
        if self.pg:
            cases.append(("postgresql", "postgresql", {}))
        for label, name, kw in cases:
            r.flood[label] = await self.flood(name, f"f{n}{len(r.flood)}", **kw)
        r.ceiling = await self.ceiling()
        for alerts in (1, 50):
            for name in ("parse-only", "alertreflex"):
                r.repeats[f"{name} {alerts}"] = await self.repeats(name, alerts)
        for name in ("naive", "alertreflex"):
            r.first_ms[name], r.start_ms[name] = await self.latency(name)
        return r


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


def report(n: int, r: Round, seconds: int) -> None:
    print(f"\nround {n}")
    print(
        "  flood (new 1-alert episodes)   actions/s    acks/s   p99 ms   RSS MiB  idle MiB"
        "  PSS MiB  idle PSS"
    )
    for label, f in r.flood.items():
        print(
            f"    {label:<28} {f.actions_per_s:>9,.0f} {f.acks.rate:>9,.0f} "
            f"{f.acks.p99_ms:>8.1f} {f.rss_mib:>9.0f} {f.idle_mib:>9.0f} {f.pss_mib:>8.0f} "
            f"{f.idle_pss_mib:>9.0f}"
        )
    print(f"    {'the script alone (ceiling)':<28} {r.ceiling:>9,.0f}")
    print("  repeats                        posts/s   alerts/s  p99 ms")
    for label, w in r.repeats.items():
        alerts = int(label.rsplit(" ", 1)[1])
        print(f"    {label:<28} {w.rate:>9,.0f} {w.rate * alerts:>10,.0f} {w.p99_ms:>7.1f}")
    print("  alert to action start          first ms   p50 ms   p99 ms")
    for name, ms in r.start_ms.items():
        p50 = statistics.median(ms) if ms else float("nan")
        p99 = statistics.quantiles(ms, n=100)[98] if len(ms) > 2 else float("nan")
        print(f"    {name:<28} {r.first_ms[name]:>9.1f} {p50:>8.1f} {p99:>8.1f}")
    fl, rp = r.flood, r.repeats
    ar = fl["alertreflex"]
    print("  aims")
    print(
        f"    flood actions/s vs naive: {ratio(ar.actions_per_s, fl['naive'].actions_per_s)}"
        f" (aim >= 2.0x); acks/s - actions/s: {ar.acks.rate - ar.actions_per_s:,.0f}"
        f" (aim <= {10_000 / seconds:,.0f}: what the queue of 10,000 absorbs in {seconds}s)"
    )
    print(
        f"    flood actions/s vs the ceiling: {ratio(ar.actions_per_s, r.ceiling)}; naive vs "
        f"the ceiling: {ratio(fl['naive'].actions_per_s, r.ceiling)} (2.0x naive is "
        f"{ratio(2 * fl['naive'].actions_per_s, r.ceiling)} of it)"
    )
    print(
        f"    50-alert repeats vs parse-only: "
        f"{ratio(rp['alertreflex 50'].rate, rp['parse-only 50'].rate)} (aim >= 0.25x), "
        f"p99 {rp['alertreflex 50'].p99_ms:.1f} ms (aim <= 30)"
    )
    print(
        f"    1-alert repeats vs parse-only: "
        f"{ratio(rp['alertreflex 1'].rate, rp['parse-only 1'].rate)} (aim >= 0.5x), "
        f"p99 {rp['alertreflex 1'].p99_ms:.1f} ms (aim <= 15)"
    )
    print(
        f"    RSS at the end of the flood: {ar.rss_mib:.0f} MiB (aim <= 80); idle "
        f"{ar.idle_mib:.0f} MiB (aim <= 60); PSS {ar.pss_mib:.0f} / {ar.idle_pss_mib:.0f} MiB"
    )
    ms = r.start_ms["alertreflex"]
    p50 = statistics.median(ms) if ms else float("nan")
    print(
        f"    alert to action start p50: {p50:.1f} ms (aim <= 5); first after start "
        f"{r.first_ms['alertreflex']:.1f} ms"
    )
    print(
        f"    10,000 reflexes vs 10: {ratio(fl['10k reflexes'].actions_per_s, ar.actions_per_s)}"
        " (aim >= 0.90x)"
    )
    if "postgresql" in fl:
        print(
            f"    PostgreSQL vs SQLite: {ratio(fl['postgresql'].actions_per_s, ar.actions_per_s)}"
            " (aim >= 0.60x)"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="per row")
    parser.add_argument("--pg", help="PostgreSQL DSN: adds the PostgreSQL flood row")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    if not have_wrk():
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    tmp = Path(tempfile.mkdtemp(prefix="alertreflex-peers-"))
    try:
        bench = Bench(tmp, args.seconds, args.pg)
        for n in range(1, args.rounds + 1):
            report(n, await bench.round(n), args.seconds)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n(load average at the end: {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    asyncio.run(main())
