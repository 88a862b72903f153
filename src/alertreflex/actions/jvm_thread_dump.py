"""The ``jvm_thread_dump`` action: thread dumps of a JVM, kept as artifacts of the run.

Targets: a local JVM by ``pid``, or by ``main_class`` (a regular expression searched
in the lines of ``jcmd -l``, which lists the JVMs this user may attach to), dumped
with ``jcmd PID Thread.print -l``; or a remote one over HTTP (a Spring Boot style
``/actuator/threaddump`` URL, asked for text). A stuck thread shows only when several
dumps a few seconds apart are compared, hence ``count`` and ``interval``: each dump
is an artifact ``threaddump-N.txt``.

jcmd attaches only to JVMs of the same user (root aside): run alertreflex as the
service's user, or use the HTTP form.

With ``container``, jcmd runs inside that container (through the engine, see
:mod:`alertreflex.targets.container`), where the JVM is usually pid 1: ``pid`` and
``main_class`` are then read in the container, and with neither the one JVM that
``jcmd -l`` lists there is dumped.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from typing import Annotated, Any, ClassVar

from pydantic import Field, ValidationError, field_validator, model_validator

from alertreflex.actions._output import CappedBuffer, cap_bytes
from alertreflex.actions.base import (
    Action,
    ActionContext,
    ActionParams,
    ArtifactData,
    StepOutcome,
    StepResult,
)
from alertreflex.actions.http import HttpAction, HttpParams
from alertreflex.config.containers import default_access
from alertreflex.core.types import Duration
from alertreflex.targets.base import Program, ProgramNotFound, Target, TargetError
from alertreflex.targets.engines import SHARED
from alertreflex.targets.host import HostTarget
from alertreflex.targets.params import CONTAINER_DESCRIPTION, ContainerRef

TEXT = "text/plain; charset=utf-8"


class JvmThreadDumpParams(ActionParams):
    """Parameters of a ``jvm_thread_dump`` step: exactly one of pid, main_class, url
    (with container: pid, main_class or neither)."""

    pid: int | str | None = Field(
        default=None,
        description="The JVM's process id (a template such as '{{ alert.labels.pid }}'); "
        "with container, its pid inside the container (often 1).",
    )
    main_class: str | None = Field(
        default=None,
        description="A regular expression searched in the lines of `jcmd -l` (with "
        "container: run in the container); one JVM must match.",
        examples=["com\\.example\\.OrderService"],
    )
    url: str | None = Field(
        default=None,
        description="An actuator thread dump URL, fetched with Accept: text/plain.",
        examples=["http://{{ alert.labels.instance }}/actuator/threaddump"],
    )
    headers: dict[str, str] = Field(default={}, description="Headers for the url form.")
    retries: int = Field(
        default=2, ge=0, le=10, description="For the url form: as for http's retries."
    )
    verify_tls: bool = Field(default=True, description="For the url form: as for http.")
    count: int = Field(default=1, ge=1, le=20, description="How many dumps to take.")
    interval: Annotated[Duration, Field(ge=0)] = Field(
        default="5s", validate_default=True, description="Time between two dumps."
    )
    timeout: Annotated[Duration, Field(gt=0)] = Field(
        default="30s",
        validate_default=True,
        description="Time limit of each dump (of each attempt, for the url form).",
    )
    jcmd: str = Field(
        default="jcmd",
        min_length=1,
        description="The jcmd program to use (with container: in the container's file "
        "system and PATH).",
    )
    container: ContainerRef | None = Field(
        default=None,
        description=CONTAINER_DESCRIPTION
        + " Without pid or main_class, the one JVM that `jcmd -l` lists there is dumped.",
        examples=["{{ alert.labels.container }}", {"labels": {"app": "orders"}}],
    )

    @field_validator("pid")
    @classmethod
    def _pid(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, str) and "{{" not in value and "{%" not in value:
            if not value.strip().isdigit():
                raise ValueError(f"pid must be a process id, got {value!r}")
            value = int(value)
        if isinstance(value, int) and value <= 0:
            raise ValueError(f"pid must be positive, got {value}")
        return value

    @field_validator("main_class")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None and "{{" not in value:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_target(self) -> JvmThreadDumpParams:
        given = [k for k in ("pid", "main_class", "url") if getattr(self, k) is not None]
        if self.container is not None:
            if self.url is not None:
                raise ValueError("url cannot be combined with container: the url form asks HTTP")
            if len(given) > 1:
                raise ValueError(
                    f"with container, give pid or main_class, or neither (got {', '.join(given)})"
                )
        elif len(given) != 1:
            raise ValueError(
                "needs exactly one target: 'pid', 'main_class' or 'url'"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self


class JvmThreadDumpAction(Action[JvmThreadDumpParams]):
    type_name: ClassVar[str] = "jvm_thread_dump"
    Params: ClassVar[type[ActionParams]] = JvmThreadDumpParams

    def __init__(self) -> None:
        self._http = HttpAction()  # the url form's requests, retries and TLS

    def describe(self, params: JvmThreadDumpParams) -> str:
        target = params.url or (
            f"pid {params.pid}"
            if params.pid
            else f"/{params.main_class}/"
            if params.main_class
            else "the JVM"
        )
        if isinstance(params.container, str):
            target += f" in container {params.container}"
        elif params.container is not None:
            target += f" in the container with labels {params.container.describe()}"
        return f"jvm_thread_dump {target} x{params.count}"

    async def start(self) -> None:
        SHARED.start()

    async def close(self) -> None:
        await self._http.close()
        await SHARED.stop()

    async def execute(self, params: JvmThreadDumpParams, ctx: ActionContext) -> StepResult:
        target = params.url
        where: Target = HostTarget()
        details: dict[str, Any] = {}
        if target is None:
            if params.container is not None:
                # Imported here, as in exec: the engine client's libraries load
                # only for a server that reaches into containers.
                from alertreflex.targets.container import open_container

                try:
                    access = ctx.containers or default_access()
                    where = await open_container(access, params.container, ctx.team)
                except TargetError as exc:
                    return StepResult(StepOutcome.FAILED, str(exc))
                details.update(where.details())
            pid = await self._resolve_pid(params, where, ctx)
            if isinstance(pid, StepResult):
                pid.details.update(details)
                return pid
            target = " in ".join(filter(None, [f"pid {pid}", where.describe()]))
        artifacts: list[ArtifactData] = []
        started = time.monotonic()
        for n in range(1, params.count + 1):
            if n > 1:
                # Spaced from the start of the previous dump, not its end.
                await asyncio.sleep(
                    max(0.0, started + (n - 1) * params.interval - time.monotonic())
                )
            if params.url is not None:
                dump = await self._http_dump(params, ctx)
            else:
                dump = await self._jcmd(params, where, [str(pid), "Thread.print", "-l"], ctx)
            if isinstance(dump, StepResult):
                dump.summary = f"thread dump {n} of {params.count} of {target}: {dump.summary}"
                dump.artifacts = artifacts  # keep the dumps already taken
                dump.details.update(details)
                return dump
            data, dropped = dump
            artifacts.append(ArtifactData(f"threaddump-{n}.txt", TEXT, data, dropped))
        total = sum(len(a.data) + a.dropped for a in artifacts)
        spacing = f", {params.interval:g}s apart" if params.count > 1 else ""
        return StepResult(
            StepOutcome.SUCCEEDED,
            f"{params.count} thread dump{'s' if params.count > 1 else ''} of {target}"
            f"{spacing} ({total / 1024:.0f} KiB)",
            details={**details, "target": target, "count": params.count},
            artifacts=artifacts,
        )

    async def _resolve_pid(
        self, params: JvmThreadDumpParams, where: Target, ctx: ActionContext
    ) -> int | StepResult:
        if params.pid is not None:
            if isinstance(params.pid, str):
                return StepResult(StepOutcome.FAILED, f"pid must be a number, got {params.pid!r}")
            return params.pid
        listed_in = " in ".join(filter(None, [f"`{params.jcmd} -l`", where.describe()]))
        listing = await self._jcmd(params, where, ["-l"], ctx)
        if isinstance(listing, StepResult):
            listing.summary = f"cannot list JVMs with {listed_in}: {listing.summary}"
            return listing
        pattern = re.compile(params.main_class or "")
        own = os.getpid() if isinstance(where, HostTarget) else None
        matches = []
        for line in listing[0].decode(errors="replace").splitlines():
            pid_text, _, rest = line.strip().partition(" ")
            if not pid_text.isdigit() or "sun.tools.jcmd.JCmd" in rest:
                continue  # jcmd lists itself
            if int(pid_text) != own and pattern.search(rest):
                matches.append((int(pid_text), rest))
        if len(matches) != 1:
            found = "; ".join(f"{p} {r}" for p, r in matches) or "none"
            wanted = (
                f"main_class {params.main_class!r} must match exactly one JVM in {listed_in}"
                if params.main_class is not None
                else f"without pid or main_class, {listed_in} must list exactly one JVM"
            )
            return StepResult(StepOutcome.FAILED, f"{wanted}, matched {len(matches)}: {found}")
        return matches[0][0]

    async def _jcmd(
        self, params: JvmThreadDumpParams, where: Target, args: list[str], ctx: ActionContext
    ) -> tuple[bytes, int] | StepResult:
        out = CappedBuffer(ctx.artifact_limit)
        err = CappedBuffer(ctx.output_limit)
        command = f"`{params.jcmd} {' '.join(args)}`"
        try:
            done = await where.run(
                Program([params.jcmd, *args], params.timeout), out.feed, err.feed
            )
        except ProgramNotFound as exc:
            return StepResult(StepOutcome.FAILED, f"{exc} (jcmd comes with a JDK, not a JRE)")
        except TargetError as exc:
            return StepResult(StepOutcome.FAILED, str(exc))
        if done.timed_out:
            note = f"; {done.note}" if done.note else ""
            return StepResult(
                StepOutcome.TIMED_OUT,
                f"{command} timed out after {params.timeout:g}s{note}",
                output=err.text(),
            )
        data = out.data()
        code = done.exit_code
        if code != 0:
            # jcmd reports attach failures on stdout, with exit code 1.
            text = (err.text() + cap_bytes(data, 2048)).strip()
            return StepResult(
                StepOutcome.FAILED,
                f"{command} exited with {code}: " + (text.splitlines()[-1] if text else ""),
                exit_code=code,
                output=text,
            )
        return data, out.dropped

    async def _http_dump(
        self, params: JvmThreadDumpParams, ctx: ActionContext
    ) -> tuple[bytes, int] | StepResult:
        assert params.url is not None
        try:
            request = HttpParams(
                url=params.url,
                method="GET",
                headers={"Accept": "text/plain", **params.headers},
                timeout=params.timeout,
                retries=params.retries,
                retry_backoff=1.0,
                verify_tls=params.verify_tls,
            )
        except ValidationError as exc:
            why = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
            return StepResult(StepOutcome.FAILED, f"cannot build the request: {why}")
        got = await self._http.exchange(request, ctx.run_id, ctx.artifact_limit)
        where = f"GET {params.url}"
        if got.status is None:
            failed = got.failure()
            failed.summary = f"{where}: {failed.summary}"
            return failed
        assert got.body is not None  # a response always has one, maybe empty
        if got.status != 200:
            return StepResult(
                StepOutcome.FAILED,
                f"{where}: HTTP {got.status} after {got.tries}",
                output=cap_bytes(got.body.data(), 2048),
            )
        return got.body.data(), got.body.dropped
