"""The ``exec`` action, against real subprocesses."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from alertreflex.actions._output import CappedBuffer, cap_bytes
from alertreflex.actions.base import ActionContext, StepOutcome, StepResult, load_action_types
from alertreflex.actions.exec import ExecAction, ExecParams
from alertreflex.actions.http import HttpAction
from alertreflex.core.models import Trigger
from tests.procs import alive

PY = sys.executable


def make_ctx(
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    output_limit: int = 64 * 1024,
    **alert: Any,
) -> ActionContext:
    base: dict[str, Any] = {
        "labels": labels if labels is not None else {"alertname": "Stall", "team": "core"},
        "annotations": annotations if annotations is not None else {"summary": "it stalls"},
        "status": "firing",
        "starts_at": "2024-05-01T10:00:00.000000Z",
        "ends_at": None,
        "fingerprint": "f00dfeed",
        "generator_url": "http://prometheus/graph?g0.expr=up",
    }
    base.update(alert)
    return ActionContext(
        run_id="run-0123",
        reflex="thread-dump",
        team="core",
        trigger=Trigger.FIRING,
        alert=base,
        notification={"receiver": "alertreflex", "status": "firing"},
        output_limit=output_limit,
    )


async def run(
    ctx: ActionContext | None = None, action: ExecAction | None = None, **params: Any
) -> StepResult:
    action = action or ExecAction()
    validated = ExecParams.model_validate(params)
    return await action.execute(validated, ctx or make_ctx())


def py(code: str, *args: str) -> list[str]:
    return [PY, "-c", code, *args]


async def wait_gone(pid: int, within: float = 3.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        await asyncio.sleep(0.02)
    return not alive(pid)


async def test_success_captures_stdout() -> None:
    """A command that exits 0 succeeds and its stdout becomes the output."""
    result = await run(command=py("print('hello'); import sys; print('oops', file=sys.stderr)"))
    assert result.outcome is StepOutcome.SUCCEEDED
    assert result.exit_code == 0
    assert result.summary == "exit 0"
    assert result.output == "hello\n"
    assert result.details["stderr"] == "oops\n"


async def test_nonzero_exit_fails_with_exit_code() -> None:
    """A non-zero exit fails the step and reports the exit code."""
    result = await run(command=py("import sys; sys.exit(3)"))
    assert result.outcome is StepOutcome.FAILED
    assert result.exit_code == 3
    assert result.summary == "exit 3"


async def test_success_exit_codes() -> None:
    """Exit codes listed in success_exit_codes count as success, and 0 then does not."""
    ok = await run(command=py("import sys; sys.exit(3)"), success_exit_codes=[0, 3])
    assert ok.outcome is StepOutcome.SUCCEEDED
    assert ok.exit_code == 3
    zero = await run(command=py("pass"), success_exit_codes=[1])
    assert zero.outcome is StepOutcome.FAILED


async def test_killed_by_signal() -> None:
    """A command killed by a signal reports the negative signal number and its name."""
    result = await run(command=py("import os, signal; os.kill(os.getpid(), signal.SIGTERM)"))
    assert result.outcome is StepOutcome.FAILED
    assert result.exit_code == -signal.SIGTERM
    assert result.summary == "killed by SIGTERM"


async def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """ALERT_* and ALERTREFLEX_* are set, odd label names are sanitised, nothing else leaks."""
    monkeypatch.setenv("ALERTREFLEX_TEST_SECRET", "hunter2")
    monkeypatch.setenv("LANG", "C.UTF-8")
    ctx = make_ctx(
        labels={"alertname": "Stall", "k8s.io/app-name": "web", "ünï": "x", "team": "core"},
        annotations={"runbook-url": "http://wiki/stall"},
        ends_at="2024-05-01T11:00:00Z",
    )
    result = await run(
        ctx,
        command=py("import json, os; print(json.dumps(dict(os.environ)))"),
        env={"EXTRA": "1", "ALERT_STATUS": "overridden"},
    )
    assert result.outcome is StepOutcome.SUCCEEDED, result
    env = json.loads(result.output)
    assert env["ALERTREFLEX_RUN_ID"] == "run-0123"
    assert env["ALERTREFLEX_REFLEX"] == "thread-dump"
    assert env["ALERTREFLEX_TEAM"] == "core"
    assert env["ALERTREFLEX_TRIGGER"] == "firing"
    assert env["ALERT_FINGERPRINT"] == "f00dfeed"
    assert env["ALERT_STARTS_AT"] == "2024-05-01T10:00:00.000000Z"
    assert env["ALERT_ENDS_AT"] == "2024-05-01T11:00:00Z"
    assert env["ALERT_GENERATOR_URL"] == "http://prometheus/graph?g0.expr=up"
    assert env["ALERT_LABEL_ALERTNAME"] == "Stall"
    assert env["ALERT_LABEL_K8S_IO_APP_NAME"] == "web"
    assert env["ALERT_LABEL__N_"] == "x"
    assert env["ALERT_ANNOTATION_RUNBOOK_URL"] == "http://wiki/stall"
    assert env["EXTRA"] == "1"
    assert env["ALERT_STATUS"] == "overridden"  # the step's env comes last
    assert env["PATH"] == os.environ["PATH"]
    assert env["LANG"] == "C.UTF-8"
    assert "ALERTREFLEX_TEST_SECRET" not in env


async def test_no_ends_at_variable_while_firing() -> None:
    """ALERT_ENDS_AT is absent when the alert has no end."""
    result = await run(command=py("import os; print('ALERT_ENDS_AT' in os.environ)"))
    assert result.output == "False\n"


async def test_nul_in_environment_value_is_dropped() -> None:
    """A value with a NUL byte is left out of the environment and listed in env_dropped."""
    ctx = make_ctx(labels={"alertname": "Stall", "evil": "a\0b"})
    result = await run(
        ctx,
        command=py("import os; print(sorted(k for k in os.environ if 'EVIL' in k))"),
        env={"STEP_EVIL": "x\0y", "FINE": "ok"},
    )
    assert result.outcome is StepOutcome.SUCCEEDED
    assert result.output == "[]\n"
    assert result.details["env_dropped"] == ["ALERT_LABEL_EVIL", "STEP_EVIL"]


def test_reserved_and_invalid_env_names_are_rejected() -> None:
    """The step's env may not set ALERTREFLEX_* nor use names with '='."""
    with pytest.raises(ValidationError, match="reserved"):
        ExecParams.model_validate({"command": ["true"], "env": {"ALERTREFLEX_RUN_ID": "x"}})
    with pytest.raises(ValidationError, match="invalid environment variable name"):
        ExecParams.model_validate({"command": ["true"], "env": {"A=B": "x"}})


