"""log_level and jvm_thread_dump on a real server against the real demo JVM
(src/alertreflex/demo/files/DemoService.java, compiled with javac for this module): DEBUG while
an alert fires and back after, max_duration, restarts, shutdown, flaps, and thread
dumps stored as artifacts."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from alertreflex.demo.run import EXAMPLE
from alertreflex.demo.stack import Stack
from tests.conftest import BIN
from tests.payloads import alert, notification

SOURCE = EXAMPLE / "DemoService.java"
LOGGER = "com.example.orange"


class Demo:
    def __init__(self, url: str, proc: subprocess.Popen[bytes]) -> None:
        self.url = url
        self.proc = proc

    def level(self, logger: str = LOGGER) -> Any:
        return httpx.get(f"{self.url}/actuator/loggers/{logger}", timeout=5).json()[
            "configuredLevel"
        ]

    def set_level(self, level: str | None, logger: str = LOGGER) -> None:
        r = httpx.post(
            f"{self.url}/actuator/loggers/{logger}", json={"configuredLevel": level}, timeout=5
        )
        r.raise_for_status()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    assert shutil.which("jcmd"), "jcmd is needed: apt-get install openjdk-17-jdk-headless"
    with Stack(tmp_path_factory.mktemp("demo")) as stack:
        proc = stack.start_demo_service(SOURCE)
        yield Demo(proc.url, proc.popen)


@pytest.fixture
def fresh(demo: Demo) -> Demo:
    demo.set_level(None)
    return demo


def _labels(demo: Demo, name: str = "BucketTooFull_ORANGE") -> dict[str, str]:
    return {"alertname": name, "team": "warehouse", "instance": demo.url.removeprefix("http://")}


def _debug_reflex(extra: str = "", params: str = "") -> str:
    return f"""\
