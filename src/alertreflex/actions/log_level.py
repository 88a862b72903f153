"""The ``log_level`` action: a logger at DEBUG while an alert fires, then back.

On firing it reads the logger's level, stores it durably with the alert, and only
then sets the new one: if alertreflex dies in between, the resumed step takes the
stored level instead of reading its own change back. The engine undoes the step
when the alert resolves, after ``max_duration``, or at a clean shutdown, and the
undo puts back exactly the level that was read (``null`` included: Spring Boot then
inherits again). If the level found at restore time is not the one this step set
(the service restarted, someone else changed it, or the set never took effect), the
step leaves it alone and says so, rather than clobber a level it does not own.

Two forms: Spring Boot's actuator (``url`` of ``/actuator/loggers`` and ``logger``),
or any service with a JSON API (``get`` and ``set`` requests and the JSON ``field``
that holds the level). Requests go through the ``http`` action: same retries,
timeouts and ``Idempotency-Key``.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar
from urllib.parse import quote

import orjson
from pydantic import Field, field_validator, model_validator

from alertreflex.actions.base import Action, ActionContext, ActionParams, StepOutcome, StepResult
from alertreflex.actions.http import HttpAction, HttpClientParams
from alertreflex.core.types import Duration

LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF")


class Request(ActionParams):
    """One request of the generic form."""

    url: str = Field(min_length=1, description="The URL of this request.")
    method: str = Field(
        default="GET", description="The HTTP method; a set request given as GET is sent as POST."
    )
    headers: dict[str, str] = Field(
        default={}, description="Headers of this request, over those of the step."
    )


class LogLevelParams(HttpClientParams):
    """Parameters of a ``log_level`` step."""

    reversible: ClassVar[bool] = True

    level: str = Field(
        description=f"The level to set while the alert fires: {', '.join(LEVELS)}.",
        examples=["DEBUG"],
    )
    url: str | None = Field(
        default=None,
        description="Spring Boot form: the actuator's loggers URL.",
        examples=["http://{{ alert.labels.instance }}/actuator/loggers"],
    )
    logger: str = Field(default="ROOT", min_length=1, description="Spring Boot form: the logger.")
    get: Request | None = Field(
        default=None, description="Generic form: the request that reads the level (JSON)."
    )
    set: Request | None = Field(
        default=None,
        description="Generic form: the request that sets it, with body {field: level}.",
    )
    field: str = Field(
        default="configuredLevel",
        min_length=1,
        description="The JSON field that holds the level, read and written.",
    )
    max_duration: Annotated[Duration, Field(gt=0)] | None = Field(
        default=None,
        description="Restore the level after this long even if the alert still fires.",
    )
    timeout: Annotated[Duration, Field(gt=0)] = Field(
        default="5s", validate_default=True, description="Time limit of each attempt."
    )

    @field_validator("level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if "{{" in value or "{%" in value:
            return value  # checked again once rendered
        if value.upper() not in LEVELS:
            raise ValueError(f"unknown level {value!r}: use one of {', '.join(LEVELS)}")
        return value.upper()

    @model_validator(mode="after")
    def _one_form(self) -> LogLevelParams:
        if self.url is not None and (self.get is not None or self.set is not None):
            raise ValueError("use either 'url' (Spring Boot) or 'get' and 'set', not both")
        if self.url is None and (self.get is None or self.set is None):
            raise ValueError("needs 'url' (Spring Boot actuator) or both 'get' and 'set'")
        return self

    def requests(self) -> tuple[Request, Request]:
        if self.url is not None:
            target = f"{self.url.rstrip('/')}/{quote(self.logger, safe='')}"
            return Request(url=target), Request(url=target, method="POST")
        assert self.get is not None  # by _one_form
        assert self.set is not None
        return self.get, self.set


class LogLevelAction(Action[LogLevelParams]):
    type_name: ClassVar[str] = "log_level"
    Params: ClassVar[type[ActionParams]] = LogLevelParams

    def __init__(self) -> None:
        self._http = HttpAction()

    def describe(self, params: LogLevelParams) -> str:
        return f"log_level {params.requests()[1].url} -> {params.level}"

    async def close(self) -> None:
        await self._http.close()

    async def execute(self, params: LogLevelParams, ctx: ActionContext) -> StepResult:
        get, put = params.requests()
        if ctx.memo is not None:
            # An interrupted attempt stored the level it found, and may have set ours
            # since: reading now could find our own change.
            memo = ctx.memo
            before = memo.get("previous")
        else:
            read = await self._read(params, get, ctx)
            if isinstance(read, StepResult):
                return read
            before = read
            memo = await ctx.remember({"previous": before, "set": params.level})
        result = await self._write(params, put, params.level, ctx)
        if result.outcome is not StepOutcome.SUCCEEDED:
            # The stored memo stays: the set may have been applied though its answer
            # was lost, and the restore puts the level back only if it finds ours.
            return result
        return StepResult(
            StepOutcome.SUCCEEDED,
            f"{_show(before)} -> {params.level}",
            details={"previous": before, "level": params.level, "url": put.url},
            memo=memo,
            restore_after=params.max_duration,
        )

    async def undo(
        self, params: LogLevelParams, memo: dict[str, Any], ctx: ActionContext
    ) -> StepResult:
        get, put = params.requests()
        previous, was_set = memo.get("previous"), str(memo.get("set"))
        now = await self._read(params, get, ctx)
        if isinstance(now, StepResult):
            return now
        details = {"previous": previous, "set": was_set, "found": now, "url": put.url}
        if (now or "").upper() != was_set.upper():
            return StepResult(
                StepOutcome.SUCCEEDED,
                f"not restored: the level is {_show(now)}, not {was_set} as set; the service "
                "restarted, someone changed it, or the set did not take effect, so it is "
                "left as it is",
                details={**details, "restored": False},
            )
        result = await self._write(params, put, previous, ctx)
        if result.outcome is not StepOutcome.SUCCEEDED:
            return result
        return StepResult(
            StepOutcome.SUCCEEDED,
            f"{was_set} -> {_show(previous)} (restored)",
            details={**details, "restored": True},
        )

    async def _read(
        self, params: LogLevelParams, req: Request, ctx: ActionContext
    ) -> str | StepResult | None:
        result = await self._http.execute(
            params.request(req.method, req.url, headers=req.headers), ctx
        )
        if result.outcome is not StepOutcome.SUCCEEDED:
            result.summary = f"cannot read the level from {req.url}: {result.summary}"
            return result
        try:
            doc = orjson.loads(result.output)
            value = doc[params.field]
        except (orjson.JSONDecodeError, TypeError, KeyError):
            return StepResult(
                StepOutcome.FAILED,
                f"cannot read the level from {req.url}: expected a JSON object with "
                f"{params.field!r}, got {result.output[:200]!r}",
            )
        if value is not None and not isinstance(value, str):
            return StepResult(
                StepOutcome.FAILED, f"{req.url}: {params.field!r} is {value!r}, not a level"
            )
        return value

    async def _write(
        self, params: LogLevelParams, req: Request, level: str | None, ctx: ActionContext
    ) -> StepResult:
        # A set request given without a method (or as GET) is sent as POST.
        method = "POST" if req.method == "GET" else req.method
        result = await self._http.execute(
            params.request(method, req.url, {params.field: level}, req.headers), ctx
        )
        if result.outcome is not StepOutcome.SUCCEEDED:
            result.summary = f"cannot set the level to {_show(level)}: {result.summary}"
        return result


def _show(level: str | None) -> str:
    return "unset (inherited)" if level is None else level
