"""The three motivating reflexes end to end: the real demo JVM, a real Prometheus
scraping it and a real Alertmanager calling a real alertreflex (alertreflex.demo.run,
the code behind `alertreflex demo`), plus am_silence against that Alertmanager."""

from __future__ import annotations

from pathlib import Path

import httpx

from alertreflex.demo.run import EXAMPLE, DemoReport, run_demo
from alertreflex.demo.stack import Stack

# The example's reflexes, with the pizza window covering the whole day (the test must
# not depend on the hour) and an am_silence reflex.
CONFIG = (
    (EXAMPLE / "alertreflex.yml")
    .read_text()
    .replace(
        'times: [{start_time: "20:00", end_time: "24:00"}, {start_time: "00:00", end_time: "06:00"}]',
        'times: [{start_time: "00:00", end_time: "24:00"}]',
    )
    + """
  - name: quiet-while-fixing
    team: warehouse
    match: ['alertname="BucketTooFull_ORANGE"']
    on_firing:
      - am_silence:
          url: "{{ notification.external_url }}"
          duration: 10m
          # The pager's alert, not this one: a silence mutes every receiver, so
          # silencing this alert would also hold back its resolved notification.
          matchers: ['alertname="OrangeBucketPage"', 'team="warehouse"']
          comment: the demo is fixing it
"""
)


def test_thread_dump_debug_while_firing_one_pizza_and_a_silence(tmp_path: Path) -> None:
    """Gauge up: two thread dumps holding the worker thread, DEBUG, one pizza order, a
    silence visible in Alertmanager. A Prometheus reload while firing neither restores
    nor sets the level again, nor orders a second pizza. Gauge down: the level is back
    to what it was and the silence is expired."""
    seen: dict[str, object] = {}

    def during(stack: Stack, report: DemoReport) -> None:
        assert stack.alertmanager is not None
        am = stack.alertmanager.url
        silences = httpx.get(f"{am}/api/v2/silences", timeout=5).json()
        active = [s for s in silences if s["status"]["state"] == "active"]
        seen["silences"] = active
        seen["dumps"] = [httpx.get(u, timeout=5).text for u in report.thread_dumps]
        stack.reload_prometheus()  # Prometheus forgets its Alertmanagers for seconds
        orders = httpx.get(f"{report.service_url}/pizza/orders", timeout=5).json()
        seen["orders_after_reload"] = len(orders)
        level = httpx.get(
            f"{report.service_url}/actuator/loggers/com.example.orange", timeout=5
        ).json()
        seen["level_after_reload"] = level["configuredLevel"]

    report = run_demo(tmp_path, say=lambda _: None, config_text=CONFIG, while_firing=during)

    assert len(report.thread_dumps) == 2
    dumps = seen["dumps"]
    assert isinstance(dumps, list) and all('"orange-bucket-worker"' in d for d in dumps)
    assert (report.level_before, report.level_firing, report.level_after) == (
        None,
        "DEBUG",
        None,
    )
    assert seen["level_after_reload"] == "DEBUG"
    assert len(report.pizza_orders) == 1 and seen["orders_after_reload"] == 1
    assert report.pizza_orders[0]["idempotency_key"]
    silences = seen["silences"]
    assert isinstance(silences, list) and len(silences) == 1
    assert silences[0]["createdBy"] == "alertreflex"
    assert "alertreflex run " in silences[0]["comment"]
    assert "quiet-while-fixing" in silences[0]["comment"]
    by_reflex: dict[str, list[tuple[str, str]]] = {}
    for r in report.runs:
        by_reflex.setdefault(r["reflex"], []).append((r["trigger"], r["state"]))
    # One firing run per reflex: no second dump, no re-set, no second pizza.
    for name in (
        "threaddump-orange-bucket",
        "debug-while-orange-bucket",
        "pizza-for-the-night-shift",
    ):
        assert by_reflex[name].count(("firing", "succeeded")) == 1, by_reflex
    assert ("resolved", "succeeded") in by_reflex["debug-while-orange-bucket"]
    assert ("resolved", "succeeded") in by_reflex["quiet-while-fixing"]
    ours = [s for s in report.silences if s["createdBy"] == "alertreflex"]
    assert [s["status"]["state"] for s in ours] == ["expired"]
