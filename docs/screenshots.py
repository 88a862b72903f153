"""Make the screenshots of docs/ui.md from a real server.

    .venv/bin/python docs/screenshots.py [--out DIR]

Starts the demo JVM (src/alertreflex/demo/files/DemoService.java) and ``alertreflex serve`` with
an example config of two teams on loopback, sends it Alertmanager webhooks, and
takes full-page PNGs, 1400 px wide, with Debian's Chromium (``apt-get install
chromium``; ``openjdk-17-jdk-headless`` for the JVM). Everything it starts is
stopped at the end and its files are removed.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bcrypt
import httpx
from playwright.sync_api import sync_playwright

from alertreflex.core.fingerprint import fingerprint
from alertreflex.demo.run import EXAMPLE
from alertreflex.demo.stack import Stack

HERE = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
SERVE = Path(sys.executable).parent / "alertreflex"
USER = ("alice", "screenshot-password")
WIDTH = 1400  # the screen the UI is checked on (tests/ui)

# One file per team, as `alertreflex sync` or a config management tool would lay
# them out; the reflexes page names each reflex's file and line.
SETTINGS = """\
settings:
  auth:
    users:
      - {name: alice, role: operator, password_hash_file: alice.hash}
"""

WAREHOUSE = """\
reflexes:
  - name: note-orange-bucket
    team: warehouse
    description: Writes a line per episode to the log, as a first reflex to try.
    match: ['alertname="BucketTooFull_ORANGE"']
    on_firing:
      - name: say it fired
        exec:
          command:
            - echo
            - "{{ alert.labels.alertname }} on {{ alert.labels.instance }}:\\
               {{ alert.annotations.summary }}"
          timeout: 5s
    on_resolved:
      - name: say it resolved
        exec: {command: ["echo", "{{ alert.labels.alertname }} resolved"], timeout: 5s}

  - name: threaddump-orange-bucket
    team: warehouse
    description: Two thread dumps of the JVM, a second apart, while the bucket overflows.
    match: '{alertname="BucketTooFull_ORANGE", severity="critical"}'
    on_firing:
      - name: thread dumps
        jvm_thread_dump: {pid: "{{ alert.labels.pid }}", count: 2, interval: 1s}
    cooldown: 10m
    max_concurrent: 1
"""

PAYMENTS = """\
reflexes:
  - name: restart-payments-api
    team: payments
    description: Restarts the payments API when it stops answering; a human decides.
    match: ['alertname="PaymentsApiStuck"']
    approval: required
    approval_timeout: 30m
    on_firing:
      - name: restart the service
        exec:
          command:
            - echo
            - "would run: systemctl restart payments-api on {{ alert.labels.instance }}"
          timeout: 10s

  - name: retry-settlement-batch
    team: payments
    description: Re-submits the settlement batch; stops itself after a failure.
    match: ['alertname="SettlementBatchFailed"']
    on_firing:
      - name: resubmit batch
        exec:
          command:
            - sh
            - -c
            - echo 'settlement API answered 503 Service Unavailable' >&2; exit 1
          timeout: 10s
    max_failures: 1
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


NOW = datetime.now(UTC)


def ago(minutes: float) -> str:
    """An RFC 3339 time ``minutes`` before the script started, as Alertmanager writes it;
    the same for every notification of an episode."""
    when = NOW - timedelta(minutes=minutes)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def webhook(
    labels: dict[str, str], summary: str, started: float, status: str = "firing"
) -> dict[str, Any]:
    """One alert, ``started`` minutes ago, as Alertmanager's webhook (version 4) sends it."""
    one = {
        "status": status,
        "labels": labels,
        "annotations": {"summary": summary},
        "startsAt": ago(started),
        "endsAt": ago(0) if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=bucket_fill_ratio",
        "fingerprint": fingerprint(labels),
    }
    return {
        "receiver": "alertreflex",
        "status": status,
        "alerts": [one],
        "groupLabels": {"alertname": labels["alertname"]},
        "commonLabels": labels,
        "commonAnnotations": {"summary": summary},
        "externalURL": "http://alertmanager.example:9093",
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{labels["alertname"]}"}}',
        "truncatedAlerts": 0,
    }


