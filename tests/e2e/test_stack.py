"""End-to-end: real Prometheus and Alertmanager started by alertreflex.demo.stack."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from alertreflex.demo.stack import (
    Proc,
    Stack,
    StackError,
    check_tools,
    free_port,
    wait_for,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "src" / "alertreflex" / "demo" / "files"
DEMO_SOURCE = EXAMPLE / "DemoService.java"
TOKEN = "e2e-s3cret"

ALWAYS_RULES = """\
groups:
  - name: e2e
    rules:
      - alert: AlwaysFiring
        expr: vector(1)
        labels:
          team: test
        annotations:
          summary: always firing
"""

RELOADED_RULES = (
    ALWAYS_RULES
    + """\
      - alert: AddedByReload
        expr: vector(1)
        labels:
          team: test
"""
)


def require_tools() -> None:
    missing = [t for t in check_tools() if t.found is None]
    if missing:
        pytest.fail("end-to-end tests need:\n" + "\n".join(str(t) for t in missing))


@dataclass
class Received:
    body: dict[str, Any]
    headers: dict[str, str]


class Receiver:
    """A webhook receiver in a thread: collects every POST body, answers 200."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer._lock:
                    outer.received.append(Received(json.loads(raw), dict(self.headers)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def alerts(self, alertname: str, status: str = "firing") -> list[Received]:
        with self._lock:
            return [
                r
                for r in self.received
                if any(
                    a["labels"].get("alertname") == alertname and a["status"] == status
                    for a in r.body["alerts"]
                )
            ]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Running:
    stack: Stack
    receiver: Receiver
    alertmanager: Proc
    prometheus: Proc
    rules: Path


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """Alertmanager (webhook to a Receiver) and Prometheus with an always-firing rule."""
    require_tools()
    workdir = tmp_path_factory.mktemp("stack")
    rules = workdir / "rules.yml"
    rules.write_text(ALWAYS_RULES)
    receiver = Receiver()
    try:
        with Stack(workdir) as stack:
            am = stack.start_alertmanager(receiver.url, bearer_token=TOKEN)
            prom = stack.start_prometheus(
                rule_files=[rules],
                scrape_targets=[f"127.0.0.1:{am.port}"],
                alertmanager_url=am.url,
            )
            yield Running(stack, receiver, am, prom, rules)
    finally:
        receiver.close()


def python_server(script: str = "") -> list[str]:
    """argv of a Python HTTP server on the port given as its last argument."""
    code = (
        "import signal, sys\n"
        "from http.server import HTTPServer, SimpleHTTPRequestHandler\n"
        f"{script}\n"
        "HTTPServer(('127.0.0.1', int(sys.argv[1])), SimpleHTTPRequestHandler).serve_forever()\n"
    )
    return [sys.executable, "-c", code]


def test_firing_alert_reaches_webhook(running: Running) -> None:
    """An always-firing rule arrives at the webhook as a real Alertmanager v4 notification."""
    got = wait_for(lambda: running.receiver.alerts("AlwaysFiring"), 10, "AlwaysFiring webhook")
    body, headers = got[0].body, got[0].headers
    assert body["version"] == "4"
    assert body["status"] == "firing"
    assert body["receiver"] == "alertreflex"
    assert body["externalURL"] == running.alertmanager.url
    assert body["groupLabels"] == {"alertname": "AlwaysFiring"}
    (alert,) = body["alerts"]
    assert alert["labels"] == {"alertname": "AlwaysFiring", "team": "test"}
    assert alert["annotations"] == {"summary": "always firing"}
    assert alert["status"] == "firing"
    assert len(alert["fingerprint"]) == 16
    assert alert["generatorURL"].startswith(running.prometheus.url)
    assert headers["Authorization"] == f"Bearer {TOKEN}"


def test_prometheus_scrapes_the_demo_job(running: Running) -> None:
    """The scrape job 'demo' reaches its targets (here: the Alertmanager's /metrics)."""

    def up() -> list[Any]:
        resp = httpx.get(
            f"{running.prometheus.url}/api/v1/query", params={"query": 'up{job="demo"} == 1'}
        )
        result: list[Any] = resp.json()["data"]["result"]
        return result

    (series,) = wait_for(up, 10, "up{job='demo'} == 1")
    assert series["metric"]["instance"] == f"127.0.0.1:{running.alertmanager.port}"


def test_reload_prometheus_reads_new_rules(running: Running) -> None:
    """A bad rule file makes the reload fail loudly; a good one brings a new alert."""
    running.rules.write_text("groups: [{name: broken, rules: [{alert: X, expr: 'vector('}]}]")
    with pytest.raises(StackError, match=r"reload failed: HTTP 500") as info:
        running.stack.reload_prometheus()
    assert str(running.prometheus.log_path) in str(info.value)

    running.rules.write_text(RELOADED_RULES)
    running.stack.reload_prometheus()
    assert running.stack.active_alertmanagers()
    wait_for(lambda: running.receiver.alerts("AddedByReload"), 10, "AddedByReload webhook")


def test_stack_stops_every_process_on_exit(tmp_path: Path) -> None:
    """Leaving the with-block, even by an exception, stops everything the stack started."""
    require_tools()
    with pytest.raises(ZeroDivisionError), Stack(tmp_path) as stack:  # noqa: PT012
        am = stack.start_alertmanager("http://127.0.0.1:9/webhook")
        port = free_port()
        web = stack.start("web", [*python_server(), str(port)], f"http://127.0.0.1:{port}/")
        assert web.url == f"http://127.0.0.1:{port}"
        assert [p.name for p in stack.procs] == ["alertmanager", "web"]
        1 / 0  # noqa: B018
    assert am.popen.poll() is not None
    assert web.popen.poll() is not None
    assert stack.procs == []


def test_stop_kills_a_process_that_ignores_sigterm(tmp_path: Path) -> None:
    """A process that ignores SIGTERM is killed once the grace period is over."""
    port = free_port()
    argv = [*python_server("signal.signal(signal.SIGTERM, signal.SIG_IGN)"), str(port)]
    with Stack(tmp_path) as stack:
        proc = stack.start("stubborn", argv, f"http://127.0.0.1:{port}/")
        assert stack.stop(proc, timeout=0.3) == -9


def test_bad_alertmanager_config_names_the_log(tmp_path: Path) -> None:
    """Alertmanager refusing its config is a StackError with the log path and its last lines."""
    require_tools()
    with Stack(tmp_path) as stack, pytest.raises(StackError) as info:
        stack.start_alertmanager("http://127.0.0.1:9/webhook", group_interval="soon")
    message = str(info.value)
    assert "alertmanager exited with code 1 before it was ready" in message
    assert str(tmp_path / "alertmanager.log") in message
    assert 'not a valid duration string: \\"soon\\"' in message


def test_process_exiting_early_reports_code_and_log(tmp_path: Path) -> None:
    """A process that exits before it is ready gives its exit code and its output."""
    argv = [sys.executable, "-c", "print('cannot bind'); raise SystemExit(3)"]
    with Stack(tmp_path) as stack, pytest.raises(StackError) as info:
        stack.start("early", argv, f"http://127.0.0.1:{free_port()}/")
    assert "early exited with code 3 before it was ready" in str(info.value)
    assert str(tmp_path / "early.log") in str(info.value)
    assert "cannot bind" in str(info.value)


def test_ready_timeout_names_url_and_log(tmp_path: Path) -> None:
    """A process that never answers its ready URL times out with a clear message."""
    argv = [sys.executable, "-c", "print('still starting'); import time; time.sleep(60)"]
    url = f"http://127.0.0.1:{free_port()}/-/ready"
    with Stack(tmp_path) as stack:
        with pytest.raises(StackError, match=r"slow not ready after 0.5s: GET .*/-/ready") as info:
            stack.start("slow", argv, url, timeout=0.5)
        assert "still starting" in str(info.value)
        (proc,) = stack.procs
    assert proc.popen.poll() is not None


def test_missing_program_gives_the_install_hint(tmp_path: Path) -> None:
    """A missing program is reported with its Debian package, not a bare FileNotFoundError."""
    with (
        Stack(tmp_path) as stack,
        pytest.raises(StackError, match=r"\(install with: apt-get install prometheus\)$"),
    ):
        stack.start("p", ["/nonexistent/prometheus"], "http://127.0.0.1:9/")


def test_check_tools_reports_missing_with_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    """check_tools gives found=None and the package to install for each missing program."""
    monkeypatch.setenv("PATH", "/nonexistent")
    tools = {t.name: t for t in check_tools()}
    assert set(tools) == {"prometheus", "prometheus-alertmanager", "java", "javac", "jcmd"}
    assert all(t.found is None for t in tools.values())
    assert tools["prometheus"].install_hint == "apt-get install prometheus"
    assert (
        tools["prometheus-alertmanager"].install_hint == "apt-get install prometheus-alertmanager"
    )
    assert tools["jcmd"].install_hint == "apt-get install openjdk-17-jdk-headless"


def test_wait_for_returns_value_or_times_out() -> None:
    """wait_for returns the first truthy value, or says what it waited for."""
    values = iter([None, [], [1]])
    assert wait_for(lambda: next(values), 5, "values", interval=0) == [1]
    with pytest.raises(StackError, match=r"^timed out after 0.1s waiting for Godot$"):
        wait_for(lambda: None, 0.1, "Godot")


def test_demo_service_starts(tmp_path: Path) -> None:
    """The demo Java service compiles, starts on its port and answers /-/healthy."""
    require_tools()
    with Stack(tmp_path) as stack:
        demo = stack.start_demo_service(DEMO_SOURCE)
        assert httpx.get(f"{demo.url}/-/healthy").status_code == 200
        assert f"demo service listening on {demo.url}" in demo.log_path.read_text()
        assert stack.demo_service_log.exists()
    assert demo.popen.poll() is not None


def _amtool_check(path: Path) -> None:
    done = subprocess.run(
        ["amtool", "check-config", str(path)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_demo_alertmanager_config(tmp_path: Path) -> None:
    """src/alertreflex/demo/files/alertmanager.yml passes amtool as shipped and as the demo rewrites
    it; the Alertmanager started with it runs the rewritten URL and repeat_interval."""
    shipped = EXAMPLE / "alertmanager.yml"
    _amtool_check(shipped)
    doc = yaml.safe_load(shipped.read_text())
    assert doc["receivers"][0]["webhook_configs"][0]["send_resolved"] is True
    with Stack(tmp_path) as stack:
        am = stack.start_alertmanager("http://127.0.0.1:9/hook", repeat_interval="1s", config=doc)
        _amtool_check(tmp_path / "alertmanager.yml")
        running = httpx.get(f"{am.url}/api/v2/status", timeout=5).json()["config"]["original"]
    assert "url: http://127.0.0.1:9/hook" in running
    assert "repeat_interval: 1s" in running
    assert doc == yaml.safe_load(shipped.read_text())  # the caller's copy is untouched


def test_alertmanager_config_without_a_webhook_is_refused(tmp_path: Path) -> None:
    with Stack(tmp_path) as stack, pytest.raises(StackError, match="webhook_config"):
        stack.start_alertmanager("http://127.0.0.1:9/hook", config={"route": {}})