reflexes:
  - name: debug-while-firing
    team: warehouse
    match: ['alertname="BucketTooFull_ORANGE"']
{extra}    on_firing:
      - log_level:
          url: "http://{{{{ alert.labels.instance }}}}/actuator/loggers"
          logger: {LOGGER}
          level: DEBUG
{params}"""


def test_debug_while_firing_then_exactly_the_previous_level(make_server, fresh: Demo) -> None:  # type: ignore[no-untyped-def]
    """Firing sets DEBUG; resolved puts back 'unset' (inherited), with no on_resolved."""
    srv = make_server(_debug_reflex())
    labels = _labels(fresh)
    srv.post(notification(alert(labels)))
    run = srv.wait_runs(1, trigger="firing")[0]
    assert fresh.level() == "DEBUG"
    assert srv.run(run["id"])["steps"][0]["summary"] == "unset (inherited) -> DEBUG"
    srv.post(notification(alert(labels, status="resolved")))
    resolved = srv.wait_runs(1, trigger="resolved")[0]
    assert fresh.level() is None
    step = srv.run(resolved["id"])["steps"][0]
    assert step["name"] == "restore log_level"
    assert step["summary"] == "DEBUG -> unset (inherited) (restored)"


def test_a_level_changed_meanwhile_is_left_alone_and_reported(make_server, fresh: Demo) -> None:  # type: ignore[no-untyped-def]
    """If the level is no longer the one set (the service restarted at its default,
    or someone changed it), restoring leaves it and says so without failing."""
    fresh.set_level("WARN")
    srv = make_server(_debug_reflex())
    labels = _labels(fresh)
    srv.post(notification(alert(labels)))
    srv.wait_runs(1, trigger="firing")
    fresh.set_level("INFO")  # what a restarted service configured at INFO would show
    srv.post(notification(alert(labels, status="resolved")))
    resolved = srv.wait_runs(1, trigger="resolved")[0]
    step = srv.run(resolved["id"])["steps"][0]
    assert step["outcome"] == "succeeded" and step["summary"].startswith("not restored:")
    assert step["details"]["restored"] is False
    assert fresh.level() == "INFO"


def test_max_duration_restores_while_still_firing(make_server, fresh: Demo) -> None:  # type: ignore[no-untyped-def]
    """After max_duration a restore run puts the level back although the alert
    fires on; the later resolved run finds nothing left to restore."""
    srv = make_server(_debug_reflex(params="          max_duration: 1s\n"))
    labels = _labels(fresh)
    srv.post(notification(alert(labels)))
    srv.wait_runs(1, trigger="firing")
    assert fresh.level() == "DEBUG"
    restore = srv.wait_runs(1, trigger="restore", timeout=10)[0]
    assert fresh.level() is None
    srv.post(notification(alert(labels, status="resolved")))
    resolved = srv.wait_runs(1, trigger="resolved")[0]
    summary = srv.run(resolved["id"])["steps"][0]["summary"]
    assert summary == f"nothing to restore: run {restore['id']} already restored it"


def test_a_clean_shutdown_restores_what_it_changed(
    make_server, fresh: Demo, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """SIGTERM with the alert still firing: the level is put back before exit, in a
    restore run recorded in the store."""
    srv = make_server(_debug_reflex())
    srv.post(notification(alert(_labels(fresh))))
    srv.wait_runs(1, trigger="firing")
    assert fresh.level() == "DEBUG"
    assert srv.stop() == 0
    assert fresh.level() is None
    conn = sqlite3.connect(srv.db)
    rows = conn.execute("SELECT trigger, state FROM runs ORDER BY created_at").fetchall()
    conn.close()
    assert rows == [("firing", "succeeded"), ("restore", "succeeded")]


def test_a_replica_that_stops_leaves_the_restore_to_the_others(  # type: ignore[no-untyped-def]
    make_server, fresh: Demo, shared_storage: str
) -> None:
    """On a shared store the other replicas still handle the alert: a clean stop
    restores nothing, and the replica that gets the resolved notification does."""
    a = make_server(_debug_reflex(), storage=shared_storage)
    b = make_server(_debug_reflex(), storage=shared_storage)
    labels = _labels(fresh)
    a.post(notification(alert(labels)))
    a.wait_runs(1, trigger="firing")
    assert fresh.level() == "DEBUG"
    assert a.stop() == 0
    assert fresh.level() == "DEBUG"
    b.post(notification(alert(labels, status="resolved")))
    b.wait_runs(1, trigger="resolved")
    assert fresh.level() is None
    assert [r["trigger"] for r in b.runs()] == ["resolved", "firing"]


def test_a_flap_neither_restores_nor_sets_again(make_server, fresh: Demo) -> None:  # type: ignore[no-untyped-def]
    """Resolved and firing again (same startsAt) within resolve_delay, as after a
    Prometheus reload: the level stays DEBUG throughout and is set once; the real
    resolve later restores it."""
    srv = make_server(_debug_reflex(extra="    resolve_delay: 2s\n"))
    labels = _labels(fresh)
    srv.post(notification(alert(labels)))
    srv.wait_runs(1, trigger="firing")
    srv.post(notification(alert(labels, status="resolved")))
    time.sleep(0.3)
    srv.post(notification(alert(labels)))
    time.sleep(2.5)
    assert fresh.level() == "DEBUG"
    states = sorted((r["trigger"], r["state"]) for r in srv.runs())
    assert states == [("firing", "succeeded"), ("resolved", "skipped")]
    srv.post(notification(alert(labels, status="resolved")))
    srv.wait_runs(1, trigger="resolved", timeout=10)
    assert fresh.level() is None


def test_thread_dumps_by_pid_are_artifacts_with_the_worker_thread(make_server, demo: Demo) -> None:  # type: ignore[no-untyped-def]
    """Two dumps by pid, 200 ms apart: two artifacts holding the demo's named worker
    thread, downloadable from the API and listed by `alertreflex runs --show`."""
    srv = make_server("""\
reflexes:
  - name: dump
    team: warehouse
    match: []
    on_firing:
      - jvm_thread_dump: {pid: "{{ alert.labels.pid }}", count: 2, interval: 200ms}
""")
    srv.post(notification(alert({**_labels(demo), "pid": str(demo.proc.pid)})))
    run = srv.run(srv.wait_runs(1)[0]["id"])
    names = [a["name"] for a in run["artifacts"]]
    assert names == ["threaddump-1.txt", "threaddump-2.txt"]
    assert run["steps"][0]["artifacts"][0]["name"] == "threaddump-1.txt"
    body = httpx.get(srv.url + run["artifacts"][1]["url"], timeout=5)
    assert body.status_code == 200 and body.headers["content-type"].startswith("text/plain")
    assert '"orange-bucket-worker"' in body.text
    shown = subprocess.run(
        [str(BIN), "runs", "--url", srv.url, "--show", run["id"]],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "artifact threaddump-2.txt" in shown
    assert f"{srv.url}/api/v1/runs/{run['id']}/artifacts/threaddump-2.txt" in shown
    missing = httpx.get(f"{srv.url}/api/v1/runs/{run['id']}/artifacts/nope", timeout=5)
    assert missing.status_code == 404


def test_thread_dumps_by_main_class_and_over_http(make_server, demo: Demo) -> None:  # type: ignore[no-untyped-def]
    """main_class finds the JVM through `jcmd -l`; url fetches the actuator's text
    dump; a main_class matching nothing fails and says what jcmd listed."""
    srv = make_server(f"""\
