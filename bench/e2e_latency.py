"""End-to-end latency: gauge change -> Prometheus -> Alertmanager -> alertreflex -> action.

Starts the demo JVM, alertreflex, Alertmanager and Prometheus on loopback with the
fast settings (scrape and evaluation 100ms, group_wait 0s, group_interval 100ms),
then flips the orange bucket gauge up and down N times. For each flip it prints:

- gauge -> action start: from the POST that raised the gauge to the firing run's
  first step starting (both clocks are this machine's);
- Alertmanager POST -> action start: from alertreflex receiving the notification
  (the run's created_at) to the step starting, i.e. what alertreflex adds.

Usage: .venv/bin/python bench/e2e_latency.py [--flips 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from alertreflex.demo.run import EXAMPLE, start_alertreflex
from alertreflex.demo.stack import Stack, require_tools, wait_for

CONFIG = """\
reflexes:
  - name: note
    team: warehouse
    match: ['alertname="BucketTooFull_ORANGE"']
    on_firing: [{exec: {command: ["true"]}}]
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--flips", type=int, default=20)
    args = ap.parse_args()
    require_tools()
    work = Path(tempfile.mkdtemp(prefix="alertreflex-e2e-bench-"))
    (work / "alertreflex.yml").write_text(CONFIG)
    gauge_to_start: list[float] = []
    post_to_start: list[float] = []
    with Stack(work) as stack, httpx.Client(timeout=5, trust_env=False) as http:
        svc = stack.start_demo_service(EXAMPLE / "DemoService.java")
        ar = start_alertreflex(stack, work / "alertreflex.yml")
        am = stack.start_alertmanager(f"{ar.url}/webhook")
        stack.start_prometheus(
            rule_files=[EXAMPLE / "rules.yml"],
            scrape_targets=[svc.url.removeprefix("http://")],
            alertmanager_url=am.url,
        )

        def firing_runs() -> list[dict[str, Any]]:
            runs: list[dict[str, Any]] = http.get(
                f"{ar.url}/api/v1/runs", params={"trigger": "firing", "limit": "1000"}
            ).json()["runs"]
            return runs

        for flip in range(args.flips):
            before = len(firing_runs())
            t0 = time.time()
            http.post(f"{svc.url}/bucket", params={"value": "42"}).raise_for_status()
            run = wait_for(
                lambda n=before: (
                    (r := firing_runs()) and len(r) > n and r[0]["started_at"] and r[0]
                ),
                30,
                f"flip {flip + 1}'s run",
            )
            gauge_to_start.append(run["started_at"] - t0)
            post_to_start.append(run["started_at"] - run["created_at"])
            http.post(f"{svc.url}/bucket", params={"value": "0"}).raise_for_status()
            # Let Prometheus see the drop and Alertmanager send the resolved one.
            wait_for(
                lambda: http.get(f"{am.url}/api/v2/alerts", params={"active": "true"}).json() == [],
                30,
                "the alert to resolve",
            )
            time.sleep(0.3)
    print(f"e2e latency over {args.flips} flips (Prometheus/Alertmanager fast settings)")
    for name, xs in (
        ("gauge change -> action start", gauge_to_start),
        ("Alertmanager POST -> action start", post_to_start),
    ):
        ms = [x * 1000 for x in xs]
        print(f"  {name:<36} median {statistics.median(ms):8.1f} ms   max {max(ms):8.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
