"""``alertreflex demo``: the three motivating reflexes, end to end, on loopback.

Starts the demo JVM, alertreflex, Alertmanager and Prometheus (installing nothing),
raises the orange bucket gauge, waits for the reflexes to act, lowers it, waits for
the restore and prints what happened. Then it keeps everything running for a look at
the UI until Ctrl-C (``--no-keep``: not at all), and stops everything it started.
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from alertreflex.core.durations import format_duration
from alertreflex.demo.stack import (
    Proc,
    Stack,
    StackError,
    free_port,
    require_tools,
    wait_for,
)

# Package data, not the repository's examples/: the demo must run from an installed wheel.
EXAMPLE = Path(__file__).resolve().with_name("files")
"""The demo's files: DemoService.java, rules.yml, alertmanager.yml, alertreflex.yml."""
DEFAULT_SERVICE = "127.0.0.1:18080"  # the address files/alertreflex.yml names
LOGGER = "com.example.orange"


@dataclass
class DemoReport:
    """What the demo saw; printed by the command, asserted by the end-to-end tests."""

    alertreflex_url: str = ""
    service_url: str = ""
    alertmanager_url: str = ""
    prometheus_url: str = ""
    level_before: Any = None
    level_firing: Any = None
    level_after: Any = None
    thread_dumps: list[str] = field(default_factory=list)  # artifact URLs
    thread_dump_files: list[Path] = field(default_factory=list)  # copies in the workdir
    pizza_orders: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    silences: list[dict[str, Any]] = field(default_factory=list)  # Alertmanager's, at the end
    notifications: int = 0  # webhook notifications alertreflex accepted
    repeats: int = 0  # ... of which changed nothing (repeat_interval, duplicates)
    timings: dict[str, float] = field(default_factory=dict)


def find_example() -> Path:
    if (EXAMPLE / "DemoService.java").is_file():
        return EXAMPLE
    raise StackError(
        f"the demo's files are missing from {EXAMPLE}: this install of alertreflex is "
        "incomplete, reinstall it"
    )


LATE_NIGHT = (
    'times: [{start_time: "20:00", end_time: "24:00"}, {start_time: "00:00", end_time: "06:00"}]'
)


def all_day(config_text: str) -> str:
    """The example config with its late-night window stretched over the whole day, so
    that the pizza reflex acts whatever the hour (``alertreflex demo --all-day``)."""
    if LATE_NIGHT not in config_text:
        raise StackError("the demo config no longer has the late-night window to stretch")
    return config_text.replace(LATE_NIGHT, 'times: [{start_time: "00:00", end_time: "24:00"}]')


