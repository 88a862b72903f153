"""``exec`` with a ``container`` target, run by a real server through the session's
podman: the guarantees of the host path (argv only, captured output, the alert on
stdin and in the environment, exit codes, a timeout that stops the command)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

import tests.conftest
from alertreflex.actions.base import ActionContext, StepOutcome
from alertreflex.actions.exec import ExecAction, ExecParams
from alertreflex.config.containers import container_access
from alertreflex.config.schema import Settings
from alertreflex.core.models import Trigger
from alertreflex.targets.process import ExecProcess
from tests.containers.conftest import StartContainer, engine_settings, wait_until
from tests.payloads import alert, notification
from tests.podman import Podman

HOSTILE = "$(id); rm -rf / #'\"`"
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _labels(container: str, name: str, **extra: str) -> dict[str, str]:
    return {"alertname": name, "team": "warehouse", "container": container, **extra}


def test_exec_in_a_container_keeps_the_host_guarantees(
    make_server: Any, container: StartContainer, base_image: str, engine_url: str
) -> None:
    """A hostile label value stays one argument; stdout, stderr and the exit code are
    the step's; cwd and env apply in the container; stdin holds the run's JSON; the
    ALERT_* and ALERTREFLEX_* variables are set, and nothing of the server's
    environment (not even PATH) reaches the command."""
    name = container(base_image, "sleep", "infinity", labels={"team": "warehouse"})
    srv = make_server(
        engine_settings(engine_url)
        + """\
reflexes:
  - name: exec-in-container
    team: warehouse
    match: ['alertname="Exec"']
    on_firing:
      - exec:
          container: "{{ alert.labels.container }}"
          command: [printf, "[%s]\\n", "{{ alert.labels.hostile }}"]
      - exec:
          container: "{{ alert.labels.container }}"
          command: [sh, -c, "pwd; cat; echo; env; echo to-stderr >&2; exit 3"]
          cwd: /tmp
          env: {EXTRA: from-the-step}
          success_exit_codes: [3]
      - exec:
          container: "{{ alert.labels.container }}"
          command: [sh, -c, "exit 4"]
""",
        env={"SERVER_ONLY_SECRET": "must-not-leak"},
    )
    srv.post(notification(alert(_labels(name, "Exec", hostile=HOSTILE))))
    run = srv.run(srv.wait_runs(1, states=("failed",))[0]["id"])
    assert run["reason"] == "step 2 (exec): exit 4"
    argv, env_step, failing = run["steps"]

    assert argv["outcome"] == "succeeded"
    assert argv["output"] == f"[{HOSTILE}]\n"
    assert argv["details"]["container"]["name"] == name

    assert env_step["outcome"] == "succeeded" and env_step["exit_code"] == 3
    assert env_step["details"]["stderr"] == "to-stderr\n"
    cwd, stdin, *env_lines = env_step["output"].splitlines()
    assert cwd == "/tmp"
    document = json.loads(stdin)
    assert document["run_id"] == run["id"] and document["reflex"] == "exec-in-container"
    assert document["alert"]["labels"]["hostile"] == HOSTILE
    env = dict(line.split("=", 1) for line in env_lines if "=" in line)
    assert env["ALERT_LABEL_HOSTILE"] == HOSTILE
    assert env["ALERT_LABEL_CONTAINER"] == name
    assert env["ALERTREFLEX_RUN_ID"] == run["id"]
    assert env["ALERTREFLEX_TEAM"] == "warehouse"
    assert env["EXTRA"] == "from-the-step"
    assert env["PATH"] == IMAGE_PATH  # the image's, not the server's
    assert env["container"] == "podman"  # the container's own environment applies
    assert "SERVER_ONLY_SECRET" not in env_step["output"]

    assert failing["outcome"] == "failed"
    assert failing["exit_code"] == 4 and failing["summary"] == "exit 4"


SLEEPER = """\
reflexes:
  - name: sleeper
    team: warehouse
    match: ['alertname="Sleep"']
    on_firing:
      - exec:
          container: "{{ alert.labels.container }}"
          command: [sh, -c, "trap '' TERM; sleep %(s)d & sleep %(s)d"]
          timeout: 1s
