"""Replay benchmark (issue 20): ``alertreflex replay`` over a week of alert history.

The aim: "a week of history for 1,000 alert series and 500 reflexes replays in under
a minute". Prints figures and asserts nothing:

    cd bench && ../.venv/bin/python replay.py [--series 1000] [--reflexes 500] [--days 7]
                                              [--repeat 3] [--profile 25] [--keep]

What it does:

1. History: ``--series`` distinct ``ALERTS{alertstate="firing"}`` series (50
   alertnames times ``series / 50`` instances; labels alertname, team, instance,
   severity; every alertname shared by two of 25 teams), each with 0-6 episodes a
   day (seeded), 2-30 minutes long (a third of them 30-90), some followed by a flap
   (fires again 3-4 minutes after it stopped, for 2-5 minutes), one sample every 60 s
   as rule evaluation writes them, over the ``--days`` ending at the last UTC midnight
   at least a day ago (inside Prometheus's retention). Written as OpenMetrics.
2. Set-up, timed apart (not part of the aim): ``promtool tsdb create-blocks-from
   openmetrics``, then ``prometheus`` on the blocks (no scraping, no rules), until
   ``/-/ready`` and until its start-up compaction of the backfilled blocks is over
   (the bench waits for Prometheus's CPU to go quiet, so that it does not weigh on
   the replay).
3. A config of ``--reflexes`` reflexes, each owned by a team that has alerts (so it
   matches that team's alerts only), matching ``alertname`` (some also ``severity``
   or a regex on ``instance``), with a mix of cooldown, storm_guard, resolve_delay
   with on_resolved steps, max_concurrent, active and mute time intervals. Checked
   with ``alertreflex check``.
4. The aim itself: ``alertreflex replay --config ... --prometheus ... --from ... --to
   ... --json`` as users run it (a subprocess, start-up included), ``--repeat`` times:
   wall time of each and the median, the CPU time of the replay process and of
   Prometheus during it, and the episodes and runs it reported. Then once in this
   process, with ``time.perf_counter`` around each part of ``alertreflex replay``
   (config load, ``Prometheus.episodes``, ``simulate``, ``summarize``, JSON; ``--timeout``
   seconds allowed per query to Prometheus, 600).
5. ``--profile N``: the N costliest functions of that in-process run under cProfile
   (it runs ``simulate`` twice: once alone, once within ``compare.replay``).

Prometheus is stopped (SIGTERM) and the temporary directory removed at the end,
Ctrl-C included; ``--keep`` keeps the directory (history, blocks, config, logs).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import math
import os
import pstats
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent / "alertreflex"
HOST = "127.0.0.1"
DAY = 86400
STEP = 60  # rule evaluation interval: one sample a minute while an alert fires
CLK_TCK = os.sysconf("SC_CLK_TCK")
AIM_SECONDS = 60.0

SUBJECTS = ["Cpu", "Memory", "Disk", "Latency", "ErrorRate"]
SUBJECTS += ["Queue", "Connections", "Replication", "Certificate", "Heap"]
STATES = ["High", "Critical", "Saturated", "Stuck", "Degraded"]
ALERTNAMES = [s + st for s in SUBJECTS for st in STATES]  # 50
TEAMS = [f"team-{i:02d}" for i in range(25)]

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy


# --- history -------------------------------------------------------------------------


@dataclass
class Series:
    labels: dict[str, str]
    episodes: list[tuple[int, int]]  # (first sample, last sample), unix seconds


def last_midnight_a_day_ago(now: float) -> int:
    """The last UTC midnight at least one day before ``now``."""
    return int(now // DAY - 1) * DAY


def make_history(rng: random.Random, count: int, start: int, end: int) -> list[Series]:
    """``count`` alert series with their episodes between ``start`` and ``end``."""
    per_name = math.ceil(count / len(ALERTNAMES))
    out = []
    for i in range(count):
        a, j = divmod(i, per_name)
        team = TEAMS[(2 * a + (2 * j) // per_name) % len(TEAMS)]
        labels = {
            "alertname": ALERTNAMES[a],
            "team": team,
            "instance": f"{team}-{j:02d}.prod.example.com:9100",
            "severity": "critical" if rng.random() < 0.3 else "warning",
        }
        out.append(Series(labels, episodes(rng, start, end)))
    return out


def episodes(rng: random.Random, start: int, end: int) -> list[tuple[int, int]]:
    """One series' episodes: 0-6 a day, some followed by a flap, never overlapping."""
    phase = rng.randrange(STEP)  # rule evaluation does not run on the minute
    wanted = []
    for day in range(start, end, DAY):
        for _ in range(rng.randint(0, 6)):
            first = day + rng.randrange(0, DAY, STEP) + phase
            minutes = rng.randint(30, 90) if rng.random() < 1 / 3 else rng.randint(2, 30)
            wanted.append((first, first + (minutes - 1) * STEP))
            if rng.random() < 0.15:  # a flap: fires again 3-4 minutes after it stopped
                again = wanted[-1][1] + rng.randint(3, 4) * STEP
                wanted.append((again, again + rng.randint(1, 4) * STEP))
    wanted.sort()
    kept: list[tuple[int, int]] = []
    for first, last in wanted:
        last = min(last, end - STEP)
        if first > last or (kept and first <= kept[-1][1] + 3 * STEP):
            continue  # overlaps (or runs into) the previous one, or past the end
        kept.append((first, last))
    return kept


