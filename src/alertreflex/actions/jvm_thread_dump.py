"""The ``jvm_thread_dump`` action: thread dumps of a JVM, kept as artifacts of the run.

Targets: a local JVM by ``pid``, or by ``main_class`` (a regular expression searched
in the lines of ``jcmd -l``, which lists the JVMs this user may attach to), dumped
with ``jcmd PID Thread.print -l``; or a remote one over HTTP (a Spring Boot style
``/actuator/threaddump`` URL, asked for text). A stuck thread shows only when several
dumps a few seconds apart are compared, hence ``count`` and ``interval``: each dump
is an artifact ``threaddump-N.txt``.

jcmd attaches only to JVMs of the same user (root aside): run alertreflex as the
service's user, or use the HTTP form.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import time
from typing import Annotated, ClassVar

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
from alertreflex.core.types import Duration

TEXT = "text/plain; charset=utf-8"


class JvmThreadDumpParams(ActionParams):
    """Parameters of a ``jvm_thread_dump`` step: exactly one of pid, main_class, url."""

    pid: int | str | None = Field(
        default=None,
        description="The JVM's process id (a template such as '{{ alert.labels.pid }}').",
    )
    main_class: str | None = Field(
        default=None,
        description="A regular expression searched in the lines of `jcmd -l`; one JVM must match.",
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
    jcmd: str = Field(default="jcmd", min_length=1, description="The jcmd program to use.")

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
        if len(given) != 1:
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
        target = params.url or (f"pid {params.pid}" if params.pid else f"/{params.main_class}/")
        return f"jvm_thread_dump {target} x{params.count}"

    async def close(self) -> None:
        await self._http.close()

    async def execute(self, params: JvmThreadDumpParams, ctx: ActionContext) -> StepResult:
        target = params.url
        if target is None:
            pid = await self._resolve_pid(params, ctx)
            if isinstance(pid, StepResult):
                return pid
            target = f"pid {pid}"
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
                dump = await self._jcmd(params, [str(pid), "Thread.print", "-l"], ctx)
            if isinstance(dump, StepResult):
                dump.summary = f"thread dump {n} of {params.count} of {target}: {dump.summary}"
                dump.artifacts = artifacts  # keep the dumps already taken
                return dump
            data, dropped = dump
            artifacts.append(ArtifactData(f"threaddump-{n}.txt", TEXT, data, dropped))
        total = sum(len(a.data) + a.dropped for a in artifacts)
        spacing = f", {params.interval:g}s apart" if params.count > 1 else ""
        return StepResult(
            StepOutcome.SUCCEEDED,
            f"{params.count} thread dump{'s' if params.count > 1 else ''} of {target}"
            f"{spacing} ({total / 1024:.0f} KiB)",
            details={"target": target, "count": params.count},
            artifacts=artifacts,
        )

    async def _resolve_pid(
        self, params: JvmThreadDumpParams, ctx: ActionContext
    ) -> int | StepResult:
        if params.pid is not None:
            if isinstance(params.pid, str):
                return StepResult(StepOutcome.FAILED, f"pid must be a number, got {params.pid!r}")
            return params.pid
        assert params.main_class is not None  # by _one_target
        listing = await self._jcmd(params, ["-l"], ctx)
        if isinstance(listing, StepResult):
            listing.summary = f"cannot list JVMs with `{params.jcmd} -l`: {listing.summary}"
            return listing
        pattern = re.compile(params.main_class)
        own = os.getpid()
        matches = []
        for line in listing[0].decode(errors="replace").splitlines():
            pid_text, _, rest = line.strip().partition(" ")
            if not pid_text.isdigit() or "sun.tools.jcmd.JCmd" in rest:
                continue  # jcmd lists itself
            if int(pid_text) != own and pattern.search(rest):
                matches.append((int(pid_text), rest))
        if len(matches) != 1:
            found = "; ".join(f"{p} {r}" for p, r in matches) or "none"
            return StepResult(
                StepOutcome.FAILED,
                f"main_class {params.main_class!r} must match exactly one JVM in "
                f"`jcmd -l`, matched {len(matches)}: {found}",
            )
        return matches[0][0]

    async def _jcmd(
        self, params: JvmThreadDumpParams, args: list[str], ctx: ActionContext
    ) -> tuple[bytes, int] | StepResult:
        try:
            proc = await asyncio.create_subprocess_exec(
                params.jcmd,
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # a timeout kills jcmd and anything it started
            )
        except OSError as exc:
            return StepResult(StepOutcome.FAILED, f"cannot run {params.jcmd}: {exc.strerror}")
        assert proc.stdout is not None
        assert proc.stderr is not None
        out = CappedBuffer(ctx.artifact_limit)
        err = CappedBuffer(ctx.output_limit)

        async def pump(stream: asyncio.StreamReader, buf: CappedBuffer) -> None:
            while chunk := await stream.read(65536):
                buf.feed(chunk)

        try:
            async with asyncio.timeout(params.timeout):
                await asyncio.gather(pump(proc.stdout, out), pump(proc.stderr, err))
                code = await proc.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            return StepResult(
                StepOutcome.TIMED_OUT,
                f"`{params.jcmd} {' '.join(args)}` timed out after {params.timeout:g}s",
                output=err.text(),
            )
        data = out.data()
        if code != 0:
            # jcmd reports attach failures on stdout, with exit code 1.
            text = (err.text() + cap_bytes(data, 2048)).strip()
            return StepResult(
                StepOutcome.FAILED,
                f"`{params.jcmd} {' '.join(args)}` exited with {code}: "
                + (text.splitlines()[-1] if text else ""),
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
