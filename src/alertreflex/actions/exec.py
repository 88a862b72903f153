"""The ``exec`` action: run a program with an argv list, never through a shell.

The alert reaches the program three ways, none of which is ever parsed by a shell:
templated values rendered into single argv elements, ``ALERT_*`` environment
variables (and prometheus-am-executor's ``AMX_*`` ones with ``amx_env``), and the
whole context as JSON on stdin.

Process handling, in order:

1. The child starts in its own session, so it leads a new process group whose id is
   its pid: everything it spawns (unless it calls ``setsid`` itself) can be killed at
   once with ``os.killpg``.
2. stdin is written without ever waiting on the child: a command that never reads
   its stdin cannot block the step.
3. stdout and stderr are consumed as they arrive, each kept up to the run's output
   limit; the rest is read, counted and discarded, so a chatty child never stalls on
   a full pipe.
4. On timeout the whole group gets SIGKILL.
5. When the main process has exited, whatever is left in its group gets SIGKILL too.
6. The step waits a bounded time for the output pipes to close: a process that
   escaped the group (``setsid``, ``nohup ... &`` with a new session) may hold them
   open forever.

The process is spawned and watched by a helper process
(:mod:`alertreflex.actions.exec_worker`, started with the server, or on the first
step for an ``ExecAction`` used on its own): this module prepares the step (checks,
environment, stdin) and turns the helper's answer into the step's result. The helper
watches the main process's exit on a pidfd, apart from its pipes, so that it knows
the main process has exited while a grandchild still holds stdout.

With ``container``, the program runs in that container through the engine's API
instead (:mod:`alertreflex.targets.container`), from the server process: that is I/O
on a socket, not a spawn, so it does not go through the helper process.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import orjson
from pydantic import Field, field_validator

from alertreflex.actions._output import CappedBuffer
from alertreflex.actions.amx_env import amx_environment
from alertreflex.actions.base import Action, ActionContext, ActionParams, StepOutcome, StepResult
from alertreflex.actions.exec_client import ExecWorkerClient
from alertreflex.core.durations import format_duration
from alertreflex.core.types import Duration
from alertreflex.targets.base import Program, TargetError
from alertreflex.targets.params import CONTAINER_DESCRIPTION, ContainerRef, ContainerSelector

if TYPE_CHECKING:
    from alertreflex.targets.engines import EnginePool

# Copied from the server's environment when set; nothing else of it leaks to commands.
BASE_ENV_VARS = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER")
RESERVED_ENV_PREFIX = "ALERTREFLEX_"
# Linux's MAX_ARG_STRLEN: the longest single "NAME=value" string execve accepts.
MAX_ENV_STRING = 128 * 1024

_NOT_ENV_NAME_CHAR = re.compile(r"[^A-Za-z0-9_]")
NO_STDIN_OVER_TLS = (
    "not sent: the engine is reached over TLS, which cannot end a program's input "
    "(read the ALERT_* variables)"
)


def env_name(name: str) -> str:
    """A label or annotation name as an environment variable suffix: ``a.b-c`` -> ``A_B_C``."""
    return _NOT_ENV_NAME_CHAR.sub("_", name).upper()


class ExecParams(ActionParams):
    """Parameters of an ``exec`` step."""

    command: list[str] = Field(
        min_length=1,
        description=(
            "The program and its arguments, as a list. No shell is involved: each element "
            "(after template rendering) is passed to the program as exactly one argument. "
            "A program without a slash is looked up on PATH."
        ),
        examples=[["/usr/local/bin/restart-worker", "--host", "{{ alert.labels.instance }}"]],
    )
    timeout: Annotated[Duration, Field(gt=0)] = Field(
        default="30s",
        validate_default=True,
        description=(
            "How long the command may run. On expiry its whole process group is killed "
            "with SIGKILL and the step is timed_out."
        ),
    )
    env: dict[str, str] = Field(
        default={},
        description=(
            "Extra environment variables, set after (and so overriding) the ALERT_* "
            "variables. Names starting with ALERTREFLEX_ are reserved. The command does "
            "not inherit the server's environment, only PATH, HOME, LANG, LC_ALL, TZ "
            "and USER (in a container: none of it, the container's own applies)."
        ),
    )
    amx_env: bool = Field(
        default=False,
        description=(
            "Also set prometheus-am-executor's AMX_* variables, for the run's one alert "
            "(AMX_ALERT_LEN=1): every label and annotation as AMX_LABEL_<name>, "
            "AMX_ALERT_1_LABEL_<name>, AMX_ANNOTATION_<name> and "
            "AMX_ALERT_1_ANNOTATION_<name>, the group labels as AMX_GLABEL_<name>, and the "
            "receiver, status, times, URL and fingerprint. For scripts migrated with "
            "alertreflex convert-amx; env overrides them."
        ),
    )
    cwd: str | None = Field(
        default=None,
        description="Working directory of the command; by default the server's own (in a "
        "container: a directory in it, by default its image's WORKDIR).",
    )
    success_exit_codes: list[int] = Field(
        default=[0],
        min_length=1,
        description="Exit codes that count as success.",
    )
    container: ContainerRef | None = Field(
        default=None,
        description=CONTAINER_DESCRIPTION,
        examples=["{{ alert.labels.container }}", {"labels": {"app": "orders"}}],
    )

    @field_validator("command")
    @classmethod
    def _program_not_empty(cls, value: list[str]) -> list[str]:
        if not value[0]:
            raise ValueError("the program (command[0]) must not be empty")
        return value

    @field_validator("env")
    @classmethod
    def _valid_env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not name or "=" in name or "\0" in name:
                raise ValueError(
                    f"invalid environment variable name {name!r}: it must be non-empty "
                    "and contain neither '=' nor a NUL byte"
                )
            if name.upper().startswith(RESERVED_ENV_PREFIX):
                raise ValueError(
                    f"environment variable {name!r} is reserved: alertreflex sets the "
                    f"{RESERVED_ENV_PREFIX}* variables itself"
                )
        return value


def _exit_summary(code: int) -> str:
    if code >= 0:
        return f"exit {code}"
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"


class ExecAction(Action[ExecParams]):
    """Runs a program (argv list, no shell) with the alert in its environment and stdin."""

    type_name: ClassVar[str] = "exec"
    Params: ClassVar[type[ActionParams]] = ExecParams

    #: After the main process exits (and its group is killed), how long to keep
    #: reading output from processes that escaped the group before giving up.
    pipe_grace: float = 1.0
    #: After SIGKILL, how long to wait for the main process to be reaped.
    kill_grace: float = 5.0

    def __init__(self) -> None:
        self._worker: ExecWorkerClient | None = None

    async def start(self) -> None:
        # In the server, the helper starts with it; used on its own (tests, plugins),
        # ExecAction starts one on its first step (a lean helper is ready in ~30 ms).
        if self._worker is None:
            self._worker = ExecWorkerClient()
        await self._worker.start()
        _engines().start()

    async def close(self) -> None:
        if self._worker is not None:
            await self._worker.close()
            self._worker = None
        await _engines().stop()

    def describe(self, params: ExecParams) -> str:
        text = f"exec {shlex.join(params.command)}"
        if params.cwd:
            text += f" (in {params.cwd})"
        if params.container is not None:
            text += f" in container {_shown(params.container)}"
        return text

    def build_env(
        self, params: ExecParams, ctx: ActionContext, *, inherit: bool = True
    ) -> tuple[dict[str, str], list[str]]:
        """The command's environment, and the names left out because they cannot be passed.

        ``inherit``: start from the server's PATH, HOME, LANG, LC_ALL, TZ and USER (on
        the host; a container has its own). A variable is left out when it contains a
        NUL byte or is longer than the kernel accepts for one environment string
        (128 KiB).
        """
        candidates: dict[str, str] = (
            {name: os.environ[name] for name in BASE_ENV_VARS if name in os.environ}
            if inherit
            else {}
        )
        alert = ctx.alert
        candidates["ALERT_STATUS"] = _text(alert.get("status"))
        candidates["ALERT_FINGERPRINT"] = _text(alert.get("fingerprint"))
        candidates["ALERT_STARTS_AT"] = _text(alert.get("starts_at"))
        if alert.get("ends_at"):
            candidates["ALERT_ENDS_AT"] = _text(alert["ends_at"])
        candidates["ALERT_GENERATOR_URL"] = _text(alert.get("generator_url"))
        for kind, key in (("LABEL", "labels"), ("ANNOTATION", "annotations")):
            values = alert.get(key) or {}
            # Sorted so that two names that map to one variable (``a.b``, ``a_b``)
            # always resolve the same way.
            for name in sorted(values):
                candidates[f"ALERT_{kind}_{env_name(str(name))}"] = _text(values[name])
        if params.amx_env:
            candidates.update(amx_environment(alert, ctx.notification))
        candidates["ALERTREFLEX_RUN_ID"] = ctx.run_id
        candidates["ALERTREFLEX_REFLEX"] = ctx.reflex
        candidates["ALERTREFLEX_TEAM"] = ctx.team
        candidates["ALERTREFLEX_TRIGGER"] = str(ctx.trigger)
        candidates.update(params.env)

        env: dict[str, str] = {}
        dropped: list[str] = []
        for name, value in candidates.items():
            if _fits_environment(name, value):
                env[name] = value
            else:
                dropped.append(name)
        return env, dropped

    @staticmethod
    def stdin_payload(ctx: ActionContext) -> bytes:
        """The JSON document the command receives on stdin."""
        document = {
            "run_id": ctx.run_id,
            "reflex": ctx.reflex,
            "team": ctx.team,
            "trigger": str(ctx.trigger),
            "alert": ctx.alert,
            "notification": ctx.notification,
        }
        try:
            return orjson.dumps(document, default=str, option=orjson.OPT_NON_STR_KEYS)
        except TypeError:  # orjson refuses e.g. an integer beyond 64 bits
            return json.dumps(document, default=str, skipkeys=True).encode()

    async def execute(self, params: ExecParams, ctx: ActionContext) -> StepResult:
        if params.container is not None:
            return await self._in_container(params, params.container, ctx)
        if (refused := _nul_in_command(params.command)) is not None:
            return refused
        env, env_dropped = self.build_env(params, ctx)
        details: dict[str, Any] = {}
        if env_dropped:
            details["env_dropped"] = env_dropped
        if self._worker is None:
            self._worker = ExecWorkerClient()
        answer = await self._worker.run(
            {
                "argv": params.command,
                "env": env,
                "cwd": params.cwd,
                "limit": ctx.output_limit,
                "timeout": params.timeout,
                "pipe_grace": self.pipe_grace,
                "kill_grace": self.kill_grace,
            },
            self.stdin_payload(ctx),
        )
        return _step_result(answer, params, details)

    async def _in_container(
        self, params: ExecParams, ref: str | ContainerSelector, ctx: ActionContext
    ) -> StepResult:
        """The same step, run in a container through the engine (see the module's doc)."""
        # Imported here: a process that only runs host steps (tests, plugins) need not
        # load the engine client (aiohttp, aiodocker).
        from alertreflex.config.containers import default_access
        from alertreflex.targets.container import open_container

        if (refused := _nul_in_command(params.command)) is not None:
            return refused
        env, env_dropped = self.build_env(params, ctx, inherit=False)
        details: dict[str, Any] = {"env_dropped": env_dropped} if env_dropped else {}
        stdout = CappedBuffer(ctx.output_limit)
        stderr = CappedBuffer(ctx.output_limit)
        try:
            target = await open_container(ctx.containers or default_access(), ref, ctx.team)
            details.update(target.details())
            stdin = self.stdin_payload(ctx) if target.accepts_stdin else None
            if stdin is None:
                details["stdin"] = NO_STDIN_OVER_TLS
            program = Program(params.command, params.timeout, env, stdin, params.cwd)
            done = await target.run(program, stdout.feed, stderr.feed)
        except TargetError as exc:
            return StepResult(StepOutcome.FAILED, str(exc), details=details)
        details["stderr"] = stderr.text()
        output = stdout.text()
        if done.timed_out:
            summary = f"timed out after {format_duration(params.timeout)}"
            if done.note:
                summary += f"; {done.note}"
            if done.killed_from:
                details["killed_from"] = done.killed_from
            return StepResult(StepOutcome.TIMED_OUT, summary, done.exit_code, output, details)
        if done.exit_code is None:
            return StepResult(
                StepOutcome.FAILED,
                f"ended, but the engine did not report an exit code; {done.note}".rstrip("; "),
                None,
                output,
                details,
            )
        outcome = (
            StepOutcome.SUCCEEDED
            if done.exit_code in params.success_exit_codes
            else StepOutcome.FAILED
        )
        return StepResult(outcome, f"exit {done.exit_code}", done.exit_code, output, details)


def _step_result(answer: dict[str, Any], params: ExecParams, details: dict[str, Any]) -> StepResult:
    """The step's result from the helper's answer (see exec_frames)."""
    if "failed" in answer:  # cancelled, refused, or the helper died
        return StepResult(StepOutcome.FAILED, answer["failed"], details=details)
    program = params.command[0]
    if (error := answer.get("spawn_error")) is not None:
        if "value_error" in error:  # e.g. a NUL byte in cwd
            summary = f"cannot run {program!r}: {error['value_error']}"
        else:
            # OSError(errno, ...) is the subclass for the errno (FileNotFoundError, ...).
            exc = (
                OSError(error["errno"], error["strerror"], error["filename"])
                if error["errno"] is not None
                else OSError(error["strerror"])
            )
            summary = _spawn_error(exc, program, params.cwd)
        return StepResult(StepOutcome.FAILED, summary, details=details)

    returncode: int | None = answer["returncode"]
    if answer["pipes_held_open"]:
        details["pipes_held_open"] = True
    details["stderr"] = answer["stderr"]
    output: str = answer["stdout"]
    if answer["timed_out"]:
        summary = f"timed out after {format_duration(params.timeout)}"
        if returncode is None:
            summary += " (and did not exit after SIGKILL)"
        return StepResult(StepOutcome.TIMED_OUT, summary, returncode, output, details)
    assert returncode is not None  # not timed out: the main process has exited
    outcome = (
        StepOutcome.SUCCEEDED if returncode in params.success_exit_codes else StepOutcome.FAILED
    )
    return StepResult(outcome, _exit_summary(returncode), returncode, output, details)


def _nul_in_command(command: list[str]) -> StepResult | None:
    for index, arg in enumerate(command):
        if "\0" in arg:
            return StepResult(
                StepOutcome.FAILED,
                f"command[{index}] contains a NUL byte, which cannot be passed to a program",
            )
    return None


def _shown(ref: str | ContainerSelector) -> str:
    return ref if isinstance(ref, str) else f"with labels {ref.describe()}"


def _engines() -> EnginePool:
    from alertreflex.targets.engines import SHARED  # see _in_container

    return SHARED


def _fits_environment(name: str, value: str) -> bool:
    """Whether ``name=value`` can be passed to execve at all.

    A NUL byte would end the C string early; a string that does not encode cannot be
    passed; one longer than the kernel's per-string limit makes the whole exec fail
    (E2BIG), and a large annotation must not prevent the command from running: the
    full alert is on stdin anyway.
    """
    if "\0" in name or "\0" in value:
        return False
    try:
        size = len(os.fsencode(name)) + len(os.fsencode(value)) + 2  # '=' and the NUL
    except UnicodeError:
        return False
    return size <= MAX_ENV_STRING


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _spawn_error(exc: OSError, program: str, cwd: str | None) -> str:
    reason = (exc.strerror or str(exc)).lower()
    if cwd is not None and exc.filename == cwd and exc.filename != program:
        return f"cannot use working directory {cwd!r}: {reason}"
    if isinstance(exc, FileNotFoundError):
        where = "" if "/" in program else " on PATH"
        return f"cannot run {program!r}: program not found{where}"
    if isinstance(exc, PermissionError):
        return f"cannot run {program!r}: permission denied"
    return f"cannot run {program!r}: {reason}"
