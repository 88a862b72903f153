"""kill -9 in the middle of a reversible step: after the restart and the resolve,
nothing it changed is left changed.

The services here hold their answer to the step's write until the test has killed
alertreflex, so the change is made but its step is never recorded: the resumed step
must use what the first attempt stored before changing anything, not read its own
change back (log_level), nor make a second change that nobody undoes (am_silence).
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from alertreflex.demo.stack import Proc, Stack
from tests.conftest import ServerProcess
from tests.payloads import alert, notification

Answer = tuple[int, Any]  # status, JSON document (None: no body)
LOGGER = "com.example.orange"
LABELS = {"alertname": "BucketTooFull_ORANGE", "team": "warehouse"}


class HeldWrite:
    """Holds the answer to the first write until released: the window in which the
    test kills alertreflex."""

    def __init__(self, *, armed: bool = True) -> None:
        self.armed = armed
        self.arrived = threading.Event()
        self.released = threading.Event()

    def hold(self) -> None:
        if self.armed:
            self.armed = False
            self.arrived.set()
            self.released.wait(30)


class FakeService:
    """An HTTP server in a thread that answers with ``respond(method, path, body)``."""

    def __init__(self, respond: Callable[[str, str, bytes], Answer]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, doc = respond(self.command, self.path, body)
                out = b"" if doc is None else json.dumps(doc).encode()
                # alertreflex may have been killed while the answer was held.
                with contextlib.suppress(OSError):
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)

            do_GET = do_POST = do_DELETE = answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Actuator:
    """Spring Boot's /actuator/loggers/{name}, whose first write is held; or, with
    ``failing``, answered 500, having made the change only if ``applies``."""

    def __init__(self, level: str | None, *, failing: bool = False, applies: bool = True) -> None:
        self.level = level
        self.failing = failing
        self.applies = applies
        self.write = HeldWrite(armed=not failing)
        self.service = FakeService(self.respond)

    def respond(self, method: str, path: str, body: bytes) -> Answer:
        if path != f"/actuator/loggers/{LOGGER}":
            return 404, {"error": "no such logger"}
        if method == "GET":
            return 200, {"configuredLevel": self.level, "effectiveLevel": self.level or "INFO"}
        failing, self.failing = self.failing, False
        if self.applies or not failing:
            self.level = json.loads(body)["configuredLevel"]  # the change is made...
        if failing:
            return 500, {"error": "Internal Server Error"}
        self.write.hold()  # ...and its answer is late
        return 204, None


class HoldingProxy:
    """Passes requests on to Alertmanager; the answer to the first POST (the silence,
    made by then) is held."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.write = HeldWrite()
        self.service = FakeService(self.respond)

    def respond(self, method: str, path: str, body: bytes) -> Answer:
        headers = {"Content-Type": "application/json"} if body else {}
        got = httpx.request(method, self.target + path, content=body, headers=headers, timeout=10)
        if method == "POST":
            self.write.hold()
        return got.status_code, got.json() if got.content else None


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Proc]:
    with Stack(tmp_path / "stack") as stack:
        yield stack.start_alertmanager("http://127.0.0.1:9/nowhere")


def _kill_during(write: HeldWrite, srv: ServerProcess) -> None:
    """Kill -9 ``srv`` while ``write`` is held, then let the held answer go."""
    assert write.arrived.wait(15), f"the step's write never came:\n{srv.log()}"
    assert srv.proc is not None
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait()
    write.released.set()


def _reflex(step: str) -> str:
    return f"""\
reflexes:
  - name: act-while-firing
    team: warehouse
    match: ['alertname="BucketTooFull_ORANGE"']
    on_firing:
      - {step}
"""