class Server:
    """``alertreflex serve`` in ``workdir``, with its config in ``workdir/alertreflex.d``."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = workdir / "alertreflex.d"
        config.mkdir()
        (config / "00-settings.yml").write_text(SETTINGS)
        (config / "payments.yml").write_text(PAYMENTS)
        (config / "warehouse.yml").write_text(WAREHOUSE)
        self.log = (workdir / "server.log").open("wb")
        self.proc = subprocess.Popen(
            [
                str(SERVE),
                "serve",
                "--config",
                "alertreflex.d",
                "--storage",
                "sqlite:///alertreflex.db",
                "--listen",
                f"127.0.0.1:{self.port}",
            ],
            cwd=workdir,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.http = httpx.Client(base_url=self.url, auth=USER, timeout=10)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"alertreflex serve exited: see {workdir / 'server.log'}")
            try:
                if self.http.get("/-/ready").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        sys.exit("alertreflex serve did not get ready in 20s")

    def send(self, payload: dict[str, Any]) -> None:
        self.http.post("/webhook", json=payload).raise_for_status()

    def wait(self, reflex: str, state: str, count: int = 1) -> list[dict[str, Any]]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            runs = self.http.get("/api/v1/runs", params={"reflex": reflex, "limit": 100}).json()
            found = [r for r in runs["runs"] if r["state"] == state]
            if len(found) >= count:
                return found
            time.sleep(0.1)
        sys.exit(f"no {count} runs of {reflex} in state {state}: {runs}")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()
        self.http.close()


def feed(srv: Server, jvm_url: str, jvm_pid: int) -> dict[str, str]:
    """A plausible half hour in webhooks; the ids of the runs to show."""
    warehouse = {"team": "warehouse", "alertname": "BucketTooFull_ORANGE"}
    # An earlier episode on another instance, over by now.
    earlier = {**warehouse, "instance": "warehouse-2:8080", "severity": "warning"}
    srv.send(webhook(earlier, "orange bucket 85% full", 41))
    srv.wait("note-orange-bucket", "succeeded")
    srv.send(webhook(earlier, "orange bucket 85% full", 41, status="resolved"))
    srv.wait("note-orange-bucket", "succeeded", 2)

    # Yesterday's kind of trouble: a restart someone approved.
    payments = {"team": "payments", "alertname": "PaymentsApiStuck", "severity": "critical"}
    first = {**payments, "instance": "payments-api-1:9000"}
    srv.send(webhook(first, "payments-api-1 answers no requests for 5m", 27))
    waiting = srv.wait("restart-payments-api", "awaiting_approval")[0]
    srv.http.post(
        f"/api/v1/runs/{waiting['id']}/approve",
        json={"reason": "checked the dashboard: stuck, not overloaded"},
    ).raise_for_status()
    srv.wait("restart-payments-api", "succeeded")
    srv.send(webhook(first, "payments-api-1 answers no requests for 5m", 27, status="resolved"))

    # A flaky reflex: one failure opens its circuit breaker, the next episode is skipped.
    settlement = {"team": "payments", "alertname": "SettlementBatchFailed", "severity": "warning"}
    srv.send(webhook({**settlement, "batch": "2026-11-24"}, "settlement batch failed", 18))
    srv.wait("retry-settlement-batch", "failed")
    srv.send(webhook({**settlement, "batch": "2026-11-25"}, "settlement batch failed", 6))
    srv.wait("retry-settlement-batch", "skipped")

    # Now: another stuck payments API, waiting for a human...
    second = {**payments, "instance": "payments-api-2:9000"}
    srv.send(webhook(second, "payments-api-2 answers no requests for 5m", 4))
    approval = srv.wait("restart-payments-api", "awaiting_approval")[0]

    # ...and the orange bucket of the demo JVM overflowing: a note and two thread dumps.
    orange = {
        **warehouse,
        "instance": jvm_url.removeprefix("http://"),
        "severity": "critical",
        "pid": str(jvm_pid),
    }
    srv.send(webhook(orange, "orange bucket 100% full, items are dropped", 2))
    dump = srv.wait("threaddump-orange-bucket", "succeeded")[0]
    srv.wait("note-orange-bucket", "succeeded", 3)
    return {"threaddump": dump["id"], "approval": approval["id"]}


def shoot(url: str, runs: dict[str, str], out: Path) -> None:
    pages = {
        "overview.png": "/",
        "run-threaddump.png": f"/ui/runs/{runs['threaddump']}",
        "approval.png": f"/ui/runs/{runs['approval']}",
        "reflexes.png": "/ui/reflexes",
    }
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        context = browser.new_context(
            viewport={"width": WIDTH, "height": 900},
            http_credentials={"username": USER[0], "password": USER[1]},
        )
        page = context.new_page()
        for name, path in pages.items():
            answer = page.goto(url + path)
            if answer is None or answer.status != 200:
                sys.exit(f"{path}: {answer and answer.status}")
            page.screenshot(path=out / name, full_page=True)
            print(out / name)
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="alertreflex-screenshots-") as tmp:
        workdir = Path(tmp)
        hashed = bcrypt.hashpw(USER[1].encode(), bcrypt.gensalt(rounds=4))
        (workdir / "alice.hash").write_bytes(hashed)
        with Stack(workdir / "stack") as stack:
            jvm = stack.start_demo_service(EXAMPLE / "DemoService.java")
            srv = Server(workdir)
            try:
                runs = feed(srv, jvm.url, jvm.popen.pid)
                shoot(srv.url, runs, args.out)
            finally:
                srv.stop()


if __name__ == "__main__":
    main()
