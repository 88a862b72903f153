"""``jvm_thread_dump`` with a ``container`` target: jcmd run inside a real JVM
container (tests/containers/images/jvm), the dumps stored as artifacts of the run."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.containers.conftest import StartContainer, engine_settings
from tests.payloads import alert, notification

THREAD = '"orange-bucket-filler"'
STARTED = "bucket service started"  # BucketService prints it once its thread runs
METHOD = "BucketService.fillOrangeBucket"


def _dumps(srv: Any, run_id: str) -> list[str]:
    run = srv.run(run_id)
    return [httpx.get(srv.url + a["url"], timeout=10).text for a in run["artifacts"]]


def test_thread_dumps_of_the_jvm_in_the_container_named_by_the_alert(
    make_server: Any, container: StartContainer, jvm_image: str, engine_url: str
) -> None:
    """The alert's `container` label names the container; two dumps of pid 1 are the
    run's artifacts, each a full thread dump showing the named thread in its method.
    The same episode notified again (Alertmanager's repeat) makes no second dump."""
    name = container(jvm_image, labels={"team": "warehouse"}, hint="jvm", ready=STARTED)
    srv = make_server(
        engine_settings(engine_url)
        + """\
reflexes:
  - name: dump-bucket-service
    team: warehouse
    match: ['alertname="BucketTooFull_ORANGE"']
    on_firing:
      - jvm_thread_dump:
          container: "{{ alert.labels.container }}"
          pid: 1
          count: 2
          interval: 200ms
"""
    )
    payload = notification(
        alert({"alertname": "BucketTooFull_ORANGE", "team": "warehouse", "container": name})
    )
    started = time.monotonic()
    assert srv.post(payload).status_code == 200
    run = srv.wait_runs(1, timeout=60)[0]
    print(f"notification to stored dumps: {time.monotonic() - started:.2f}s")
    step = srv.run(run["id"])["steps"][0]
    assert step["summary"].startswith(f"2 thread dumps of pid 1 in container {name}, 0.2s apart")
    assert step["details"]["container"]["name"] == name
    dumps = _dumps(srv, run["id"])
    assert len(dumps) == 2
    for dump in dumps:
        assert "Full thread dump" in dump
        assert THREAD in dump and METHOD in dump

    assert srv.post(payload).status_code == 200
    time.sleep(1.0)
    assert [r["id"] for r in srv.runs()] == [run["id"]]
    assert len(srv.run(run["id"])["artifacts"]) == 2


def test_the_jvm_is_found_with_jcmd_in_the_container(
    make_server: Any, container: StartContainer, jvm_image: str, engine_url: str
) -> None:
    """Without pid, the one JVM that `jcmd -l` lists in the container is dumped; with
    main_class, the one whose line matches; the container is selected by its labels."""
    container(jvm_image, labels={"team": "warehouse", "app": "buckets"}, hint="jvm", ready=STARTED)
    srv = make_server(
        engine_settings(engine_url)
        + """\
reflexes:
  - name: dump-the-only-jvm
    team: warehouse
    match: ['alertname="A"']
    on_firing:
      - jvm_thread_dump: {container: {labels: {app: buckets}}}
  - name: dump-by-main-class
    team: warehouse
    match: ['alertname="B"']
    on_firing:
      - jvm_thread_dump: {container: {labels: {app: "{{ alert.labels.app }}"}}, main_class: "^Bucket"}
"""
    )
    for alertname in ("A", "B"):
        labels = {"alertname": alertname, "team": "warehouse", "app": "buckets"}
        srv.post(notification(alert(labels)))
    runs = srv.wait_runs(2, timeout=60)
    for run in runs:
        step = srv.run(run["id"])["steps"][0]
        assert step["details"]["target"].startswith("pid 1 in container alertreflex-test-jvm-")
        (dump,) = _dumps(srv, run["id"])
        assert "Full thread dump" in dump and THREAD in dump
