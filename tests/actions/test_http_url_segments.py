"""Label values in a URL's path, sent for real: with ``path_segment`` a value stays in
its segment whatever it holds (issue 16, "Label values cannot leave a URL's path")."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from alertreflex.actions.base import ActionContext, StepOutcome, StepResult
from alertreflex.actions.http import HttpAction, HttpParams
from alertreflex.core.models import Trigger
from alertreflex.core.templates import TemplateError, TemplateTree

URL = "{base}/api/items/{{{{ alert.labels.item | path_segment }}}}"


@pytest.fixture
async def received() -> AsyncIterator[tuple[str, list[str]]]:
    """A server on loopback that records each request's path exactly as sent."""
    paths: list[str] = []

    async def record(request: web.Request) -> web.Response:
        paths.append(request.raw_path)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", paths
    finally:
        await runner.cleanup()


async def send(url_template: str, item: str) -> StepResult:
    """Render and validate the step as a run does, then send it with the http action."""
    alert = {"labels": {"item": item}, "annotations": {}, "status": "firing"}
    context = {
        "alert": alert,
        "notification": {},
        "reflex": {"name": "items", "team": "t"},
        "run_id": "run-1",
        "trigger": "firing",
        "secrets": {},
    }
    rendered: dict[str, Any] = TemplateTree({"url": url_template, "method": "GET"}).render(context)
    params = HttpParams.model_validate({**rendered, "retries": 0})
    ctx = ActionContext(
        run_id="run-1",
        reflex="items",
        team="t",
        trigger=Trigger.FIRING,
        alert=alert,
        notification={},
    )
    action = HttpAction()
    try:
        return await action.execute(params, ctx)
    finally:
        await action.close()


@pytest.mark.parametrize(
    ("item", "encoded"),
    [
        ("../../admin", "..%2F..%2Fadmin"),
        ("x/../../../secret", "x%2F..%2F..%2F..%2Fsecret"),
        ("x?role=admin#", "x%3Frole%3Dadmin%23"),
        ("%2e%2e", "%252e%252e"),
        ("...", "..."),
        ("søk/ü", "s%C3%B8k%2F%C3%BC"),
    ],
)
async def test_hostile_label_values_stay_in_their_segment(
    received: tuple[str, list[str]], item: str, encoded: str
) -> None:
    """The issue's values reach /api/items/<one encoded segment> and nothing else:
    no /admin, no /secret, no query."""
    base, paths = received
    result = await send(URL.format(base=base), item)
    assert result.outcome is StepOutcome.SUCCEEDED, result.summary
    assert paths == [f"/api/items/{encoded}"]


@pytest.mark.parametrize("item", ["", ".", ".."])
async def test_values_that_are_not_a_segment_send_nothing(
    received: tuple[str, list[str]], item: str
) -> None:
    """'', '.' and '..' would make the path /api/items/, /api/items or /api: the step
    fails while rendering and no request is made."""
    base, paths = received
    with pytest.raises(TemplateError, match="cannot be a path segment"):
        await send(URL.format(base=base), item)
    assert paths == []


async def test_without_the_filter_a_label_leaves_the_path(
    received: tuple[str, list[str]],
) -> None:
    """Why the filter exists (and why check warns without it): the raw value climbs
    out of /api/items/ before the request leaves."""
    base, paths = received
    result = await send(f"{base}/api/items/{{{{ alert.labels.item }}}}", "../../admin")
    assert result.outcome is StepOutcome.SUCCEEDED, result.summary
    assert paths == ["/admin"]