"""


def _sleepers_on_host(seconds: int) -> list[str]:
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True)
    return [line for line in ps.stdout.splitlines() if f"sleep {seconds}" in line]


def _sleepers_in(podman: Podman, name: str, seconds: int) -> list[str]:
    top = podman.run("top", name, "pid,args").stdout
    return [line for line in top.splitlines() if f"sleep {seconds}" in line]


def _timed_out_run(srv: Any, name: str, podman: Podman, seconds: int) -> dict[str, Any]:
    started = time.monotonic()
    srv.post(notification(alert(_labels(name, "Sleep"))))
    run = srv.run(srv.wait_runs(1, states=("timed_out",), timeout=30)[0]["id"])
    elapsed = time.monotonic() - started
    step = run["steps"][0]
    assert step["outcome"] == "timed_out"
    assert step["summary"] == "timed out after 1s", step["summary"]
    assert elapsed < 8, f"the step took {elapsed:.1f}s to stop"
    # The command and its background child are gone, seen from the host and from the
    # engine, although both ignore SIGTERM.
    assert wait_until(lambda: not _sleepers_on_host(seconds)), _sleepers_on_host(seconds)
    assert not _sleepers_in(podman, name, seconds)
    return step


def test_a_command_that_ignores_its_timeout_is_stopped(
    make_server: Any,
    container: StartContainer,
    base_image: str,
    engine_url: str,
    podman: Podman,
) -> None:
    """A command that ignores SIGTERM and sleeps past its 1s timeout, with a child in
    the background: the run is timed_out, and both processes are gone, killed as one
    process group from the host, where alertreflex sees the exec's process."""
    name = container(base_image, "sleep", "infinity", labels={"team": "warehouse"})
    assert not _sleepers_on_host(3771)
    srv = make_server(engine_settings(engine_url) + SLEEPER % {"s": 3771})
    step = _timed_out_run(srv, name, podman, 3771)
    assert step["details"]["killed_from"] == "host"


def test_the_timeout_holds_when_alertreflex_cannot_see_the_process(
    make_server: Any,
    container: StartContainer,
    base_image: str,
    engine_url: str,
    podman: Podman,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server in a PID namespace of its own, as in a container without the host's:
    the exec's pid means nothing to it, so it kills the command from inside the
    container (by the mark in the command's environment), and the timeout still holds."""
    wrapper = tmp_path / "alertreflex-own-pid-namespace"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'exec unshare --pid --fork --mount-proc --kill-child "{tests.conftest.BIN}" "$@"\n'
    )
    wrapper.chmod(0o755)
    monkeypatch.setattr(tests.conftest, "BIN", wrapper)
    name = container(base_image, "sleep", "infinity", labels={"team": "warehouse"})
    srv = make_server(engine_settings(engine_url) + SLEEPER % {"s": 3773})
    step = _timed_out_run(srv, name, podman, 3773)
    assert step["details"]["killed_from"] == "container"


async def test_a_command_that_cannot_be_stopped_is_reported(
    container: StartContainer, base_image: str, engine_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When alertreflex can neither see the command's process nor find `sh` in the
    container to kill it from inside, the step is timed_out and its summary says that
    the command may still run there, and why."""
    name = container(
        base_image, "/bin/sleep", "infinity", labels={"team": "warehouse"}, env={"PATH": "/nowhere"}
    )
    monkeypatch.setattr(ExecProcess, "find", classmethod(lambda cls, pid, mark: None))
    access = container_access(Settings.model_validate({"containers": {"url": engine_url}}))
    ctx = ActionContext(
        run_id="run-1",
        reflex="sleeper",
        team="warehouse",
        trigger=Trigger.FIRING,
        alert={"labels": {}},
        notification={},
        containers=access,
    )
    action = ExecAction()
    params = ExecParams.model_validate(
        {"command": ["/bin/sleep", "3775"], "container": name, "timeout": "500ms"}
    )
    try:
        result = await action.execute(params, ctx)
    finally:
        await action.close()
    assert result.outcome is StepOutcome.TIMED_OUT
    assert result.summary == (
        f"timed out after 500ms; the command may still run in container {name}: alertreflex "
        "cannot see its process from here and could not kill it inside the container "
        f"(container {name} has no program 'sh' on its PATH); run alertreflex on the "
        "engine's host, in its PID namespace, as root"
    )
    assert "killed_from" not in result.details


async def test_a_cancelled_step_leaves_nothing_running_in_the_container(
    container: StartContainer, base_image: str, engine_url: str, podman: Podman
) -> None:
    """A step cancelled mid-command (shutdown, cancel_on_resolve) kills the command
    and its children in the container before it gives way."""
    name = container(base_image, "sleep", "infinity", labels={"team": "warehouse"})
    access = container_access(Settings.model_validate({"containers": {"url": engine_url}}))
    ctx = ActionContext(
        run_id="run-2",
        reflex="sleeper",
        team="warehouse",
        trigger=Trigger.FIRING,
        alert={"labels": {}},
        notification={},
        containers=access,
    )
    action = ExecAction()
    params = ExecParams.model_validate(
        {"command": ["sh", "-c", "sleep 3776 & sleep 3776"], "container": name, "timeout": "1m"}
    )
    try:
        step = asyncio.create_task(action.execute(params, ctx))
        assert await asyncio.to_thread(
            wait_until, lambda: len(_sleepers_in(podman, name, 3776)) >= 2
        )
        step.cancel()
        with pytest.raises(asyncio.CancelledError):
            await step
    finally:
        await action.close()
    assert not _sleepers_in(podman, name, 3776)
    assert not _sleepers_on_host(3776)
