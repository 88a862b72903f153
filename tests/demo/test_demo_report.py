"""What `alertreflex demo` prints and how it prepares its config (no processes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from alertreflex.actions.base import load_action_types, params_models
from alertreflex.config.loader import load_config
from alertreflex.demo.run import EXAMPLE, DemoReport, StackError, all_day, show
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


def test_all_day_stretches_only_the_late_night_window(tmp_path: Path) -> None:
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
    with pytest.raises(StackError, match="late-night window"):
        all_day("reflexes: []\n")


def test_notification_counts_read_the_metrics_exposition() -> None:
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


def _report(tmp_path: Path) -> DemoReport:
    dump = tmp_path / "run1-threaddump-1.txt"
    dump.write_text(DUMP)
    return DemoReport(
        thread_dumps=["http://x/api/v1/runs/run1/artifacts/threaddump-1.txt"],
        thread_dump_files=[dump],
        level_firing="DEBUG",
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
    out = show(_report(tmp_path))
    assert str(tmp_path / "run1-threaddump-1.txt") in out
    assert '"orange-bucket-worker" #14' in out
    assert "DemoService.workerLoop" in out
    assert "before unset (inherits ROOT), while firing DEBUG, after unset" in out
    assert "pizza run skipped: outside active_time_intervals (late-night)" in out
    assert "--all-day" in out
    assert "6 from Alertmanager, 4 of them repeats" in out


def test_show_does_not_name_files_that_are_removed(tmp_path: Path) -> None:
    out = show(_report(tmp_path), kept=False)
    assert str(tmp_path) not in out
    assert "--keep keeps it" in out
    assert '"orange-bucket-worker" #14' in out
