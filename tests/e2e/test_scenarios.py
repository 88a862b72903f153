"""The three motivating reflexes end to end: the real demo JVM, a real Prometheus
scraping it and a real Alertmanager calling a real alertreflex (alertreflex.demo.run,
the code behind `alertreflex demo`), plus am_silence against that Alertmanager."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from alertreflex.demo.run import EXAMPLE, DemoReport, all_day, run_demo, show
from alertreflex.demo.stack import Stack

# The example's reflexes, with the pizza window covering the whole day (the test must
# not depend on the hour) and an am_silence reflex.
CONFIG = (
    all_day((EXAMPLE / "alertreflex.yml").read_text())
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
    """Two episodes of the alert, Alertmanager repeating its notification every second.

    Each episode: two thread dumps holding the worker thread, DEBUG while firing and
    the previous level after, a silence visible in Alertmanager and expired on
    resolve. One pizza order in all: repeats change nothing, and the second episode's
    pizza run is skipped by the cooldown, which the report gives as 12h. A Prometheus
    reload while firing neither restores nor sets the level again, nor orders a second
    pizza. At the end, before it stops, the UI and the service still answer."""
    seen: list[dict[str, object]] = []

    def during(stack: Stack, report: DemoReport) -> None:
        assert stack.alertmanager is not None
        am = stack.alertmanager.url
        now: dict[str, object] = {}
        silences = httpx.get(f"{am}/api/v2/silences", timeout=5).json()
        now["silences"] = [s for s in silences if s["status"]["state"] == "active"]
        now["dumps"] = [httpx.get(u, timeout=5).text for u in report.thread_dumps]
        if not seen:
            stack.reload_prometheus()  # Prometheus forgets its Alertmanagers for seconds
        time.sleep(2.5)  # a few of Alertmanager's repeats
        now["orders"] = len(httpx.get(f"{report.service_url}/pizza/orders", timeout=5).json())
        level = httpx.get(
            f"{report.service_url}/actuator/loggers/com.example.orange", timeout=5
        ).json()
        now["level"] = level["configuredLevel"]
        seen.append(now)

    at_end: list[int] = []

    def still_up(stack: Stack, report: DemoReport) -> None:
        # What `alertreflex demo` keeps up for a look: the UI with the runs, the service.
        page = httpx.get(f"{report.alertreflex_url}/", timeout=5)
        assert page.status_code == 200 and "threaddump-orange-bucket" in page.text
        at_end.append(len(httpx.get(f"{report.service_url}/pizza/orders", timeout=5).json()))

    report = run_demo(
        tmp_path,
        say=lambda _: None,
        config_text=CONFIG,
        flips=2,
        repeat_interval="1s",
        while_firing=during,
        at_end=still_up,
    )

    assert len(seen) == 2
    assert len(report.thread_dumps) == 4
    dumps = seen[1]["dumps"]
    assert isinstance(dumps, list) and len(dumps) == 4
    assert all('"orange-bucket-worker"' in d for d in dumps)
    assert (report.level_before, report.level_firing, report.level_after) == (
        None,
        "DEBUG",
        None,
    )
    assert [s["level"] for s in seen] == ["DEBUG", "DEBUG"]
    assert [s["orders"] for s in seen] == [1, 1]
    assert len(report.pizza_orders) == 1
    assert report.pizza_orders[0]["idempotency_key"]
    assert report.repeats >= 2, report  # Alertmanager did repeat itself
    for now in seen:
        active = now["silences"]
        assert isinstance(active, list) and len(active) == 1
        assert active[0]["createdBy"] == "alertreflex"
        assert "alertreflex run " in active[0]["comment"]
        assert "quiet-while-fixing" in active[0]["comment"]
    by_reflex: dict[str, list[tuple[str, str]]] = {}
    for r in sorted(report.runs, key=lambda r: r["created_at"]):
        by_reflex.setdefault(r["reflex"], []).append((r["trigger"], r["state"]))
    # One firing run per reflex and episode: no extra dump, no re-set after the reload.
    assert by_reflex["threaddump-orange-bucket"] == [("firing", "succeeded")] * 2
    # The max_duration restore run queued with each firing run is skipped by the resolve.
    assert (
        by_reflex["debug-while-orange-bucket"]
        == [
            ("firing", "succeeded"),
            ("restore", "skipped"),
            ("resolved", "succeeded"),
        ]
        * 2
    ), by_reflex
    assert by_reflex["pizza-for-the-night-shift"] == [
        ("firing", "succeeded"),
        ("firing", "skipped"),
    ]
    pizza = [r for r in report.runs if r["reflex"] == "pizza-for-the-night-shift"]
    assert any(r["reason"].startswith("cooldown:") for r in pizza), pizza
    ours = [s for s in report.silences if s["createdBy"] == "alertreflex"]
    assert [s["status"]["state"] for s in ours] == ["expired", "expired"]
    assert at_end == [1]
    with pytest.raises(httpx.ConnectError):  # stopped once at_end returned
        httpx.get(f"{report.alertreflex_url}/-/healthy", timeout=5)
    # The report gives durations as written in the config, not in seconds.
    out = show(report)
    assert "cooldown is 12h" in out and "43200s" not in out, out