async def test_stdin_json() -> None:
    """stdin carries the run and the alert as JSON."""
    result = await run(command=py("import json, sys; print(json.dumps(json.load(sys.stdin)))"))
    assert result.outcome is StepOutcome.SUCCEEDED
    data = json.loads(result.output)
    assert data["run_id"] == "run-0123"
    assert data["reflex"] == "thread-dump"
    assert data["team"] == "core"
    assert data["trigger"] == "firing"
    assert data["alert"]["labels"] == {"alertname": "Stall", "team": "core"}
    assert data["alert"]["fingerprint"] == "f00dfeed"
    assert data["notification"] == {"receiver": "alertreflex", "status": "firing"}


async def test_stdin_json_with_a_huge_integer() -> None:
    """Values orjson cannot encode (an integer beyond 64 bits) still reach stdin."""
    ctx = make_ctx(value=2**70)
    result = await run(
        ctx, command=py("import json, sys; print(json.load(sys.stdin)['alert']['value'])")
    )
    assert result.outcome is StepOutcome.SUCCEEDED
    assert result.output == f"{2**70}\n"


HOSTILE = [
    "$(touch x)",
    "; rm -rf /",
    "`touch x`",
    "line1\nline2\n",
    "{{ 7*7 }}",
    "' \" \\ * ? ~ & | > x",
    "",
    "v" * 100_000,
]


async def test_hostile_values_are_single_verbatim_arguments(tmp_path: Path) -> None:
    """Shell syntax, newlines, templates and 100 kB values each arrive verbatim as one argument."""
    labels = {f"v{i}": value for i, value in enumerate(HOSTILE)}
    ctx = make_ctx(labels=labels, output_limit=4 * 1024 * 1024)
    code = (
        "import json, os, sys; "
        "print(json.dumps([sys.argv[1:], "
        f"[os.environ['ALERT_LABEL_V' + str(i)] for i in range({len(HOSTILE)})]]))"
    )
    result = await run(ctx, command=py(code, *HOSTILE), cwd=str(tmp_path))
    assert result.outcome is StepOutcome.SUCCEEDED, result.summary
    argv, env_values = json.loads(result.output)
    assert argv == HOSTILE
    assert env_values == HOSTILE
    assert not (tmp_path / "x").exists()
    assert list(tmp_path.iterdir()) == []


