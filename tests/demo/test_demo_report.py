"""What `alertreflex demo` prints and how it prepares its config (no processes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import alertreflex
from alertreflex.actions.base import load_action_types, params_models
from alertreflex.config.loader import load_config
from alertreflex.demo.run import EXAMPLE, DemoReport, StackError, all_day, show, still_running
from alertreflex.demo.run import _notification_counts as notification_counts

DUMP = """Full thread dump OpenJDK 64-Bit Server VM:

"main" #1 prio=5 os_prio=0
   java.lang.Thread.State: RUNNABLE

"orange-bucket-worker" #14 daemon prio=5
   java.lang.Thread.State: TIMED_WAITING (sleeping)
\tat java.lang.Thread.sleep(Native Method)
\tat DemoService.workerLoop(DemoService.java:237)
\tat DemoService.lambda$main$0(DemoService.java:40)
"""

ORDER = {
    "pizza": "margherita",
    "size": "family",
    "for": "team warehouse",
    "because": "BucketTooFull_ORANGE: The orange bucket holds 42 items — «now»",
}


def test_the_demo_files_are_package_data() -> None:
    """The demo reads its files from inside the package, not from a checkout's
    examples/: an installed wheel has them too (tests/deploy/test_packaging.py runs it)."""
    package = Path(alertreflex.__file__).parent
    assert package / "demo" / "files" == EXAMPLE
    assert sorted(p.name for p in EXAMPLE.iterdir()) == [
        "DemoService.java",
        "alertmanager.yml",
        "alertreflex.yml",
        "rules.yml",
    ]


def test_all_day_stretches_only_the_late_night_window(tmp_path: Path) -> None:
    """``--all-day`` widens the pizza reflex's window to the whole day and nothing else;
    the result is still a valid config with the demo's three reflexes."""
    text = (EXAMPLE / "alertreflex.yml").read_text()
    stretched = all_day(text)
    assert '{start_time: "00:00", end_time: "24:00"}' in stretched
    assert "20:00" not in stretched
    assert stretched.replace("late-night", "") != text.replace("late-night", "")
    config = tmp_path / "alertreflex.yml"
    config.write_text(stretched)
    loaded = load_config(config, params_models(load_action_types()))  # still valid
    assert set(loaded.reflexes) == {
        "threaddump-orange-bucket",
        "debug-while-orange-bucket",
        "pizza-for-the-night-shift",
    }


def test_all_day_refuses_a_config_without_the_window() -> None:
    """A config whose late-night window changed is refused, not silently left as is."""
    with pytest.raises(StackError, match="late-night window"):
        all_day("reflexes: []\n")


def test_notification_counts_read_the_metrics_exposition() -> None:
    """Accepted notifications and repeats come from alertreflex's own metrics."""
    exposition = """# HELP alertreflex_notifications_total Webhook notifications
# TYPE alertreflex_notifications_total counter
alertreflex_notifications_total{status="accepted"} 12.0
alertreflex_notifications_total{status="invalid"} 3.0
# HELP alertreflex_duplicate_notifications_total Repeats
# TYPE alertreflex_duplicate_notifications_total counter
alertreflex_duplicate_notifications_total 8.0
"""
    assert notification_counts(exposition) == (12, 8)
    assert notification_counts("") == (0, 0)


def _report(tmp_path: Path, *, orders: list[dict[str, object]] | None = None) -> DemoReport:
    dump = tmp_path / "run1-threaddump-1.txt"
    dump.write_text(DUMP)
    return DemoReport(
        alertreflex_url="http://127.0.0.1:40001",
        service_url="http://127.0.0.1:40002",
        alertmanager_url="http://127.0.0.1:40003",
        prometheus_url="http://127.0.0.1:40004",
        thread_dumps=["http://127.0.0.1:40001/api/v1/runs/run1/artifacts/threaddump-1.txt"],
        thread_dump_files=[dump],
        level_firing="DEBUG",
        pizza_orders=orders or [],
        runs=[
            {
                "reflex": "pizza-for-the-night-shift",
                "trigger": "firing",
                "state": "skipped",
                "reason": "outside active_time_intervals (late-night)",
                "created_at": 1.0,
            }
        ],
        notifications=6,
        repeats=4,
    )


def test_show_names_the_dumps_the_worker_levels_and_the_skipped_pizza(
    tmp_path: Path,
) -> None:
    """The report names the kept dump files, quotes the worker thread, gives the log
    level before, while firing and after, and says why the pizza was skipped."""
    out = show(_report(tmp_path))
    assert str(tmp_path / "run1-threaddump-1.txt") in out
    assert '"orange-bucket-worker" #14' in out
    assert "DemoService.workerLoop" in out
    assert "before unset (inherits ROOT), while firing DEBUG, after unset" in out
    assert "pizza run skipped: outside active_time_intervals (late-night)" in out
    assert "--all-day" in out
    assert "6 from Alertmanager, 4 of them repeats" in out


def test_show_does_not_name_files_that_are_removed(tmp_path: Path) -> None:
    """Without --keep the copies go at the end: the report does not name them, says
    so, and (the stack being stopped) does not give the dumps' URLs either."""
    out = show(_report(tmp_path), kept=False)
    assert str(tmp_path) not in out
    assert "--keep keeps it" in out
    assert '"orange-bucket-worker" #14' in out
    assert "/artifacts/" not in out


def test_show_gives_the_dumps_urls_while_alertreflex_runs(tmp_path: Path) -> None:
    """While the demo keeps running, the dumps are links into alertreflex."""
    out = show(_report(tmp_path), kept=False, up=True)
    assert "    http://127.0.0.1:40001/api/v1/runs/run1/artifacts/threaddump-1.txt" in out


def test_show_prints_the_pizza_order_as_the_json_the_api_received(tmp_path: Path) -> None:
    """The order is the JSON body the pizza API got, readable (indented, not escaped),
    with the Idempotency-Key the http step sent; not a Python dict's repr."""
    order = {"id": 1, "received_at": "x", "idempotency_key": "run-1", "body": ORDER}
    out = show(_report(tmp_path, orders=[order]))
    lines = out.splitlines()
    head = lines.index("    order 1, as POST /pizza/orders received it (Idempotency-Key: run-1):")
    block = []
    for line in lines[head + 1 :]:
        if not line.startswith("      "):
            break
        block.append(line)
    assert json.loads("\n".join(block)) == ORDER
    assert "«now»" in out and "'pizza'" not in out


def test_still_running_gives_the_ui_url_and_how_to_stop(tmp_path: Path) -> None:
    """The closing lines give the UI's URL, the other parts', how to act again and
    that Ctrl-C stops it all; with --keep, where the files stay."""
    report = _report(tmp_path)
    out = still_running(report, None)
    assert "the UI, with the runs above:  http://127.0.0.1:40001/" in out
    assert "Alertmanager http://127.0.0.1:40003/, Prometheus http://127.0.0.1:40004/" in out
    assert "curl -XPOST 'http://127.0.0.1:40002/bucket?value=42'" in out
    assert "Ctrl-C stops it all" in out
    assert str(tmp_path) not in out
    assert f"{tmp_path} (kept after Ctrl-C)" in still_running(report, tmp_path)
