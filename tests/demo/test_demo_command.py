"""`alertreflex demo` as users run it: the real Java service, Prometheus, Alertmanager
and alertreflex, then everything kept running for a look until Ctrl-C (or a signal),
then stopped, leaving nothing behind unless --keep.

They need java, javac, jcmd, prometheus and prometheus-alertmanager on PATH; without
them the demo fails and says what is missing, and so do these tests.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import BIN

READY = "Ctrl-C stops it all."
ORDER = {
    "pizza": "margherita",
    "size": "family",
    "for": "team warehouse",
    "because": "BucketTooFull_ORANGE: The orange bucket holds 42 items",
}


@dataclass
class Demo:
    """A running ``alertreflex demo``; its stdout collected line by line."""

    proc: subprocess.Popen[str]
    tmpdir: Path
    lines: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, text: str, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            if self.proc.poll() is not None:
                time.sleep(0.2)  # the reader thread may not have the last lines yet
                if not any(text in line for line in self.lines):
                    pytest.fail(f"the demo exited with {self.proc.returncode}:\n{self.output}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {text!r} after {timeout}s:\n{self.output}")
            time.sleep(0.1)

    def find(self, pattern: str) -> str:
        found = re.search(pattern, self.output, re.MULTILINE)
        assert found, f"{pattern!r} not in:\n{self.output}"
        return found.group(1)


def tmpdir_of(tmp_path: Path) -> Path:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    return tmp


def run_demo(tmp_path: Path, *args: str) -> Demo:
    """``alertreflex demo ARGS`` with a TMPDIR of its own, its output read as it comes."""
    tmp = tmpdir_of(tmp_path)
    proc = subprocess.Popen(
        [str(BIN), "demo", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp)},
    )
    demo = Demo(proc, tmp)

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            demo.lines.append(line.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()
    return demo


@pytest.fixture
def start_demo(tmp_path: Path) -> Iterator[Callable[..., Demo]]:
    """Start demos; interrupt any a test left running (the demo then stops what it
    started), kill it if it does not stop."""
    started: list[Demo] = []

    def start(*args: str) -> Demo:
        started.append(run_demo(tmp_path, *args))
        return started[-1]

    yield start
    for demo in started:
        if demo.proc.poll() is None:
            demo.proc.send_signal(signal.SIGINT)
            try:
                demo.proc.wait(60)
            except subprocess.TimeoutExpired:
                demo.proc.kill()
                demo.proc.wait()


def refused(url: str) -> bool:
    try:
        httpx.get(url, timeout=2)
    except httpx.ConnectError:
        return True
    return False


def order_block(output: str) -> object:
    """The JSON printed under the pizza order's heading."""
    lines = output.splitlines()
    head = next(i for i, line in enumerate(lines) if "as POST /pizza/orders received it" in line)
    block = []
    for line in lines[head + 1 :]:
        if not line.startswith("      "):
            break
        block.append(line)
    return json.loads("\n".join(block))


def test_demo_keeps_the_ui_up_until_ctrl_c_then_leaves_nothing(
    start_demo: Callable[..., Demo],
) -> None:
    """After its report the demo keeps everything running and prints the UI's URL: the
    UI lists the runs it made, the dumps it names are there, and the pizza order it
    prints is the JSON the pizza API holds. Ctrl-C stops every process, and without
    --keep no file or directory is left in TMPDIR."""
    demo = start_demo("--all-day")
    demo.wait_for_line(READY)
    assert "holding it full for 3s " in demo.output

    ui = demo.find(r"the UI, with the runs above:  (http://127\.0\.0\.1:\d+)/$")
    service = demo.find(r"fill the bucket again:  curl -XPOST '(http://127\.0\.0\.1:\d+)/bucket")
    others = re.findall(r"(http://127\.0\.0\.1:\d+)/", demo.find(r"^  (Alertmanager .*)$"))
    assert len(others) == 2

    page = httpx.get(f"{ui}/", timeout=10)
    assert page.status_code == 200
    for reflex in ("threaddump-orange-bucket", "debug-while-orange-bucket"):
        assert reflex in page.text
    runs = httpx.get(f"{ui}/api/v1/runs", timeout=10).json()["runs"]
    assert {r["reflex"] for r in runs} == {
        "threaddump-orange-bucket",
        "debug-while-orange-bucket",
        "pizza-for-the-night-shift",
    }
    dumps = re.findall(rf"^    ({re.escape(ui)}/api/v1/runs/\S+/artifacts/\S+)$", demo.output, re.M)
    assert len(dumps) == 2
    assert '"orange-bucket-worker"' in httpx.get(dumps[0], timeout=10).text

    orders = httpx.get(f"{service}/pizza/orders", timeout=10).json()
    assert [o["body"] for o in orders] == [ORDER]
    assert order_block(demo.output) == ORDER
    assert f"(Idempotency-Key: {orders[0]['idempotency_key']}):" in demo.output

    demo.proc.send_signal(signal.SIGINT)
    assert demo.proc.wait(60) == 0, demo.output
    for url in (ui, service, *others):
        assert refused(url), url
    assert list(demo.tmpdir.iterdir()) == []


def test_demo_keep_leaves_the_files_and_stops_on_sigterm(start_demo: Callable[..., Demo]) -> None:
    """With --keep, SIGTERM (a `kill`, a closed terminal's SIGHUP alike) stops every
    process as Ctrl-C does, and the logs, configs, dumps and store stay."""
    demo = start_demo("--keep")
    demo.wait_for_line(READY)
    ui = demo.find(r"the UI, with the runs above:  (http://127\.0\.0\.1:\d+)/$")
    kept = Path(demo.find(r"logs, configs, thread dumps and the store:  (\S+) \(kept"))
    assert kept.parent == demo.tmpdir

    demo.proc.send_signal(signal.SIGTERM)
    assert demo.proc.wait(60) == 0, demo.output
    assert refused(ui)
    assert f"the store are in {kept}" in demo.output
    names = {p.name for p in kept.iterdir()}
    assert {"alertreflex.db", "alertreflex.log", "demo.log", "threaddumps"} <= names
    assert len(list((kept / "threaddumps").iterdir())) == 2


def test_demo_without_its_programs_names_them_and_leaves_nothing(tmp_path: Path) -> None:
    """Without Prometheus, Alertmanager and a JDK on PATH the demo starts nothing,
    names each missing program with the package that has it, and writes nothing."""
    tmp = tmpdir_of(tmp_path)
    empty = tmp_path / "bin"
    empty.mkdir()
    done = subprocess.run(
        [str(BIN), "demo"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": str(empty), "TMPDIR": str(tmp)},
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    for program, package in [
        ("prometheus", "prometheus"),
        ("prometheus-alertmanager", "prometheus-alertmanager"),
        ("java", "openjdk-17-jdk-headless"),
        ("javac", "openjdk-17-jdk-headless"),
        ("jcmd", "openjdk-17-jdk-headless"),
    ]:
        assert f"{program}: not found on PATH (install with: apt-get install {package})" in (
            done.stderr
        )
    assert list(tmp.iterdir()) == []
