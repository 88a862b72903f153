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
from pathlib import Path
from typing import Any

import httpx

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
    pizza_orders: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    silences: list[dict[str, Any]] = field(default_factory=list)  # Alertmanager's, at the end
    timings: dict[str, float] = field(default_factory=dict)


def find_example() -> Path:
    if (EXAMPLE / "DemoService.java").is_file():
        return EXAMPLE
    raise StackError(
        f"the demo files are not at {EXAMPLE}: run the demo from a checkout of alertreflex"
    )


def run_demo(
    workdir: Path,
    *,
    say: Callable[[str], None] = print,
    config_text: str | None = None,
    hold: float = 3.0,
    while_firing: Callable[[Stack, DemoReport], None] | None = None,
) -> DemoReport:
    """Run the scenario in ``workdir``; ``config_text`` replaces the example config
    (with 127.0.0.1:18080 standing for the demo service), ``hold`` is how long the
    alert stays firing after the reflexes acted."""
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
        am = stack.start_alertmanager(f"{ar.url}/webhook")
        say("starting Prometheus (it needs ~5 s before it sends to Alertmanager) ...")
        prom = stack.start_prometheus(
            rule_files=[example / "rules.yml"],
            scrape_targets=[svc.url.removeprefix("http://")],
            alertmanager_url=am.url,
        )
        level = f"{svc.url}/actuator/loggers/{LOGGER}"
        report.level_before = http.get(level).json()["configuredLevel"]
        say(f"alertreflex {ar.url}, Alertmanager {am.url}, Prometheus {prom.url}")

        say("the orange bucket fills up: POST /bucket?value=42")
        t0 = time.monotonic()
        http.post(f"{svc.url}/bucket", params={"value": "42"}).raise_for_status()

        def runs(trigger: str) -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = http.get(
                f"{ar.url}/api/v1/runs", params={"trigger": trigger}
            ).json()["runs"]
            return found

        def firing_done() -> bool:
            # One notification creates every reflex's firing run at once.
            found = runs("firing")
            return len(found) >= 3 and all(r["finished_at"] is not None for r in found)

        wait_for(firing_done, 60, "the three firing runs")
        report.timings["gauge_to_firing_runs_done"] = time.monotonic() - t0
        report.level_firing = http.get(level).json()["configuredLevel"]
        for r in runs("firing"):
            full = http.get(f"{ar.url}/api/v1/runs/{r['id']}").json()
            report.thread_dumps += [ar.url + a["url"] for a in full.get("artifacts", ())]
        if while_firing is not None:
            while_firing(stack, report)
        else:
            time.sleep(hold)

        say("the bucket is emptied: POST /bucket?value=0")
        http.post(f"{svc.url}/bucket", params={"value": "0"}).raise_for_status()
        wait_for(
            lambda: [
                r
                for r in runs("resolved")
                if r["reflex"] == "debug-while-orange-bucket" and r["finished_at"] is not None
            ],
            60,
            "the log level's restore (after resolve_delay)",
        )
        report.level_after = http.get(level).json()["configuredLevel"]
        report.pizza_orders = http.get(f"{svc.url}/pizza/orders").json()
        report.runs = http.get(f"{ar.url}/api/v1/runs").json()["runs"]
        report.silences = http.get(f"{am.url}/api/v2/silences").json()
        say("stopping everything the demo started ...")
    return report


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


def show(report: DemoReport) -> str:
    def lvl(v: Any) -> str:
        return "unset (inherits ROOT)" if v is None else str(v)

    lines = [
        "",
        "What happened",
        f"  thread dumps:  {len(report.thread_dumps)}",
        *(f"    {u}" for u in report.thread_dumps),
        f"  log level of {LOGGER}: before {lvl(report.level_before)}, while firing "
        f"{lvl(report.level_firing)}, after {lvl(report.level_after)}",
        f"  pizza orders:  {len(report.pizza_orders)}",
    ]
    skipped = [r for r in report.runs if r["reflex"].startswith("pizza") and r["reason"]]
    lines += [f"    (pizza run skipped: {r['reason']})" for r in skipped]
    lines += [f"    {o.get('body')}" for o in report.pizza_orders]
    lines.append("  runs:")
    lines += [
        f"    {r['reflex']:<28} {r['trigger']:<9} {r['state']:<10} {r['reason']}"
        for r in sorted(report.runs, key=lambda r: r["created_at"])
    ]
    took = report.timings.get("gauge_to_firing_runs_done")
    if took is not None:
        lines.append(f"  gauge raised -> all firing runs done: {took:.1f}s")
    return "\n".join(lines)


def main(keep: bool, workdir: str | None) -> int:
    tmp = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="alertreflex-demo-"))
    try:
        report = run_demo(tmp)
    except StackError as exc:
        print(f"alertreflex demo: {exc}", file=sys.stderr)
        print(f"logs are in {tmp}", file=sys.stderr)
        return 1
    print(show(report))
    if keep or workdir:
        print(f"\nlogs, configs and the store are in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0
