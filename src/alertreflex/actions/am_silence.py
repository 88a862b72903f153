"""The ``am_silence`` action: an Alertmanager silence while a remediation works.

It creates a silence through Alertmanager's v2 API (``POST /api/v2/silences``), by
default matching exactly the alert's labels, so that humans are not paged for the
minutes an automatic fix needs. The comment names alertreflex, the run, the reflex
and the team. With ``expire_on_resolved`` (the default) the engine undoes the step
when the alert resolves: the silence is expired (``DELETE /api/v2/silence/{id}``);
otherwise it simply ends after ``duration``.

Before creating the silence the step stores a random reference with the alert and
writes it into the silence's comment (``[ref ...]``). The undo expires the silences
that carry it; and a step resumed after alertreflex died during its request finds
the silence Alertmanager may already have made instead of creating a second one.

A silence mutes an alert for every receiver, alertreflex's webhook included: a
silence that matches the triggering alert itself (the default matchers) also holds
back its resolved notification until the silence ends. To keep humans quiet while
alertreflex still hears the resolve, match the paging alerts instead.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar

import orjson
from pydantic import Field, field_validator

from alertreflex.actions.base import Action, ActionContext, ActionParams, StepOutcome, StepResult
from alertreflex.actions.http import HttpAction, HttpClientParams
from alertreflex.core.matchers import MatcherError, MatchOp, parse_matcher
from alertreflex.core.types import Duration

CREATED_BY = "alertreflex"
# What is read of Alertmanager's list of silences when looking for a step's own.
_LIST_LIMIT = 16 * 1024 * 1024


class AmSilenceParams(HttpClientParams):
    """Parameters of an ``am_silence`` step."""

    reversible: ClassVar[bool] = True

    url: str = Field(
        min_length=1,
        description="Alertmanager's base URL (its --web.external-url).",
        examples=["http://alertmanager:9093"],
    )
    duration: Annotated[Duration, Field(gt=0)] = Field(
        default="1h", validate_default=True, description="How long the silence lasts at most."
    )
    matchers: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Alertmanager matchers of the silence; by default the alert's own "
        "labels, each with '='.",
        examples=[['alertname="{{ alert.labels.alertname }}"', 'instance=~"web-.*"']],
    )
    comment: str = Field(default="", description="Added to the silence's comment.")
    expire_on_resolved: bool = Field(
        default=True, description="Expire the silence when the alert resolves."
    )

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, value: list[str] | None) -> list[str] | None:
        for i, text in enumerate(value or ()):
            if "{{" in text or "{%" in text:
                continue  # checked once rendered
            try:
                parse_matcher(text)
            except MatcherError as exc:
                raise ValueError(f"matchers[{i}]: {exc}") from None
        return value


class AmSilenceAction(Action[AmSilenceParams]):
    type_name: ClassVar[str] = "am_silence"
    Params: ClassVar[type[ActionParams]] = AmSilenceParams

    def __init__(self) -> None:
        self._http = HttpAction()

    def describe(self, params: AmSilenceParams) -> str:
        return f"am_silence {params.url} for {params.duration:g}s"

    async def close(self) -> None:
        await self._http.close()

    async def execute(self, params: AmSilenceParams, ctx: ActionContext) -> StepResult:
        matchers = _silence_matchers(params, ctx)
        memo: dict[str, Any] | None = None
        if params.expire_on_resolved and ctx.memo is not None:
            # An interrupted attempt stored this before it asked for its silence, which
            # Alertmanager may have made: a second one would never be expired.
            memo = ctx.memo
            found = await self._made(params, memo, ctx)
            if isinstance(found, StepResult):
                return found
            if found:
                made = found[0]
                ends_at = made["endsAt"]
                return _created(params, memo, str(made["id"]), matchers, ends_at, resumed=True)
        elif params.expire_on_resolved:
            memo = await ctx.remember({"ref": secrets.token_hex(6)})
        now = datetime.now(UTC)
        comment = f"alertreflex run {ctx.run_id}, reflex {ctx.reflex} (team {ctx.team})"
        if memo is not None and "ref" in memo:
            comment += f" [ref {memo['ref']}]"
        if params.comment:
            comment += f": {params.comment}"
        body: dict[str, Any] = {
            "matchers": matchers,
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(seconds=params.duration)).isoformat(),
            "createdBy": CREATED_BY,
            "comment": comment,
        }
        result = await self._http.execute(
            params.request("POST", _api(params, "/api/v2/silences"), body), ctx
        )
        if result.outcome is not StepOutcome.SUCCEEDED:
            result.summary = f"cannot create the silence: {result.summary}"
            return result
        try:
            silence_id = str(orjson.loads(result.output)["silenceID"])
        except (orjson.JSONDecodeError, TypeError, KeyError):
            return StepResult(
                StepOutcome.FAILED,
                f"unexpected answer from {params.url}: {result.output[:200]!r}",
            )
        return _created(params, memo, silence_id, matchers, body["endsAt"])

    async def _made(
        self, params: AmSilenceParams, memo: dict[str, Any], ctx: ActionContext
    ) -> list[dict[str, Any]] | StepResult:
        """The silences still active or pending that carry ``memo``'s reference."""
        if "ref" not in memo:
            return []
        mark = f"[ref {memo['ref']}]"
        got = await self._http.exchange(
            params.request("GET", _api(params, "/api/v2/silences")), ctx.run_id, _LIST_LIMIT
        )
        if got.status is None or not 200 <= got.status < 300 or got.body is None:
            why = got.error or f"HTTP {got.status}"
            return StepResult(StepOutcome.FAILED, f"cannot list the silences: {why}")
        try:
            silences = orjson.loads(got.body.data())
            return [
                s
                for s in silences
                if s["createdBy"] == CREATED_BY
                and mark in s["comment"]
                and s["status"]["state"] in ("active", "pending")
            ]
        except (orjson.JSONDecodeError, TypeError, KeyError):
            cut = " (cut at 16 MiB)" if got.body.truncated else ""
            return StepResult(
                StepOutcome.FAILED,
                f"unexpected list of silences from {params.url}{cut}: {got.body.text()[:200]!r}",
            )

    async def undo(
        self, params: AmSilenceParams, memo: dict[str, Any], ctx: ActionContext
    ) -> StepResult:
        if "silence_id" in memo:  # stored by an alertreflex that wrote no reference
            ids = [str(memo["silence_id"])]
        else:
            found = await self._made(params, memo, ctx)
            if isinstance(found, StepResult):
                return found
            if not found:
                return StepResult(
                    StepOutcome.SUCCEEDED,
                    "nothing to expire: no silence of this step is active (it ended, "
                    "someone expired it, or it was never created)",
                )
            ids = [str(s["id"]) for s in found]
        results = [await self._expire(params, silence_id, ctx) for silence_id in ids]
        failed = [r for r in results if r.outcome is not StepOutcome.SUCCEEDED]
        if failed:
            return failed[0]
        return StepResult(StepOutcome.SUCCEEDED, "; ".join(r.summary for r in results))

    async def _expire(
        self, params: AmSilenceParams, silence_id: str, ctx: ActionContext
    ) -> StepResult:
        path = f"/api/v2/silence/{silence_id}"
        result = await self._http.execute(params.request("DELETE", _api(params, path)), ctx)
        if result.outcome is StepOutcome.SUCCEEDED:
            return StepResult(StepOutcome.SUCCEEDED, f"silence {silence_id} expired")
        # Expired or deleted meanwhile (by a person, or its duration ran out): fine.
        state = await self._http.execute(params.request("GET", _api(params, path)), ctx)
        if state.outcome is StepOutcome.SUCCEEDED:
            try:
                status = orjson.loads(state.output)["status"]["state"]
            except (orjson.JSONDecodeError, TypeError, KeyError):
                status = None
            if status == "expired":
                return StepResult(
                    StepOutcome.SUCCEEDED, f"silence {silence_id} had already expired"
                )
        result.summary = f"cannot expire silence {silence_id}: {result.summary}"
        return result