reflexes:
  - name: by-class
    team: warehouse
    match: ['alertname="A"']
    on_firing: [{{jvm_thread_dump: {{main_class: "^DemoService"}}}}]
  - name: by-url
    team: warehouse
    match: ['alertname="B"']
    on_firing: [{{jvm_thread_dump: {{url: "{demo.url}/actuator/threaddump"}}}}]
  - name: no-such-class
    team: warehouse
    match: ['alertname="C"']
    on_firing: [{{jvm_thread_dump: {{main_class: "NoSuchMain"}}}}]
""")
    for name in ("A", "B", "C"):
        srv.post(notification(alert({**_labels(demo), "alertname": name})))
    srv.wait_runs(2)
    failed = srv.wait_runs(1, states=("failed",))[0]
    assert failed["reflex"] == "no-such-class"
    assert "must match exactly one JVM in `jcmd -l`, matched 0" in failed["reason"]
    for run in srv.runs():
        if run["reflex"] == "no-such-class":
            continue
        full = srv.run(run["id"])
        dump = httpx.get(srv.url + full["artifacts"][0]["url"], timeout=5).text
        assert "orange-bucket-worker" in dump, run["reflex"]


def test_thread_dump_over_http_fails_clearly(make_server, demo: Demo) -> None:  # type: ignore[no-untyped-def]
    """The url form reports the status, a refused connection after its retries, and
    refuses a header that rendered alert data would split, before sending anything."""
    srv = make_server(f"""\
reflexes:
  - name: not-found
    team: warehouse
    match: ['alertname="A"']
    on_firing: [{{jvm_thread_dump: {{url: "{demo.url}/actuator/no-threaddump"}}}}]
  - name: refused
    team: warehouse
    match: ['alertname="B"']
    on_firing: [{{jvm_thread_dump: {{url: "http://127.0.0.1:9/td", retries: 1}}}}]
  - name: injected
    team: warehouse
    match: ['alertname="C"']
    on_firing:
      - jvm_thread_dump:
          url: "{demo.url}/actuator/threaddump"
          headers: {{X-Who: "{{{{ alert.labels.who }}}}"}}
""")
    srv.post(notification(alert({**_labels(demo), "alertname": "A"})))
    srv.post(notification(alert({**_labels(demo), "alertname": "B"})))
    srv.post(notification(alert({**_labels(demo), "alertname": "C", "who": "x\r\nEvil: 1"})))
    failed = {r["reflex"]: r for r in srv.wait_runs(3, states=("failed",), timeout=30)}
    assert "/actuator/no-threaddump: HTTP 404 after 1 attempt" in failed["not-found"]["reason"]
    assert "connection refused after 2 attempts" in failed["refused"]["reason"]
    assert "must not contain CR, LF or NUL" in failed["injected"]["reason"]
    for run in failed.values():
        assert srv.run(run["id"])["artifacts"] == []


def test_pause_still_restores_the_level(make_server, fresh: Demo) -> None:  # type: ignore[no-untyped-def]
    """Paused after the level went to DEBUG: the resolve puts it back all the same
    (only the restore runs), so a pause never leaves a service at DEBUG."""
    srv = make_server(_debug_reflex())
    labels = _labels(fresh)
    srv.post(notification(alert(labels)))
    srv.wait_runs(1)
    assert fresh.level() == "DEBUG"
    resp = httpx.post(
        f"{srv.url}/api/v1/pause", json={"reason": "incident review", "by": "ann"}, timeout=5
    )
    assert resp.status_code == 200
    srv.post(notification(alert(labels, status="resolved")))
    (resolved,) = srv.wait_runs(1, trigger="resolved")
    assert fresh.level() is None
    assert resolved["reason"] == "paused by ann: incident review: only restores ran"
    # A new episode while paused changes nothing.
    srv.post(notification(alert(labels, starts_at="2026-11-25T04:00:00Z")))
    skipped = srv.wait_runs(1, states=("skipped",), trigger="firing")
    assert skipped[0]["reason"] == "paused by ann: incident review"
    assert fresh.level() is None
