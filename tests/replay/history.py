"""Alert history in a real Prometheus: ``ALERTS`` series written as OpenMetrics,
turned into TSDB blocks by ``promtool tsdb create-blocks-from openmetrics``, and a
Prometheus started on them (no scraping, no rules: it only answers queries)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

Episodes = Sequence[tuple[float, float]]  # (first sample, last sample), seconds


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (Debian package prometheus): .ci/run installs it")
    return path


def openmetrics(series: Sequence[tuple[Mapping[str, str], Episodes]], interval: float) -> str:
    """The ALERTS samples of ``series``: one every ``interval`` from each episode's
    first sample to its last, as Prometheus's rule evaluation writes them."""
    lines = ["# TYPE ALERTS gauge"]
    for labels, episodes in series:
        shown = ",".join(
            f'{k}="{v}"' for k, v in sorted({**labels, "alertstate": "firing"}.items())
        )
        for first, last in episodes:
            t = first
            while t <= last:
                lines.append(f"ALERTS{{{shown}}} 1 {t:.3f}")
                t += interval
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@contextmanager
def prometheus_with(
    tmp: Path, series: Sequence[tuple[Mapping[str, str], Episodes]], interval: float = 60.0
) -> Iterator[str]:
    """A Prometheus holding ``series`` as history; yields its URL."""
    tmp.mkdir(parents=True, exist_ok=True)
    source = tmp / "alerts.om"
    source.write_text(openmetrics(series, interval))
    data = tmp / "tsdb"
    made = subprocess.run(
        [_tool("promtool"), "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    config = tmp / "prometheus.yml"
    config.write_text("global:\n  external_labels:\n    cluster: replay-test\n")
    port = free_port()
    log = (tmp / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [
            _tool("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=60d",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (tmp / "prometheus.log").read_text()
            assert time.monotonic() < deadline, "Prometheus not ready in 60s"
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