def _api(params: AmSilenceParams, path: str) -> str:
    return params.url.rstrip("/") + path


def _created(
    params: AmSilenceParams,
    memo: dict[str, Any] | None,
    silence_id: str,
    matchers: list[dict[str, Any]],
    ends_at: str,
    *,
    resumed: bool = False,
) -> StepResult:
    shown = ", ".join(_show(m) for m in matchers)
    made = " (made by an interrupted attempt)" if resumed else ""
    return StepResult(
        StepOutcome.SUCCEEDED,
        f"silence {silence_id}{made} for {params.duration:g}s: {{{shown}}}",
        details={"silence_id": silence_id, "matchers": matchers, "ends_at": ends_at},
        memo=memo,
    )


def _silence_matchers(params: AmSilenceParams, ctx: ActionContext) -> list[dict[str, Any]]:
    if params.matchers is None:
        labels: dict[str, str] = ctx.alert.get("labels", {})
        return [
            {"name": k, "value": v, "isRegex": False, "isEqual": True}
            for k, v in sorted(labels.items())
        ]
    out = []
    for text in params.matchers:
        m = parse_matcher(text)  # rendered values were validated by the model
        out.append(
            {
                "name": m.name,
                "value": m.value,
                "isRegex": m.op in (MatchOp.REGEX, MatchOp.NOT_REGEX),
                "isEqual": m.op in (MatchOp.EQUAL, MatchOp.REGEX),
            }
        )
    return out


def _show(m: dict[str, Any]) -> str:
    op = ("=" if m["isEqual"] else "!") + ("~" if m["isRegex"] else "")
    if op == "!":
        op = "!="
    return f'{m["name"]}{op}"{m["value"]}"'