@pytest.mark.parametrize("original", ["INFO", None], ids=["INFO", "unset"])
def test_log_level_killed_mid_set_restores_the_level_from_before(
    make_server: Any, original: str | None
) -> None:
    """Killed while DEBUG is being set, restarted, resolved: the logger's
    configuredLevel is what it was before the alert (INFO, or unset), not DEBUG."""
    actuator = Actuator(original)
    try:
        config = _reflex(
            f'log_level: {{url: "{actuator.service.url}/actuator/loggers", '
            f"logger: {LOGGER}, level: DEBUG}}"
        )
        srv = make_server(config)
        srv.post(notification(alert(LABELS)))
        _kill_during(actuator.write, srv)
        assert actuator.level == "DEBUG"

        again = make_server(config, db=srv.db)
        (firing,) = again.wait_runs(1, trigger="firing")
        again.post(notification(alert(LABELS, status="resolved")))
        (resolved,) = again.wait_runs(1, trigger="resolved")
        assert actuator.level == original
        step = again.run(firing["id"])["steps"][0]
        assert firing["attempts"] == 2 and step["details"]["previous"] == original, step
        restore = again.run(resolved["id"])["steps"][0]
        assert restore["details"]["restored"] is True, restore
    finally:
        actuator.service.close()


@pytest.mark.parametrize("applies", [True, False], ids=["set-then-500", "500"])
def test_log_level_whose_set_fails_is_put_back_only_where_it_took_effect(
    make_server: Any, applies: bool
) -> None:
    """The set answers 500, having made the change or not: the step fails, but the
    level it found was stored before, so the resolve puts INFO back where DEBUG took
    effect, and where it did not leaves INFO alone and says why."""
    actuator = Actuator("INFO", failing=True, applies=applies)
    try:
        srv = make_server(
            _reflex(
                f'log_level: {{url: "{actuator.service.url}/actuator/loggers", '
                f"logger: {LOGGER}, level: DEBUG, retries: 0}}"
            )
        )
        srv.post(notification(alert(LABELS)))
        srv.wait_runs(1, states=("failed",), trigger="firing")
        assert actuator.level == ("DEBUG" if applies else "INFO")
        srv.post(notification(alert(LABELS, status="resolved")))
        (resolved,) = srv.wait_runs(1, trigger="resolved")
        assert actuator.level == "INFO"
        restore = srv.run(resolved["id"])["steps"][0]
        assert restore["details"]["restored"] is applies, restore
        if not applies:
            assert "the set did not take effect" in restore["summary"], restore
    finally:
        actuator.service.close()


def test_am_silence_killed_mid_create_makes_one_silence_and_expires_it(
    make_server: Any, alertmanager: Proc
) -> None:
    """Killed after Alertmanager made the silence but before alertreflex heard back:
    the resumed step finds that silence instead of making a second one, and the
    resolve expires it: no silence of alertreflex is left active."""
    proxy = HoldingProxy(alertmanager.url)
    try:
        config = _reflex(f'am_silence: {{url: "{proxy.service.url}", duration: 1h}}')
        srv = make_server(config)
        srv.post(notification(alert(LABELS)))
        _kill_during(proxy.write, srv)

        again = make_server(config, db=srv.db)
        (firing,) = again.wait_runs(1, trigger="firing")
        made = _silences(alertmanager)
        assert [s["status"]["state"] for s in made] == ["active"]
        step = again.run(firing["id"])["steps"][0]
        assert "made by an interrupted attempt" in step["summary"], step
        assert made[0]["id"] == step["details"]["silence_id"]

        again.post(notification(alert(LABELS, status="resolved")))
        (resolved,) = again.wait_runs(1, trigger="resolved")
        assert again.run(resolved["id"])["steps"][0]["outcome"] == "succeeded"
        assert [s["status"]["state"] for s in _silences(alertmanager)] == ["expired"]
    finally:
        proxy.service.close()


def _silences(alertmanager: Proc) -> list[dict[str, Any]]:
    """The silences alertreflex made, as Alertmanager lists them."""
    got = httpx.get(f"{alertmanager.url}/api/v2/silences", timeout=5)
    got.raise_for_status()
    return [s for s in got.json() if s["createdBy"] == "alertreflex"]