def write_openmetrics(path: Path, history: Sequence[Series]) -> int:
    """The samples as OpenMetrics text; returns how many."""
    samples = 0
    with path.open("w") as f:
        f.write("# TYPE ALERTS gauge\n")
        for s in history:
            labels = {**s.labels, "alertstate": "firing"}
            shown = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            lines = []
            for first, last in s.episodes:
                for t in range(first, last + 1, STEP):
                    lines.append(f"ALERTS{{{shown}}} 1 {t}\n")
            f.write("".join(lines))
            samples += len(lines)
        f.write("# EOF\n")
    return samples


# --- config --------------------------------------------------------------------------

CONFIG_HEAD = """\
# Generated by bench/replay.py.
time_intervals:
  - name: business-hours
    time_intervals:
      - weekdays: ['monday:friday']
        times: [{start_time: "08:00", end_time: "20:00"}]
  - name: nights
    time_intervals:
      - times: [{start_time: "22:00", end_time: "24:00"}, {start_time: "00:00", end_time: "06:00"}]
reflexes:
"""

ECHO_INSTANCE = {"exec": {"command": ["echo", "{{ alert.labels.instance }}"]}}
ECHO_SEVERITY = {"exec": {"command": ["echo", "{{ alert.labels.severity }}"]}}
ECHO_RESOLVED = {"exec": {"command": ["echo", "resolved", "{{ alert.labels.alertname }}"]}}


def owners(history: Sequence[Series]) -> list[tuple[str, str]]:
    """(alertname, team) pairs that have alerts, in a stable order."""
    return sorted({(s.labels["alertname"], s.labels["team"]) for s in history})


def reflex(k: int, alertname: str, team: str) -> dict[str, Any]:
    """The k-th reflex, on ``alertname`` alerts of ``team``: a mix of matchers and
    policies (one kind in ten each)."""
    match = [f'alertname="{alertname}"']
    if k % 4 == 1:
        match.append('severity="critical"')
    elif k % 4 == 2:
        match.append(f'instance=~"{team}-0[0-4][.].*"')
    r: dict[str, Any] = {"name": f"r{k:04d}-{alertname.lower()}", "team": team, "match": match}
    r["on_firing"] = [ECHO_INSTANCE] if k % 3 else [ECHO_INSTANCE, ECHO_SEVERITY]
    kind = k % 10
    if kind == 1:
        r["cooldown"] = "30m"
    elif kind == 2:
        r["storm_guard"] = {"max_runs": 5, "window": "1h"}
    elif kind == 3:
        r.update(resolve_delay="2m", on_resolved=[ECHO_RESOLVED])
    elif kind == 4:
        r.update(resolve_delay="5m", cooldown="10m", on_resolved=[ECHO_RESOLVED])
    elif kind == 5:
        r["max_concurrent"] = 4
    elif kind == 6:
        r["active_time_intervals"] = ["business-hours"]
    elif kind == 7:
        r["mute_time_intervals"] = ["nights"]
    elif kind == 8:
        r.update(cooldown="1h", storm_guard={"max_runs": 3, "window": "6h"}, max_concurrent=2)
    elif kind == 9:
        r.update(on_firing=[], on_resolved=[ECHO_RESOLVED])  # resolved steps only
    return r


