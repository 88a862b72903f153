"""Per-reflex policies on a real server: cooldown, dry_run, max_concurrent, flaps,
step failure handling, and hostile alert data."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.payloads import alert, notification


def _labels(name: str = "A", **extra: str) -> dict[str, str]:
    return {"alertname": name, "team": "t", **extra}


def test_cooldown_skips_firing_runs(make_server) -> None:  # type: ignore[no-untyped-def]
    """A second episode within the cooldown is recorded as skipped: cooldown."""
    srv = make_server("""\
reflexes:
  - name: r
    team: t
    match: []
    cooldown: 1h
    on_firing: [{exec: {command: ["true"]}}]
""")
    srv.post(notification(alert(_labels("A"))))
    srv.wait_runs(1)
    srv.post(notification(alert(_labels("B"))))
    skipped = srv.wait_runs(1, states=("skipped",))
    assert skipped[0]["reason"].startswith("cooldown:")
    assert srv.metric('alertreflex_runs_skipped_total{reason="cooldown",reflex="r"}') == 1


def test_dry_run_records_rendered_steps_and_runs_nothing(make_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """dry_run renders the steps into the run and executes nothing."""
    marker = tmp_path / "ran"
    srv = make_server(f"""\
reflexes:
  - name: r
    team: t
    match: []
    dry_run: true
    on_firing: [{{exec: {{command: ["touch", "{marker}-{{{{ alert.labels.alertname }}}}"]}}}}]
""")
    srv.post(notification(alert(_labels("A"))))
    run = srv.wait_runs(1, states=("skipped",))[0]
    detail = srv.run(run["id"])
    assert detail["reason"].startswith("dry_run")
    assert detail["steps"][0]["params"]["command"] == ["touch", f"{marker}-A"]
    time.sleep(0.2)
    assert not list(tmp_path.glob("ran*"))


def test_max_concurrent_serialises_a_reflex(make_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """With max_concurrent 1, runs of one reflex never overlap."""
    log = tmp_path / "spans"
    script = (
        "import sys,time;f=open(sys.argv[1],'a');f.write(f'{time.time()} start\\n');"
        "f.flush();time.sleep(0.2);f.write(f'{time.time()} end\\n')"
    )
    srv = make_server(f"""\
settings: {{max_concurrent_runs: 8}}
reflexes:
  - name: r
    team: t
    match: []
    max_concurrent: 1
    on_firing: [{{exec: {{command: ["python3", "-c", {json.dumps(script)}, "{log}"]}}}}]
""")
    for i in range(4):
        srv.post(notification(alert(_labels(f"A{i}"))))
    srv.wait_runs(4)
    events = [line.split()[1] for line in sorted(log.read_text().splitlines())]
    assert events == ["start", "end"] * 4


def test_failed_step_stops_the_run_unless_continue_on_error(make_server) -> None:  # type: ignore[no-untyped-def]
    """A failing step fails the run and later steps do not run; continue_on_error goes on."""
    srv = make_server("""\
reflexes:
  - name: stops
    team: t
    match: ['alertname="A"']
    on_firing:
      - exec: {command: ["sh", "-c", "echo oops >&2; exit 3"]}
      - exec: {command: ["echo", "never"]}
  - name: goes-on
    team: t
    match: ['alertname="A"']
    on_firing:
      - {exec: {command: ["false"]}, continue_on_error: true}
      - exec: {command: ["echo", "after"]}
""")
    srv.post(notification(alert(_labels("A"))))
    failed = srv.wait_runs(1, states=("failed",), reflex="stops")[0]
    detail = srv.run(failed["id"])
    assert len(detail["steps"]) == 1
    assert detail["steps"][0]["exit_code"] == 3
    assert detail["steps"][0]["details"]["stderr"] == "oops\n"
    assert "step 0" in detail["reason"] and "exit 3" in detail["reason"]
    ok = srv.wait_runs(1, reflex="goes-on")[0]
    steps = srv.run(ok["id"])["steps"]
    assert [s["outcome"] for s in steps] == ["failed", "succeeded"]
    assert steps[1]["output"] == "after\n"


def test_timeout_is_recorded(make_server) -> None:  # type: ignore[no-untyped-def]
    """A step over its timeout ends the run as timed_out."""
    srv = make_server("""\
reflexes:
  - name: r
    team: t
    match: []
    on_firing: [{exec: {command: ["sleep", "30"], timeout: 200ms}}]
""")
    srv.post(notification(alert(_labels())))
    run = srv.wait_runs(1, states=("timed_out",))[0]
    assert "timed out" in run["reason"]


def test_template_error_fails_the_step_clearly(make_server) -> None:  # type: ignore[no-untyped-def]
    """A label the template needs but the alert lacks fails the step, naming it."""
    srv = make_server("""\
