"""``alertreflex demo``: the three motivating reflexes, end to end, on loopback.

Starts the demo JVM, alertreflex, Alertmanager and Prometheus (installing nothing),
raises the orange bucket gauge, waits for the reflexes to act, lowers it, waits for
the restore, prints what happened and stops everything it started.
"""

from __future__ import annotations

import shutil
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

from alertreflex.demo.stack import (
    Proc,
    Stack,
    StackError,
    free_port,
    require_tools,
    wait_for,
)

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "demo"
DEFAULT_SERVICE = "127.0.0.1:18080"  # the address examples/demo/alertreflex.yml names
LOGGER = "com.example.orange"


@dataclass
class DemoReport:
    """What the demo saw; printed by the command, asserted by the end-to-end tests."""

    alertreflex_url: str = ""
    service_url: str = ""
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
        f"the demo files are not at {EXAMPLE}: run the demo from a checkout of alertreflex"
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
) -> DemoReport:
    """Run the scenario in ``workdir``: ``flips`` times, fill the bucket, wait for the
    firing runs, hold it full (``while_firing``, or ``hold`` seconds, during which
    Alertmanager repeats its notification every ``repeat_interval``), then empty it
    and wait for the log level's restore. ``config_text`` replaces the example config
    (with 127.0.0.1:18080 standing for the demo service)."""
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
                say(f"holding it full for {hold:g}s (Alertmanager repeats every {repeat_interval})")
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


def show(report: DemoReport, *, kept: bool = True) -> str:
    def lvl(v: Any) -> str:
        return "unset (inherits ROOT)" if v is None else str(v)

    lines = [
        "",
        "What happened",
        f"  thread dumps:  {len(report.thread_dumps)} (artifacts of the runs, copied to the "
        + ("workdir)" if kept else "workdir, which is removed now: --keep keeps it)"),
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
    lines += [f"    {o.get('body')}" for o in report.pizza_orders]
    lines.append("  runs:")
    lines += [
        f"    {r['reflex']:<28} {r['trigger']:<9} {r['state']:<10} {r['reason']}"
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


def main(keep: bool, workdir: str | None, *, flips: int = 1, whole_day: bool = False) -> int:
    tmp = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="alertreflex-demo-"))
    try:
        text = (find_example() / "alertreflex.yml").read_text()
        report = run_demo(tmp, config_text=all_day(text) if whole_day else text, flips=flips)
    except StackError as exc:
        print(f"alertreflex demo: {exc}", file=sys.stderr)
        print(f"logs are in {tmp}", file=sys.stderr)
        return 1
    print(show(report, kept=keep or workdir is not None))
    if keep or workdir:
        print(f"\nlogs, configs, thread dumps and the store are in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0