def write_config(path: Path, history: Sequence[Series], count: int) -> None:
    pairs = owners(history)
    lines = [CONFIG_HEAD]
    for k in range(count):
        alertname, team = pairs[k % len(pairs)]
        r = reflex(k, alertname, team)
        lines.append(f"  - name: {r.pop('name')}\n")
        for key, value in r.items():
            lines.append(f"    {key}: {json.dumps(value)}\n")  # JSON is YAML
    path.write_text("".join(lines))


# --- Prometheus ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def children_cpu() -> float:
    """User + system CPU time of this process's waited-for children."""
    t = os.times()
    return t.children_user + t.children_system


def get(url: str) -> tuple[int, bytes]:
    try:
        with _OPENER.open(url, timeout=5) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


@contextmanager
def prometheus(tmp: Path, data: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A Prometheus on the blocks in ``data``: (its URL, its process), once ready."""
    config = tmp / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1m\n")
    port = free_port()
    url = f"http://{HOST}:{port}"
    with (tmp / "prometheus.log").open("w") as log:
        proc = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address={HOST}:{port}",
                "--storage.tsdb.retention.time=60d",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if get(f"{url}/-/ready")[0] == 200:
                        break
                except OSError:
                    pass
                if proc.poll() is not None:
                    raise RuntimeError(f"prometheus exited: see {tmp / 'prometheus.log'}")
                if time.monotonic() > deadline:
                    raise RuntimeError("prometheus not ready in 120 s")
                time.sleep(0.1)
            yield url, proc
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def settle(pid: int, quiet: float = 0.05, hold: float = 5.0, limit: float = 180.0) -> float:
    """Wait until the process has used less than ``quiet`` of a core for ``hold``
    seconds in a row (Prometheus compacts the backfilled blocks a minute after it
    starts); returns the seconds waited."""
    t0 = time.monotonic()
    calm_since: float | None = None
    before = cpu_seconds(pid)
    while time.monotonic() - t0 < limit:
        time.sleep(1.0)
        now = cpu_seconds(pid)
        busy, before = now - before, now
        if busy < quiet:
            calm_since = calm_since or time.monotonic()
            if time.monotonic() - calm_since >= hold and time.monotonic() - t0 >= 75:
                break
        else:
            calm_since = None
    return time.monotonic() - t0


def metric(url: str, name: str) -> float:
    """The sum of a metric's samples in Prometheus's own /metrics."""
    _, body = get(f"{url}/metrics")
    total = 0.0
    for line in body.decode().splitlines():
        if line.startswith(name) and line[len(name)] in " {":
            total += float(line.rsplit(" ", 1)[1])
    return total


# --- the replay ----------------------------------------------------------------------


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


@dataclass
class Replayed:
    wall: float
    cpu: float  # the replay process
    prometheus_cpu: float  # Prometheus, meanwhile
    doc: dict[str, Any] | None  # None: it failed
    log_lines: int  # lines on stdout before the JSON document
    error: str = ""


def split_output(stdout: str) -> tuple[int, dict[str, Any]]:
    """(lines before the JSON document, the document) of ``replay --json``'s standard
    output: there should be none before it (the replay silences its log)."""
    lines = stdout.splitlines()
    first = lines.index("{")
    return first, json.loads("\n".join(lines[first:]))


def replay_cli(config: Path, url: str, start: int, end: int, prom_pid: int) -> Replayed:
    """``alertreflex replay ... --json`` as a subprocess, timed end to end."""
    cmd = [str(BIN), "replay", "--config", str(config), "--prometheus", url]
    cmd += ["--from", iso(start), "--to", iso(end), "--json"]
    cpu0, prom0 = children_cpu(), cpu_seconds(prom_pid)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    cpu, prom = children_cpu() - cpu0, cpu_seconds(prom_pid) - prom0
    if done.returncode != 0:
        error = f"exit {done.returncode}: {done.stderr.strip()[:300]}"
        return Replayed(wall, cpu, prom, None, 0, error)
    logs, doc = split_output(done.stdout)
    return Replayed(wall, cpu, prom, doc, logs)


def totals(doc: dict[str, Any]) -> tuple[int, int, Counter[str]]:
    """(runs, runs that act, skipped runs by category) over every reflex."""
    runs = acted = 0
    skipped: Counter[str] = Counter()
    for r in doc["reflexes"].values():
        runs += r["runs"]
        acted += r["acted"]
        skipped.update(r["skipped"])
    return runs, acted, skipped


def replay_in_process(
    config: Path, url: str, start: int, end: int, *, timeout: float
) -> dict[str, float]:
    """The parts of ``alertreflex replay`` (cli/replay.py run() through
    replay/compare.py), timed apart. ``timeout`` for each query to Prometheus."""
    t = time.perf_counter()
    from alertreflex.actions.base import load_action_types, params_models
    from alertreflex.config.loader import load_config
    from alertreflex.logs import configure_logging
    from alertreflex.replay import compare, history
    from alertreflex.replay.simulate import simulate

    configure_logging("critical")  # as the command does
    parts: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        parts[name] = now - t
        t = now

    lap("import")
    cfg = load_config(config, params_models(load_action_types()), read_secrets=False)
    lap("load config")
    r = compare.Range(float(start), float(end))
    prom = history.Prometheus(url, timeout=timeout)
    try:
        episodes = prom.episodes(r.start, r.end)
    finally:
        prom.close()
    lap("Prometheus.episodes")
    simulate(cfg, episodes, r.end, r.assumptions)
    lap("simulate")
    docs = compare.replay([(str(config), cfg)], episodes, r)
    lap("replay (simulate + summarize)")
    compare.output(docs, "json")
    lap("output (JSON)")
    parts["summarize (difference)"] = parts["replay (simulate + summarize)"] - parts["simulate"]
    return parts


def profile(config: Path, url: str, start: int, end: int, top: int, **kw: Any) -> str:
    prof = cProfile.Profile()
    prof.runcall(replay_in_process, config, url, start, end, **kw)
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def show_cli(done: Sequence[Replayed]) -> None:
    for i, r in enumerate(done, 1):
        line = (
            f"  #{i}: {r.wall:.2f} s wall, replay CPU {r.cpu:.2f} s, "
            f"Prometheus CPU {r.prometheus_cpu:.2f} s"
        )
        print(line + (f"; FAILED {r.error}" if r.error else ""), flush=True)
    median = statistics.median(r.wall for r in done)
    failed = sum(1 for r in done if r.error)
    verdict = "met" if median < AIM_SECONDS and not failed else "NOT met"
    print(f"  median {median:.2f} s, {failed} failed: the aim is {verdict}")
    ok = [r for r in done if r.doc is not None]
    if ok and ok[-1].doc is not None:
        doc = ok[-1].doc
        runs, acted, skipped = totals(doc)
        shown = ", ".join(f"{k} {v:,}" for k, v in sorted(skipped.items()))
        print(
            f"  {doc['episodes']:,} episodes, {runs:,} runs, {acted:,} would act; "
            f"skipped: {shown or 'none'}; {ok[-1].log_lines:,} log lines before the JSON"
        )


def show_parts(parts: dict[str, float]) -> None:
    total = 0.0
    for name, took in parts.items():
        print(f"  {name:32} {took:7.2f} s")
        if "difference" not in name and name != "simulate":
            total += took
    print(f"  {'total':32} {total:7.2f} s", flush=True)


# --- main ----------------------------------------------------------------------------


def timed(what: str, t0: float) -> float:
    took = time.perf_counter() - t0
    print(f"  {what}: {took:.2f} s", flush=True)
    return took


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--series", type=int, default=1000, help="alert series (1000)")
    p.add_argument("--reflexes", type=int, default=500, help="reflexes in the config (500)")
    p.add_argument("--days", type=int, default=7, help="days of history (7)")
    p.add_argument("--repeat", type=int, default=3, help="timed replays (3)")
    p.add_argument("--seed", type=int, default=20, help="for the history (20)")
    p.add_argument(
        "--profile", type=int, default=0, metavar="N", help="cProfile's N costliest functions"
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="seconds allowed per Prometheus query in the in-process breakdown (600)",
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    o = p.parse_args(argv)
    if not BIN.exists():
        print(f"{BIN} not found: install alertreflex into this interpreter's environment")
        return 2
    for tool in ("promtool", "prometheus"):
        if shutil.which(tool) is None:
            print(f"{tool} not found (Debian package prometheus)")
            return 2

    def on_term(_sig: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    tmp = Path(tempfile.mkdtemp(prefix="alertreflex-replay-bench-"))
    try:
        return bench(o, tmp)
    except KeyboardInterrupt:
        print("interrupted")
        return 130
    finally:
        if o.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def bench(o: argparse.Namespace, tmp: Path) -> int:
    end = last_midnight_a_day_ago(time.time())
    start = end - o.days * DAY
    print(
        f"alertreflex replay bench: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; "
        f"{o.series} series, {o.reflexes} reflexes, {iso(start)} .. {iso(end)}",
        flush=True,
    )
    print("set-up (not part of the aim):")
    t0 = time.perf_counter()
    history = make_history(random.Random(o.seed), o.series, start, end)
    n_episodes = sum(len(s.episodes) for s in history)
    source = tmp / "alerts.om"
    samples = write_openmetrics(source, history)
    timed(
        f"history: {n_episodes:,} episodes, {samples:,} samples, "
        f"{source.stat().st_size / 2**20:.0f} MiB of OpenMetrics",
        t0,
    )
    t0 = time.perf_counter()
    data = tmp / "tsdb"
    made = subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", "-q", str(source), str(data)],
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        print(f"promtool failed: {made.stderr}")
        return 1
    blocks = sum(1 for d in data.iterdir() if (d / "meta.json").exists())
    timed(f"promtool tsdb create-blocks-from openmetrics: {blocks} blocks", t0)
    config = tmp / "alertreflex.yml"
    write_config(config, history, o.reflexes)
    t0 = time.perf_counter()
    checked = subprocess.run(
        [str(BIN), "check", str(config)], capture_output=True, text=True, check=False
    )
    timed(f"alertreflex check ({o.reflexes} reflexes, exit {checked.returncode})", t0)
    if checked.returncode != 0:
        print(checked.stdout, checked.stderr)
        return 1
    t0 = time.perf_counter()
    with prometheus(tmp, data) as (url, proc):
        timed("prometheus start until ready", t0)
        waited = settle(proc.pid)
        compactions = metric(url, "prometheus_tsdb_compactions_total")
        blocks_now = metric(url, "prometheus_tsdb_blocks_loaded")
        print(
            f"  prometheus settling (start-up compaction): {waited:.1f} s, "
            f"{compactions:g} compactions, {blocks_now:g} blocks loaded",
            flush=True,
        )
        print(f"alertreflex replay --json, {o.repeat} times (the aim: < {AIM_SECONDS:g} s):")
        done = [replay_cli(config, url, start, end, proc.pid) for _ in range(o.repeat)]
        show_cli(done)
        print(
            f"in this process, once (breakdown; {o.timeout:g} s allowed per Prometheus query):",
            flush=True,
        )
        parts = replay_in_process(config, url, start, end, timeout=o.timeout)
        show_parts(parts)
        if o.profile:
            print("cProfile of the in-process run:")
            print(profile(config, url, start, end, o.profile, timeout=o.timeout))
    return 0


if __name__ == "__main__":
    sys.exit(main())