reflexes:
  - name: r
    team: t
    match: []
    on_firing: [{exec: {command: ["echo", "{{ alert.labels.pid }}"]}}]
""")
    srv.post(notification(alert(_labels())))
    run = srv.wait_runs(1, states=("failed",))[0]
    assert "cannot render step" in run["reason"] and "pid" in run["reason"]


def test_flap_within_resolve_delay_is_one_episode(make_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Resolved then firing again within resolve_delay: no resolved steps, no new firing run."""
    srv = make_server("""\
reflexes:
  - name: r
    team: t
    match: []
    resolve_delay: 2s
    on_firing: [{exec: {command: ["echo", "fire"]}}]
    on_resolved: [{exec: {command: ["echo", "resolve"]}}]
""")
    labels = _labels()
    srv.post(notification(alert(labels, starts_at="2026-11-25T01:00:00Z")))
    srv.wait_runs(1)
    srv.post(notification(alert(labels, starts_at="2026-11-25T01:00:00Z", status="resolved")))
    srv.post(notification(alert(labels, starts_at="2026-11-25T01:00:20Z")))
    time.sleep(2.5)
    runs = srv.runs()
    states = sorted((r["trigger"], r["state"]) for r in runs)
    assert states == [("firing", "skipped"), ("firing", "succeeded"), ("resolved", "skipped")]
    # The continued episode resolves for real: its resolved steps run once, after the delay.
    srv.post(notification(alert(labels, starts_at="2026-11-25T01:00:20Z", status="resolved")))
    srv.wait_runs(1, trigger="resolved", timeout=10)


def test_resolve_delay_runs_resolved_steps_after_the_delay(make_server) -> None:  # type: ignore[no-untyped-def]
    """Without a flap, resolved steps run once the delay has passed."""
    srv = make_server("""\
reflexes:
  - name: r
    team: t
    match: []
    resolve_delay: 1s
    on_resolved: [{exec: {command: ["echo", "resolve"]}}]
""")
    t0 = time.time()
    srv.post(notification(alert(_labels(), status="resolved")))
    run = srv.wait_runs(1, timeout=10)[0]
    assert run["started_at"] - t0 >= 0.9


HOSTILE = [
    "$(touch x)",
    "; touch x",
    "`touch x`",
    "a\nb\r\n",
    "{{ 7*7 }}",
    "{% raw %}",
    "' \" \\",
    "-rf",
    "x" * 100_000,
    "ünï©ødé ☃",
]


def test_hostile_label_values_arrive_verbatim(make_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Hostile values reach the command as single argv elements and are never evaluated."""
    out = tmp_path / "argv"
    script = "import json,sys;open(sys.argv[1],'a').write(json.dumps(sys.argv[2:])+'\\n')"
    srv = make_server(f"""\
settings: {{output_limit: 1MiB}}
reflexes:
  - name: r
    team: t
    match: []
    max_concurrent: 4
    on_firing:
      - exec:
          command: ["python3", "-c", {json.dumps(script)}, "{out}", "{{{{ alert.labels.v }}}}",
                    "{{{{ alert.annotations.summary }}}}"]
""")
    for i, value in enumerate(HOSTILE):
        resp = srv.post(
            notification(alert(_labels(f"A{i}", v=value), annotations={"summary": value}))
        )
        assert resp.status_code == 200
    srv.wait_runs(len(HOSTILE), timeout=30)
    got = sorted(tuple(json.loads(line)) for line in out.read_text().splitlines())
    assert got == sorted((v, v) for v in HOSTILE)
    assert not (tmp_path / "x").exists() and not Path("x").exists()


def _children(pid: int) -> list[int]:
    out = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(p) for p in out]


def test_exec_worker_death_fails_its_steps_and_is_replaced(make_server) -> None:  # type: ignore[no-untyped-def]
    """If the exec worker process dies mid-step, that step fails clearly and the
    next step gets a new worker."""
    import os
    import signal

    srv = make_server("""\
reflexes:
  - name: r
    team: t
    match: []
    max_concurrent: 4
    on_firing: [{exec: {command: ["sleep", "30"]}}]
  - name: quick
    team: u
    match: []
    on_firing: [{exec: {command: ["echo", "ok"]}}]
""")
    srv.post(notification(alert(_labels("Slow"))))
    srv.wait_runs(1, states=("running",))
    (worker,) = [
        p
        for p in _children(srv.proc.pid)
        if b"exec_worker" in Path(f"/proc/{p}/cmdline").read_bytes()
    ]
    os.kill(worker, signal.SIGKILL)
    failed = srv.wait_runs(1, states=("failed",), timeout=10)[0]
    assert "exec worker process exited" in failed["reason"]
    srv.post(notification(alert({"alertname": "Next", "team": "u"})))
    ok = srv.wait_runs(1, reflex="quick", timeout=10)[0]
    assert srv.run(ok["id"])["steps"][0]["output"] == "ok\n"