async def test_timeout_kills_the_process_group() -> None:
    """On timeout the whole group dies, including a grandchild, and the step is timed_out."""
    code = (
        "import subprocess, time; p = subprocess.Popen(['sleep', '60']); "
        "print(p.pid, flush=True); time.sleep(60)"
    )
    started = time.monotonic()
    result = await run(command=py(code), timeout="500ms")
    assert time.monotonic() - started < 5
    assert result.outcome is StepOutcome.TIMED_OUT
    assert result.summary == "timed out after 500ms"
    assert result.exit_code == -signal.SIGKILL
    grandchild = int(result.output)
    assert await wait_gone(grandchild)


async def test_backgrounded_grandchild_is_killed_after_exit() -> None:
    """A grandchild left running by a command that exits is killed and does not hold the step."""
    code = "import subprocess; p = subprocess.Popen(['sleep', '60']); print(p.pid)"
    started = time.monotonic()
    result = await run(command=py(code), timeout="20s")
    assert time.monotonic() - started < 5
    assert result.outcome is StepOutcome.SUCCEEDED
    assert "pipes_held_open" not in result.details
    assert await wait_gone(int(result.output))


async def test_escaped_process_does_not_hang_the_step() -> None:
    """A process that left the group holds the pipes open: the step still ends, after a bound."""
    code = (
        "import subprocess; "
        "p = subprocess.Popen(['sleep', '60'], start_new_session=True); print(p.pid, flush=True)"
    )
    action = ExecAction()
    action.pipe_grace = 0.3
    started = time.monotonic()
    result = await run(action=action, command=py(code), timeout="20s")
    try:
        assert time.monotonic() - started < 5
        assert result.outcome is StepOutcome.SUCCEEDED
        assert result.details["pipes_held_open"] is True
    finally:
        os.kill(int(result.output), signal.SIGKILL)


async def test_cancellation_kills_the_process_group() -> None:
    """Cancelling a running step (shutdown) kills the command and its children."""
    pid_file = Path(f"/tmp/alertreflex-test-{os.getpid()}-cancel.pid")
    code = (
        "import os, subprocess, sys, time; p = subprocess.Popen(['sleep', '60']); "
        "open(sys.argv[1], 'w').write(f'{os.getpid()} {p.pid}\\n'); time.sleep(60)"
    )
    task = asyncio.create_task(run(command=py(code, str(pid_file)), timeout="60s"))
    try:
        deadline = time.monotonic() + 10
        while not (pid_file.exists() and pid_file.read_text().endswith("\n")):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        child, grandchild = map(int, pid_file.read_text().split())
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await wait_gone(child)
        assert await wait_gone(grandchild)
        await asyncio.sleep(0.2)  # let the child watcher report the exit before the loop ends
    finally:
        pid_file.unlink(missing_ok=True)


async def test_command_that_ignores_a_large_stdin() -> None:
    """A command that never reads stdin is not blocked by a 1 MB payload."""
    ctx = make_ctx(annotations={"blob": "y" * 1_000_000})
    started = time.monotonic()
    result = await run(
        ctx, command=py("import time; time.sleep(0.2); print('done')"), timeout="10s"
    )
    assert time.monotonic() - started < 5
    assert result.outcome is StepOutcome.SUCCEEDED
    assert result.output == "done\n"
    # Too long for one environment string: left out (the alert is on stdin) rather
    # than making the exec fail with E2BIG.
    assert result.details["env_dropped"] == ["ALERT_ANNOTATION_BLOB"]


async def test_large_stdin_is_delivered_whole() -> None:
    """A 1 MB stdin payload arrives complete."""
    ctx = make_ctx(annotations={"blob": "y" * 1_000_000})
    result = await run(ctx, command=py("import sys; print(len(sys.stdin.buffer.read()))"))
    assert result.outcome is StepOutcome.SUCCEEDED
    assert int(result.output) == len(ExecAction.stdin_payload(ctx)) > 1_000_000


