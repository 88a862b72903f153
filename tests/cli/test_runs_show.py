"""`alertreflex runs --show`: each step's timings and the alert's annotations, and run
ids given by any unique prefix (runs, approve, reject, rerun and the API), against a
real server."""

from __future__ import annotations

import json
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.conftest import run_cli
from tests.payloads import alert, notification

CONFIG = """\
reflexes:
  - name: echo-orange
    team: warehouse
    match: ['alertname = "BucketTooFull_ORANGE"']
    on_firing:
      - name: say it
        exec: {command: ["echo", "fired {{ alert.labels.alertname }}"]}
      - name: take a while
        exec: {command: ["sleep", "0.3"]}
  - name: hold-orange
    team: warehouse
    match: ['alertname = "BucketTooFull_ORANGE"']
    approval: required
    on_firing:
      - exec: {command: ["true"]}
"""
LABELS = {"alertname": "BucketTooFull_ORANGE", "team": "warehouse"}
ANNOTATIONS = {
    "summary": "ORANGE bucket is too full",
    "description": "42 items\nin a bucket for 10",
    "runbook": "\x1b[31mred",  # an escape sequence must not reach the terminal
}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args)


def clock(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S.%f")[:-3]


def shortest_unique_prefix(run_id: str, others: list[str]) -> str:
    return next(
        run_id[:k]
        for k in range(1, len(run_id) + 1)
        if not any(o.startswith(run_id[:k]) for o in others if o != run_id)
    )


def common_prefix(a: str, b: str) -> str:
    return next((a[:k] for k in range(min(len(a), len(b))) if a[k] != b[k]), a)


def started(make_server: Any) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """A server that ran echo-orange and holds hold-orange for approval."""
    srv = make_server(CONFIG)
    assert srv.post(notification(alert(LABELS, annotations=ANNOTATIONS))).status_code == 200
    (echo,) = srv.wait_runs(1, reflex="echo-orange")
    (held,) = srv.wait_runs(1, states=("awaiting_approval",), reflex="hold-orange")
    return srv, srv.run(echo["id"]), held


def test_show_gives_step_timings_and_the_alert(make_server) -> None:  # type: ignore[no-untyped-def]
    """--show prints, per step, when it started and finished and how long it took,
    and the alert's labels, annotations (multi-line ones indented, control
    characters escaped) and where it came from."""
    srv, run, _held = started(make_server)
    done = cli("runs", "--url", srv.url, "--show", run["id"])
    assert done.returncode == 0, done.stderr
    out = done.stdout
    lines = out.splitlines()
    assert lines[0] == f"run {run['id']}: reflex echo-orange (warehouse), firing, succeeded"
    assert re.match(
        r"  created \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, started \S+ \(waited \d+\.\d{3}s\), "
        r"finished \S+ \(took \d+\.\d{3}s\), attempts 1$",
        lines[1],
    ), lines[1]
    assert '  alert alertname="BucketTooFull_ORANGE", team="warehouse"' in lines
    assert "    annotations:" in lines
    block = lines[lines.index("    annotations:") + 1 :]
    assert block[:4] == [
        "      description: 42 items",
        "        in a bucket for 10",
        "      runbook: \\x1b[31mred",
        "      summary: ORANGE bucket is too full",
    ]
    assert block[4].startswith("  step 0 say it (exec): succeeded in ")
    assert "\x1b" not in out
    for step in run["steps"]:
        took = step["finished_at"] - step["started_at"]
        head = f"  step {step['index']} {step['name']} (exec): succeeded in {took:.3f}s"
        assert any(line.startswith(head) for line in lines), (head, out)
        when = f"    started {clock(step['started_at'])}, finished {clock(step['finished_at'])}"
        assert when in lines, (when, out)
    sleep = run["steps"][1]
    assert sleep["finished_at"] - sleep["started_at"] >= 0.3
    assert "    | fired BucketTooFull_ORANGE" in lines
    # Only what the config set, as the run page shows it: no env {}, amx_env, cwd.
    params = [
        json.loads(line.split(": ", 1)[1]) for line in lines if line.startswith("    params:")
    ]
    assert params and all(set(p) == {"command"} for p in params), params


def test_runs_trigger_filters_like_the_api(make_server) -> None:  # type: ignore[no-untyped-def]
    """runs --trigger passes the API's trigger filter: firing lists both runs,
    resolved none; a trigger that does not exist is a usage error."""
    srv, run, held = started(make_server)
    with ThreadPoolExecutor(max_workers=3) as pool:
        firing, resolved, wrong = pool.map(
            lambda t: cli("runs", "--url", srv.url, "--trigger", t),
            ["firing", "resolved", "fired"],
        )
    assert firing.returncode == 0, firing.stderr
    assert {line.split()[0] for line in firing.stdout.splitlines()[1:]} == {
        run["id"],
        held["id"],
    }
    assert (resolved.returncode, resolved.stdout) == (0, "no runs\n")
    assert wrong.returncode == 2 and "invalid choice: 'fired'" in wrong.stderr


def test_a_unique_prefix_names_a_run(make_server) -> None:  # type: ignore[no-untyped-def]
    """Like git with commits: runs --show, reject and rerun take any unique prefix of
    a run id (in any case) and act on that run; an ambiguous prefix lists the runs
    it matches (409) and one that matches nothing is a 404; all exit 1 then."""
    srv, run, held = started(make_server)
    ids = [run["id"], held["id"]]
    echo_prefix = shortest_unique_prefix(run["id"], ids)
    held_prefix = shortest_unique_prefix(held["id"], ids)
    both = common_prefix(*ids)
    assert both, ids  # created in one notification: they share their time part

    api = httpx.get(f"{srv.url}/api/v1/runs/{echo_prefix.upper()}", timeout=10)
    assert api.status_code == 200 and api.json()["id"] == run["id"]
    ambiguous = httpx.get(f"{srv.url}/api/v1/runs/{both}", timeout=10)
    assert ambiguous.status_code == 409
    assert ambiguous.json() == {
        "status": "error",
        "error": f"run id prefix {both!r} matches 2 runs: {', '.join(sorted(ids))}; "
        "give more characters",
        "matches": sorted(ids),
    }
    assert httpx.get(f"{srv.url}/api/v1/runs/zzzz", timeout=10).status_code == 404

    calls = [
        ("runs", "--url", srv.url, "--show", echo_prefix),
        ("runs", "--url", srv.url, "--show", both),
        ("runs", "--url", srv.url, "--show", "zzzz"),
        ("approve", both, "--url", srv.url),
        ("reject", held_prefix, "--reason", "not now", "--url", srv.url),
    ]
    with ThreadPoolExecutor(max_workers=3) as pool:
        shown, unsure, unknown, approve, reject = pool.map(lambda a: cli(*a), calls)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"run {run['id']}: reflex echo-orange")
    assert unsure.returncode == 1 and unsure.stdout == ""
    assert f"409: run id prefix {both!r} matches 2 runs: " in unsure.stderr
    assert all(i in unsure.stderr for i in ids) and "give more characters" in unsure.stderr
    assert unknown.returncode == 1
    assert "404: no run with id 'zzzz', nor one whose id starts with it" in unknown.stderr
    assert approve.returncode == 1 and "HTTP 409: run id prefix" in approve.stderr
    assert (reject.returncode, reject.stdout) == (0, f"run {held['id']} rejected\n"), reject.stderr
    assert srv.run(held["id"])["state"] == "rejected"

    again = cli("rerun", echo_prefix, "--reason", "once more", "--url", srv.url)
    assert again.returncode == 0, again.stderr
    new_id = again.stdout.split()[1]
    assert again.stdout == f"run {new_id} queued: a manual re-run of {run['id']}\n"
    assert srv.run(new_id)["rerun_of"] == run["id"]
