"""The demo's Java service (alertreflex/demo/files/DemoService.java), compiled and run for real.

These tests need a JDK 17 (java, javac, jcmd) and promtool on PATH; without them they
fail with a message saying so, they do not skip.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from alertreflex.demo.run import EXAMPLE

SOURCE = EXAMPLE / "DemoService.java"
RULES = EXAMPLE / "rules.yml"

ORANGE = "com.example.orange"
GAUGE = "service_scs_ops_orange_bucket_gauge_max"
SETTLE = 0.5  # seconds after a level change before counting log lines
WINDOW = 0.5  # seconds during which lines are counted; the worker logs every 100 ms

LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (TRACE|DEBUG|INFO|WARN|ERROR) \S+ \[[^\]]+\] .*$"
)
WORKER_DEBUG = re.compile(
    r"^\S+ DEBUG com\.example\.orange \[orange-bucket-worker\] orange bucket at \S+ items$",
    re.MULTILINE,
)
WORKER_INFO = re.compile(
    r"^\S+ INFO com\.example\.orange \[orange-bucket-worker\] orange bucket holds \S+ items$",
    re.MULTILINE,
)


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name!r} is not on PATH: the demo tests need a JDK 17 (java, javac, jcmd) "
            "and promtool; install them, these tests do not skip",
            pytrace=False,
        )
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Service:
    proc: subprocess.Popen[bytes]
    url: str
    stdout: Path
    log: Path | None

    def output(self) -> str:
        return self.stdout.read_text(encoding="utf-8", errors="replace")

    def log_text(self) -> str:
        assert self.log is not None
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


def start_service(classes: Path, workdir: Path, *, log_file: bool = True) -> Service:
    port = free_port()
    stdout = workdir / "stdout.txt"
    log = workdir / "demo.log" if log_file else None
    args = [tool("java"), "-cp", str(classes), "DemoService", "--port", str(port)]
    args += ["--host", "127.0.0.1"]
    if log is not None:
        args += ["--log-file", str(log)]
    with stdout.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    service = Service(proc, f"http://127.0.0.1:{port}", stdout, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"DemoService exited with {proc.returncode}:\n{service.output()}")
        try:
            if httpx.get(f"{service.url}/-/healthy", timeout=1).status_code == 200:
                return service
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    service.stop()
    pytest.fail(f"DemoService not healthy after 30 s:\n{service.output()}")


@pytest.fixture(scope="module")
def classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DemoService.java compiled with javac into a temporary directory."""
    out = tmp_path_factory.mktemp("demo-classes")
    done = subprocess.run(
        [tool("javac"), "-d", str(out), str(SOURCE)], capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        pytest.fail(f"javac failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return out


@pytest.fixture(scope="module")
def demo(classes: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The demo service on a free loopback port, logging to a file."""
    service = start_service(classes, tmp_path_factory.mktemp("demo-run"))
    yield service
    service.stop()


@pytest.fixture(scope="module")
def http(demo: Service) -> Iterator[httpx.Client]:
    """An HTTP client for the demo service."""
    with httpx.Client(base_url=demo.url, timeout=10) as client:
        yield client


def metric_families(http: httpx.Client) -> dict[str, Any]:
    resp = http.get("/metrics")
    assert resp.status_code == 200
    return {f.name: f for f in text_string_to_metric_families(resp.text)}


def metric_value(http: httpx.Client, family: str, **labels: str) -> float:
    for sample in metric_families(http)[family].samples:
        if sample.labels == labels:
            return float(sample.value)
    raise KeyError((family, labels))


def set_level(http: httpx.Client, logger: str, level: str | None) -> None:
    resp = http.post(f"/actuator/loggers/{logger}", json={"configuredLevel": level})
    assert resp.status_code == 204, resp.text


def get_level(http: httpx.Client, logger: str) -> dict[str, Any]:
    resp = http.get(f"/actuator/loggers/{logger}")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/json")
    doc: dict[str, Any] = resp.json()
    return doc


def worker_debug_lines(demo: Service) -> int:
    """Worker DEBUG lines written during WINDOW, counted SETTLE after the last change."""
    time.sleep(SETTLE)
    before = len(WORKER_DEBUG.findall(demo.log_text()))
    time.sleep(WINDOW)
    return len(WORKER_DEBUG.findall(demo.log_text())) - before


def test_prints_listening_line_with_pid(demo: Service) -> None:
    """The first stdout line gives the URL and the pid, even with --log-file."""
    first = demo.output().splitlines()[0]
    assert first == f"demo service listening on {demo.url} pid={demo.proc.pid}"


def test_healthy(http: httpx.Client) -> None:
    """GET /-/healthy answers 200 ok."""
    resp = http.get("/-/healthy")
    assert resp.status_code == 200
    assert resp.text == "ok"


def test_metrics_exposition_format(http: httpx.Client) -> None:
    """/metrics is text format 0.0.4 with HELP and TYPE before each family's samples."""
    resp = http.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert resp.text.endswith("\n")
    declared: dict[str, list[str]] = {}
    for line in resp.text.splitlines():
        if line.startswith("# "):
            kind, name, rest = line[2:].split(" ", 2)
            declared.setdefault(name, []).append(kind)
            if kind == "TYPE":
                assert rest in ("gauge", "counter")
            continue
        name = re.split(r"[ {]", line, maxsplit=1)[0]
        assert declared.get(name) == ["HELP", "TYPE"], line
    families = metric_families(http)
    assert families[GAUGE].type == "gauge"
    assert families["demo_log_lines"].type == "counter"
    assert families["demo_pizza_orders"].type == "counter"
    levels = {s.labels["level"] for s in families["demo_log_lines"].samples}
    assert levels == {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}


def test_gauge_follows_bucket(http: httpx.Client) -> None:
    """POST and PUT /bucket?value=N set the gauge; GET /bucket and /metrics show it."""
    assert http.get("/bucket").text == "0"
    assert metric_value(http, GAUGE) == 0
    try:
        resp = http.post("/bucket", params={"value": "7"})
        assert resp.status_code == 200
        assert resp.text == "7"
        assert http.get("/bucket").text == "7"
        assert metric_value(http, GAUGE) == 7
        assert http.put("/bucket", params={"value": "2.5"}).status_code == 200
        assert http.get("/bucket").text == "2.5"
        assert metric_value(http, GAUGE) == 2.5
    finally:
        assert http.put("/bucket", params={"value": "0"}).status_code == 200
    assert metric_value(http, GAUGE) == 0


@pytest.mark.parametrize(
    "query",
    ["", "?value=", "?value=abc", "?value=-1", "?value=NaN", "?value=1e999", "?value=1&value=2"],
)
def test_bucket_rejects_bad_values(http: httpx.Client, query: str) -> None:
    """A missing, malformed, negative or infinite value is a 400 that leaves the gauge alone."""
    resp = http.post(f"/bucket{query}")
    assert resp.status_code == 400
    assert resp.text.startswith("error: ")
    assert http.get("/bucket").text == "0"


def test_rules_file_is_valid() -> None:
    """rules.yml has the demo group and alert, and promtool accepts it."""
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    [group] = doc["groups"]
    assert group["name"] == "demo"
    [rule] = group["rules"]
    assert rule["alert"] == "BucketTooFull_ORANGE"
    assert rule["expr"] == f"max({GAUGE}) > 0"
    assert rule["for"] == "0s"
    assert rule["labels"] == {"team": "warehouse", "severity": "warning"}
    assert set(rule["annotations"]) == {"summary", "description"}
    done = subprocess.run(
        [tool("promtool"), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_rule_fires_only_when_bucket_not_empty(tmp_path: Path) -> None:
    """promtool test rules: the alert fires while the gauge is above 0, and only then."""
    test = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": f'{GAUGE}{{instance="a"}}', "values": "0 0 3 3 0"},
                    {"series": f'{GAUGE}{{instance="b"}}', "values": "0 0 1 5 0"},
                ],
                "alert_rule_test": [
                    {"eval_time": "1m", "alertname": "BucketTooFull_ORANGE", "exp_alerts": []},
                    {
                        "eval_time": "3m",
                        "alertname": "BucketTooFull_ORANGE",
                        "exp_alerts": [
                            {
                                "exp_labels": {"team": "warehouse", "severity": "warning"},
                                "exp_annotations": {
                                    "summary": "The orange bucket holds 5 items",
                                    "description": (
                                        f"{GAUGE} is above 0 (max over all instances: 5 items):"
                                        " oranges are piling up in the warehouse bucket."
                                    ),
                                },
                            }
                        ],
                    },
                    {"eval_time": "4m", "alertname": "BucketTooFull_ORANGE", "exp_alerts": []},
                ],
            }
        ],
    }
    path = tmp_path / "rules_test.yml"
    path.write_text(yaml.safe_dump(test), encoding="utf-8")
    done = subprocess.run(
        [tool("promtool"), "test", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_loggers_get_set_reset(http: httpx.Client) -> None:
    """A logger's level is set (any case), read back, inherited by children and reset."""
    assert get_level(http, "ROOT") == {"configuredLevel": "INFO", "effectiveLevel": "INFO"}
    assert get_level(http, ORANGE) == {"configuredLevel": None, "effectiveLevel": "INFO"}
    assert get_level(http, "no.such.logger") == {"configuredLevel": None, "effectiveLevel": "INFO"}
    try:
        set_level(http, ORANGE, "debug")
        assert get_level(http, ORANGE) == {"configuredLevel": "DEBUG", "effectiveLevel": "DEBUG"}
        child = get_level(http, f"{ORANGE}.child")
        assert child == {"configuredLevel": None, "effectiveLevel": "DEBUG"}
        set_level(http, ORANGE, None)
        assert get_level(http, ORANGE) == {"configuredLevel": None, "effectiveLevel": "INFO"}
        set_level(http, ORANGE, "fatal")  # Spring Boot's levels include FATAL
        assert get_level(http, ORANGE) == {"configuredLevel": "FATAL", "effectiveLevel": "FATAL"}
        set_level(http, ORANGE, "Trace")
        resp = http.post(f"/actuator/loggers/{ORANGE}", json={})
        assert resp.status_code == 204
        assert resp.content == b""
        assert get_level(http, ORANGE) == {"configuredLevel": None, "effectiveLevel": "INFO"}
        set_level(http, "ROOT", "WARN")
        assert get_level(http, ORANGE) == {"configuredLevel": None, "effectiveLevel": "WARN"}
        set_level(http, "ROOT", None)  # ROOT cannot be unset: back to its default
        assert get_level(http, "ROOT") == {"configuredLevel": "INFO", "effectiveLevel": "INFO"}
    finally:
        set_level(http, ORANGE, None)
        set_level(http, "ROOT", "INFO")


def test_loggers_list(http: httpx.Client) -> None:
    """GET /actuator/loggers lists levels and loggers as Spring Boot does."""
    resp = http.get("/actuator/loggers")
    assert resp.status_code == 200
    doc = resp.json()
    assert doc["levels"] == ["OFF", "FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"]
    assert next(iter(doc["loggers"])) == "ROOT"
    assert doc["loggers"]["ROOT"] == {"configuredLevel": "INFO", "effectiveLevel": "INFO"}
    assert doc["loggers"][ORANGE] == {"configuredLevel": None, "effectiveLevel": "INFO"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"configuredLevel": "LOUD"}', "unknown level"),
        ('{"configuredLevel": ""}', "unknown level"),
        ('{"configuredLevel": 5}', "must be a string or null"),
        ('["DEBUG"]', "JSON object"),
        ("", "JSON object"),
        ("{configuredLevel: DEBUG}", "invalid JSON"),
        ('{"configuredLevel": "DEBUG"', "invalid JSON"),
    ],
)
def test_loggers_reject_bad_input(http: httpx.Client, body: str, message: str) -> None:
    """A bad level or body is a 400 with a JSON error, and the level does not change."""
    resp = http.post(
        f"/actuator/loggers/{ORANGE}", content=body, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 400
    error = resp.json()
    assert error["status"] == 400
    assert error["path"] == f"/actuator/loggers/{ORANGE}"
    assert message in error["message"]
    assert get_level(http, ORANGE) == {"configuredLevel": None, "effectiveLevel": "INFO"}


def test_debug_lines_follow_logger_level(demo: Service, http: httpx.Client) -> None:
    """The worker's DEBUG lines are written only while its effective level is DEBUG."""
    debug_before = metric_value(http, "demo_log_lines", level="DEBUG")
    try:
        assert worker_debug_lines(demo) == 0
        set_level(http, ORANGE, "DEBUG")
        assert worker_debug_lines(demo) >= 2
        set_level(http, ORANGE, None)
        assert worker_debug_lines(demo) == 0
        set_level(http, "ROOT", "DEBUG")
        assert worker_debug_lines(demo) >= 2
        set_level(http, ORANGE, "INFO")  # its own level wins over ROOT's
        assert worker_debug_lines(demo) == 0
        set_level(http, ORANGE, None)
        set_level(http, "ROOT", "INFO")
        assert worker_debug_lines(demo) == 0
    finally:
        set_level(http, ORANGE, None)
        set_level(http, "ROOT", "INFO")
    assert metric_value(http, "demo_log_lines", level="DEBUG") > debug_before


def test_log_lines_format(demo: Service) -> None:
    """Every log line has the agreed format, and the worker logs INFO every 5 s."""
    deadline = time.monotonic() + 7
    while not WORKER_INFO.search(demo.log_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    text = demo.log_text()
    assert WORKER_INFO.search(text), text[-2000:]
    lines = text.splitlines()
    assert lines
    for line in lines:
        assert LINE.match(line), line


def test_jcmd_thread_print_shows_worker(demo: Service) -> None:
    """jcmd PID Thread.print lists the orange-bucket-worker thread."""
    done = subprocess.run(
        [tool("jcmd"), str(demo.proc.pid), "Thread.print"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"orange-bucket-worker"' in done.stdout


def test_threaddump_text(http: httpx.Client) -> None:
    """With Accept: text/plain the thread dump is jstack-like text naming the worker."""
    resp = http.get("/actuator/threaddump", headers={"Accept": "text/plain"})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    block = resp.text.split('\n"orange-bucket-worker" #', 1)[1].split("\n\n", 1)[0]
    assert "   java.lang.Thread.State: " in block
    assert "\tat DemoService.workerLoop(DemoService.java:" in block


def test_threaddump_json(http: httpx.Client) -> None:
    """Without Accept: text/plain the thread dump is Spring style JSON."""
    resp = http.get("/actuator/threaddump")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/json")
    threads = {t["threadName"]: t for t in resp.json()["threads"]}
    worker = threads["orange-bucket-worker"]
    assert worker["threadState"] in ("RUNNABLE", "TIMED_WAITING", "BLOCKED", "WAITING")
    assert "workerLoop" in [frame["methodName"] for frame in worker["stackTrace"]]


def test_threaddump_not_acceptable(http: httpx.Client) -> None:
    """An Accept header that takes neither JSON nor text is a 406."""
    resp = http.get("/actuator/threaddump", headers={"Accept": "image/png"})
    assert resp.status_code == 406


def test_pizza_orders_recorded_with_duplicates(http: httpx.Client) -> None:
    """Every order is recorded with its Idempotency-Key, duplicates included."""
    key = f"key-{time.time_ns()}"
    body = {"pizza": "margherita", "for": "Zoë 🍕", "size": 32, "extra": [1.5e3, None, True]}
    before = metric_value(http, "demo_pizza_orders")
    created = []
    for headers in ({"Idempotency-Key": key}, {"Idempotency-Key": key}, {}):
        resp = http.post("/pizza/orders", json=body, headers=headers)
        assert resp.status_code == 201
        assert resp.headers["content-type"].startswith("application/json")
        order = resp.json()
        assert resp.headers["location"] == f"/pizza/orders/{order['id']}"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", order["received_at"])
        assert order["body"] == body
        created.append(order)
    assert [o["idempotency_key"] for o in created] == [key, key, None]
    assert len({o["id"] for o in created}) == 3
    listed = http.get("/pizza/orders").json()
    assert [o for o in listed if o["id"] in {c["id"] for c in created}] == created
    assert [o["idempotency_key"] for o in listed].count(key) == 2
    assert http.get(f"/pizza/orders/{created[0]['id']}").json() == created[0]
    assert metric_value(http, "demo_pizza_orders") == before + 3


@pytest.mark.parametrize("body", ["", "{", '{"a": 1,}', "[1 2]", "nope", '"\\x"'])
def test_pizza_rejects_invalid_json(http: httpx.Client, body: str) -> None:
    """A body that is not JSON is a 400 with a JSON error, and no order is recorded."""
    count = len(http.get("/pizza/orders").json())
    resp = http.post("/pizza/orders", content=body)
    assert resp.status_code == 400
    assert resp.json()["status"] == 400
    assert len(http.get("/pizza/orders").json()) == count


@pytest.mark.parametrize(
    "path", ["/nope", "/metrics/", "/bucket/1", "/actuator", "/pizza", "/pizza/orders/999999"]
)
def test_unknown_path_is_404(http: httpx.Client, path: str) -> None:
    """An unknown path is a 404."""
    assert http.get(path).status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/metrics"),
        ("DELETE", "/bucket"),
        ("PUT", "/-/healthy"),
        ("PATCH", "/actuator/loggers/ROOT"),
        ("POST", "/actuator/loggers"),
        ("POST", "/actuator/threaddump"),
        ("DELETE", "/pizza/orders"),
    ],
)
def test_wrong_method_is_405(http: httpx.Client, method: str, path: str) -> None:
    """A known path with the wrong method is a 405 with an Allow header."""
    resp = http.request(method, path)
    assert resp.status_code == 405
    assert "GET" in resp.headers["allow"]


def test_sigterm_exits_promptly_with_stdout_log(classes: Path, tmp_path: Path) -> None:
    """Without --log-file the log goes to stdout, and SIGTERM stops the service at once."""
    service = start_service(classes, tmp_path, log_file=False)
    try:
        os.kill(service.proc.pid, signal.SIGTERM)
        service.proc.wait(5)
    finally:
        service.stop()
    lines = service.output().splitlines()
    assert lines[0] == f"demo service listening on {service.url} pid={service.proc.pid}"
    assert LINE.match(lines[1]), lines
    assert lines[-1].endswith(" INFO com.example.demo [shutdown] shutting down")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--port is required"),
        (["--port", "http"], "--port must be a number"),
        (["--port", "70000"], "--port must be a number"),
        (["--port", "0", "--verbose"], "unknown argument --verbose"),
    ],
)
def test_bad_arguments_exit_2(classes: Path, args: list[str], message: str) -> None:
    """Bad command-line arguments exit with 2 and say what is wrong."""
    done = subprocess.run(
        [tool("java"), "-cp", str(classes), "DemoService", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert "usage:" in done.stderr