async def test_output_is_capped_with_a_note() -> None:
    """stdout and stderr keep output_limit bytes each and say how much was cut."""
    ctx = make_ctx(output_limit=1000)
    code = "import sys; sys.stdout.write('a' * 300000); sys.stderr.write('b' * 1500)"
    result = await run(ctx, command=py(code))
    assert result.outcome is StepOutcome.SUCCEEDED
    assert result.output == "a" * 1000 + "\n[... 299000 bytes truncated]"
    assert result.details["stderr"] == "b" * 1000 + "\n[... 500 bytes truncated]"


def test_capped_buffer_does_not_split_a_character() -> None:
    """A cut inside a multi-byte UTF-8 character drops the partial character."""
    assert cap_bytes("aé".encode(), 2) == "a\n[... 2 bytes truncated]"
    assert cap_bytes(b"ok\n", 3) == "ok\n"
    assert cap_bytes(b"\xff", 10) == "\ufffd"
    buf = CappedBuffer(4)
    for part in (b"ab", b"cd", b"ef\n"):
        buf.feed(part)
    assert buf.text() == "abcd\n[... 3 bytes truncated]"


async def test_missing_program() -> None:
    """A program that does not exist fails the step with a summary naming it."""
    result = await run(command=["alertreflex-no-such-program", "--flag"])
    assert result.outcome is StepOutcome.FAILED
    assert result.exit_code is None
    assert result.summary == "cannot run 'alertreflex-no-such-program': program not found on PATH"


async def test_program_without_permission(tmp_path: Path) -> None:
    """A file that is not executable fails the step with permission denied."""
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(stat.S_IRUSR | stat.S_IWUSR)
    if os.access(script, os.X_OK):  # running as root with an exotic setup
        pytest.skip("root can execute any file here")
    result = await run(command=[str(script)])
    assert result.outcome is StepOutcome.FAILED
    assert result.summary == f"cannot run {str(script)!r}: permission denied"


async def test_missing_working_directory(tmp_path: Path) -> None:
    """A cwd that does not exist fails the step with a summary naming the directory."""
    missing = str(tmp_path / "nope")
    result = await run(command=[PY, "-c", "pass"], cwd=missing)
    assert result.outcome is StepOutcome.FAILED
    assert missing in result.summary
    assert "working directory" in result.summary


async def test_nul_in_argv_fails() -> None:
    """A NUL byte in an argument fails the step and names the argument index."""
    result = await run(command=["echo", "fine", "bad\0arg"])
    assert result.outcome is StepOutcome.FAILED
    assert "command[2]" in result.summary
    assert "NUL" in result.summary


def test_params_validation_and_defaults() -> None:
    """command needs a non-empty program; timeout defaults to 30s and must be positive."""
    params = ExecParams.model_validate({"command": ["true"]})
    assert params.timeout == 30.0
    assert params.success_exit_codes == [0]
    assert params.env == {}
    assert params.cwd is None
    with pytest.raises(ValidationError):
        ExecParams.model_validate({"command": []})
    with pytest.raises(ValidationError, match="must not be empty"):
        ExecParams.model_validate({"command": [""]})
    with pytest.raises(ValidationError):
        ExecParams.model_validate({"command": ["true"], "timeout": "0s"})
    with pytest.raises(ValidationError, match="shell"):
        ExecParams.model_validate({"command": ["true"], "shell": True})
    schema = ExecParams.model_json_schema()
    assert schema["properties"]["timeout"]["default"] == "30s"
    assert all(prop.get("description") for prop in schema["properties"].values())


def test_describe_quotes_the_argv() -> None:
    """describe() shows the argv shell-quoted, for humans."""
    params = ExecParams.model_validate({"command": ["jcmd", "1234", "Thread.print", "a b; c"]})
    assert ExecAction().describe(params) == "exec jcmd 1234 Thread.print 'a b; c'"


def test_builtins_are_registered_as_plugins() -> None:
    """load_action_types() finds the built-in exec and http through the entry-point group."""
    types = load_action_types()
    assert types["exec"] is ExecAction
    assert types["http"] is HttpAction
    assert ExecAction.type_name == "exec"
    assert HttpAction.type_name == "http"