def run_demo(
    workdir: Path,
    *,
    say: Callable[[str], None] = print,
    config_text: str | None = None,
    flips: int = 1,
    hold: float = 3.0,
    repeat_interval: str = "1s",
    while_firing: Callable[[Stack, DemoReport], None] | None = None,
    at_end: Callable[[Stack, DemoReport], None] | None = None,
) -> DemoReport:
    """Run the scenario in ``workdir``: ``flips`` times, fill the bucket, wait for the
    firing runs, hold it full (``while_firing``, or ``hold`` seconds, during which
    Alertmanager repeats its notification every ``repeat_interval``), then empty it
    and wait for the log level's restore. ``config_text`` replaces the example config
    (with 127.0.0.1:18080 standing for the demo service). ``at_end`` gets the finished
    report while every process still runs; they stop when it returns."""
    example = find_example()
    require_tools()
    report = DemoReport()
    with Stack(workdir) as stack, httpx.Client(timeout=5, trust_env=False) as http:
        say("starting the demo service (javac, then java) ...")
        svc = stack.start_demo_service(example / "DemoService.java")
        report.service_url = svc.url
        text = config_text or (example / "alertreflex.yml").read_text()
        config = workdir / "alertreflex.yml"
        config.write_text(text.replace(DEFAULT_SERVICE, svc.url.removeprefix("http://")))
        ar = start_alertreflex(stack, config)
        report.alertreflex_url = ar.url
        am = stack.start_alertmanager(
            f"{ar.url}/webhook",
            repeat_interval=repeat_interval,
            config=yaml.safe_load((example / "alertmanager.yml").read_text()),
        )
        say("starting Prometheus (it needs ~5 s before it sends to Alertmanager) ...")
        prom = stack.start_prometheus(
            rule_files=[example / "rules.yml"],
            scrape_targets=[svc.url.removeprefix("http://")],
            alertmanager_url=am.url,
        )
        level = f"{svc.url}/actuator/loggers/{LOGGER}"
        report.level_before = http.get(level).json()["configuredLevel"]
        report.alertmanager_url, report.prometheus_url = am.url, prom.url
        say(f"alertreflex {ar.url}, Alertmanager {am.url}, Prometheus {prom.url}")

        def runs(trigger: str) -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = http.get(
                f"{ar.url}/api/v1/runs", params={"trigger": trigger}
            ).json()["runs"]
            return found

        def done(trigger: str, episodes: int) -> bool:
            # The log level reflex has one firing and one resolved run per episode;
            # one notification creates every reflex's firing run at once.
            found = runs(trigger)
            debug = [r for r in found if r["reflex"] == "debug-while-orange-bucket"]
            return len(debug) >= episodes and all(r["finished_at"] for r in found)

        seen: set[str] = set()
        for flip in range(1, flips + 1):
            again = " again" if flip > 1 else ""
            say(f"the orange bucket fills up{again}: POST /bucket?value=42")
            t0 = time.monotonic()
            http.post(f"{svc.url}/bucket", params={"value": "42"}).raise_for_status()
            wait_for(partial(done, "firing", flip), 60, "the firing runs")
            report.timings.setdefault("gauge_to_firing_runs_done", time.monotonic() - t0)
            report.level_firing = http.get(level).json()["configuredLevel"]
            for r in runs("firing"):
                if r["id"] not in seen:
                    seen.add(r["id"])
                    full = http.get(f"{ar.url}/api/v1/runs/{r['id']}").json()
                    for a in full["artifacts"]:
                        report.thread_dumps.append(ar.url + a["url"])
                        copy = workdir / "threaddumps" / f"{r['id']}-{a['name']}"
                        copy.parent.mkdir(exist_ok=True)
                        copy.write_bytes(http.get(ar.url + a["url"]).content)
                        report.thread_dump_files.append(copy)
            if while_firing is not None:
                while_firing(stack, report)
            else:
                say(
                    f"holding it full for {format_duration(hold)} "
                    f"(Alertmanager repeats every {repeat_interval})"
                )
                time.sleep(hold)
            say("the bucket is emptied: POST /bucket?value=0")
            http.post(f"{svc.url}/bucket", params={"value": "0"}).raise_for_status()
            wait_for(
                partial(done, "resolved", flip),
                60,
                "the log level's restore (after resolve_delay)",
            )
        report.level_after = http.get(level).json()["configuredLevel"]
        report.pizza_orders = http.get(f"{svc.url}/pizza/orders").json()
        report.runs = http.get(f"{ar.url}/api/v1/runs").json()["runs"]
        report.silences = http.get(f"{am.url}/api/v2/silences").json()
        report.notifications, report.repeats = _notification_counts(
            http.get(f"{ar.url}/metrics").text
        )
        if at_end is not None:
            at_end(stack, report)
        say("stopping everything the demo started ...")
    return report


def _notification_counts(exposition: str) -> tuple[int, int]:
    accepted = repeats = 0.0
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == "alertreflex_notifications_total":
                if sample.labels.get("status") == "accepted":
                    accepted = sample.value
            elif sample.name == "alertreflex_duplicate_notifications_total":
                repeats = sample.value
    return int(accepted), int(repeats)


def start_alertreflex(stack: Stack, config: Path) -> Proc:
    """``alertreflex serve`` of this install, its SQLite store in the stack's workdir."""
    port = free_port()
    return stack.start(
        "alertreflex",
        [
            _alertreflex(),
            "serve",
            "--config",
            str(config),
            "--storage",
            f"sqlite:///{stack.workdir / 'alertreflex.db'}",
            "--listen",
            f"127.0.0.1:{port}",
        ],
        f"http://127.0.0.1:{port}/-/ready",
    )


def _alertreflex() -> str:
    # The console script next to this interpreter: the same install as this command.
    beside = Path(sys.executable).parent / "alertreflex"
    return str(beside) if beside.exists() else shutil.which("alertreflex") or "alertreflex"


def show(report: DemoReport, *, kept: bool = True, up: bool = False) -> str:
    """What happened, for people. ``kept``: the workdir's copies of the thread dumps
    stay and are named; ``up``: alertreflex still runs, so the dumps' URLs answer."""

    def lvl(v: Any) -> str:
        return "unset (inherits ROOT)" if v is None else str(v)

    copies = "" if kept else ", which the demo removes when it stops: --keep keeps it"
    lines = [
        "",
        "What happened",
        f"  thread dumps:  {len(report.thread_dumps)} (artifacts of the runs, copied to the "
        f"workdir{copies})",
        *(f"    {u}" for u in (report.thread_dumps if up else ())),
        *(f"    {f}" for f in (report.thread_dump_files if kept else ())),
        *_worker_excerpt(report.thread_dump_files),
        f"  log level of {LOGGER}: before {lvl(report.level_before)}, while firing "
        f"{lvl(report.level_firing)}, after {lvl(report.level_after)}",
        f"  pizza orders:  {len(report.pizza_orders)}",
    ]
    skipped = [r for r in report.runs if r["reflex"].startswith("pizza") and r["reason"]]
    lines += [f"    (pizza run skipped: {r['reason']})" for r in skipped]
    if any("time_intervals" in r["reason"] for r in skipped):
        lines.append("    (it is not late night here: `alertreflex demo --all-day` orders anyway)")
    for order in report.pizza_orders:
        lines += _pizza_order(order)
    lines.append("  runs:")
    lines += [
        f"    {r['reflex']:<28} {r['trigger']:<9} {r['state']:<10} {r['reason']}".rstrip()
        for r in sorted(report.runs, key=lambda r: r["created_at"])
    ]
    lines.append(
        f"  notifications: {report.notifications} from Alertmanager, {report.repeats} of "
        "them repeats that changed nothing"
    )
    took = report.timings.get("gauge_to_firing_runs_done")
    if took is not None:
        lines.append(f"  gauge raised -> all firing runs done: {took:.1f}s")
    return "\n".join(lines)


def _pizza_order(order: dict[str, Any]) -> list[str]:
    """The order's body as JSON, the way the http step sent it and the API received it."""
    key = order.get("idempotency_key")
    head = f"    order {order.get('id')}, as POST /pizza/orders received it"
    head += f" (Idempotency-Key: {key}):" if key else " (no Idempotency-Key):"
    body = json.dumps(order.get("body"), indent=2, ensure_ascii=False)
    return [head, *(f"      {line}" for line in body.splitlines())]


def _worker_excerpt(dumps: list[Path], lines: int = 4) -> list[str]:
    """The demo worker's thread from the first dump: what the dump is for."""
    if not dumps:
        return []
    text = dumps[0].read_text(errors="replace").splitlines()
    for i, line in enumerate(text):
        if line.startswith('"orange-bucket-worker"'):
            return ["    the worker thread in the first dump:"] + [
                f"      {t}" for t in text[i : i + lines]
            ]
    return ["    (the first dump has no orange-bucket-worker thread)"]


def still_running(report: DemoReport, kept: Path | None) -> str:
    """Where to look while the demo keeps everything running."""
    lines = [
        "",
        "Everything keeps running so that you can look around; Ctrl-C stops it all.",
        f"  the UI, with the runs above:  {report.alertreflex_url}/",
        f"  Alertmanager {report.alertmanager_url}/, Prometheus {report.prometheus_url}/",
        f"  fill the bucket again:  curl -XPOST '{report.service_url}/bucket?value=42'",
        f"  and empty it:           curl -XPOST '{report.service_url}/bucket?value=0'",
    ]
    if kept is not None:
        lines.append(f"  logs, configs, thread dumps and the store:  {kept} (kept after Ctrl-C)")
    return "\n".join(lines)


# While the demo keeps running, these end it as Ctrl-C does: closing the terminal or a
# `kill` must not leave Prometheus and the others behind (they run in their own sessions).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def keep_running(stack: Stack) -> None:
    """Return at Ctrl-C (a KeyboardInterrupt); raise `StackError` if a process exits."""
    try:
        while True:
            for proc in list(stack.procs):
                stack.check_running(proc, "while the demo kept it running")
            time.sleep(0.5)
    except KeyboardInterrupt:
        return


def main(
    keep: bool | None,
    workdir: str | None,
    *,
    flips: int = 1,
    whole_day: bool = False,
) -> int:
    """``alertreflex demo``. ``keep``: None keeps everything running until Ctrl-C, then
    removes what it wrote; True also keeps the workdir; False stops at once. A
    ``workdir`` given is always kept; a temporary one is removed unless it holds the
    logs of a failure."""
    try:
        text = (find_example() / "alertreflex.yml").read_text()
        require_tools()
    except StackError as exc:  # before anything is started or written
        print(f"alertreflex demo: {exc}", file=sys.stderr)
        return 1
    tmp = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="alertreflex-demo-"))
    kept = keep is True or workdir is not None

    def at_end(stack: Stack, report: DemoReport) -> None:
        print(show(report, kept=kept, up=keep is not False))
        if keep is not False:
            print(still_running(report, tmp if kept else None), flush=True)
            keep_running(stack)
            # A second Ctrl-C must not cut the stop short and leave processes behind.
            for sig in STOP_SIGNALS:
                signal.signal(sig, signal.SIG_IGN)

    # getsignal() is None for a handler not set from Python; restore the default then.
    handlers = {sig: signal.getsignal(sig) or signal.SIG_DFL for sig in STOP_SIGNALS}
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.default_int_handler)
    try:
        run_demo(tmp, config_text=all_day(text) if whole_day else text, flips=flips, at_end=at_end)
    except StackError as exc:
        print(f"alertreflex demo: {exc}", file=sys.stderr)
        if kept or any(tmp.iterdir()):
            print(f"logs are in {tmp}", file=sys.stderr)
        else:
            tmp.rmdir()
        return 1
    except KeyboardInterrupt:
        print("alertreflex demo: interrupted; everything it started is stopped", file=sys.stderr)
        if not kept:
            shutil.rmtree(tmp, ignore_errors=True)
        return 130
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    if kept:
        print(f"\nlogs, configs, thread dumps and the store are in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0
