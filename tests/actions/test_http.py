"""The ``http`` action, against a real aiohttp server on loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from pydantic import ValidationError

import alertreflex
from alertreflex.actions.base import ActionContext, StepOutcome, StepResult
from alertreflex.actions.http import HttpAction, HttpParams
from alertreflex.core.models import Trigger


def make_ctx(output_limit: int = 64 * 1024) -> ActionContext:
    return ActionContext(
        run_id="run-4567",
        reflex="order-pizza",
        team="core",
        trigger=Trigger.FIRING,
        alert={"labels": {"alertname": "LateNight"}, "annotations": {}, "status": "firing"},
        notification={"receiver": "alertreflex"},
        output_limit=output_limit,
    )


@dataclass
class Server:
    url: str
    hits: Counter[str] = field(default_factory=Counter)
    requests: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server(url="")

    async def echo(request: web.Request) -> web.Response:
        body = await request.text()
        seen = {
            "method": request.method,
            "path": request.path_qs,
            "headers": {k: v for k, v in request.headers.items()},
            "idempotency_keys": request.headers.getall("Idempotency-Key", []),
            "body": body,
        }
        state.requests.append(seen)
        state.hits[request.path] += 1
        return web.json_response(seen)

    async def status(request: web.Request) -> web.Response:
        state.hits[request.path] += 1
        code = int(request.match_info["code"])
        return web.Response(status=code, text=f"status {code}")

    async def flaky(request: web.Request) -> web.Response:
        """Fails with 500 (or the ?code) ``fails`` times, then answers 200."""
        state.hits[request.path] += 1
        state.requests.append({"idempotency_key": request.headers.get("Idempotency-Key")})
        if state.hits[request.path] <= int(request.match_info["fails"]):
            return web.Response(status=int(request.query.get("code", "500")), text="not yet")
        return web.Response(text="finally")

    async def slow(request: web.Request) -> web.Response:
        state.hits[request.path] += 1
        await asyncio.sleep(30)
        return web.Response(text="too late")

    async def trickle(request: web.Request) -> web.StreamResponse:
        """Sends headers at once, then a byte every 50 ms for ever."""
        state.hits[request.path] += 1
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(1000):
            await response.write(b".")
            await asyncio.sleep(0.05)
        return response

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"z" * 1_000_000, content_type="application/octet-stream")

    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    app.router.add_route("*", "/status/{code}", status)
    app.router.add_route("*", "/flaky/{fails}", flaky)
    app.router.add_get("/slow", slow)
    app.router.add_get("/trickle", trickle)
    app.router.add_get("/big", big)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    state.url = f"http://{host}:{port}"
    try:
        yield state
    finally:
        await runner.cleanup()


@pytest.fixture
async def action() -> AsyncIterator[HttpAction]:
    act = HttpAction()
    try:
        yield act
    finally:
        await act.close()


async def call(action: HttpAction, ctx: ActionContext | None = None, **params: Any) -> StepResult:
    params.setdefault("retry_backoff", "10ms")
    validated = HttpParams.model_validate(params)
    return await action.execute(validated, ctx or make_ctx())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_json_post_arrives(server: Server, action: HttpAction) -> None:
    """A POST with a json body arrives with its headers, the run id and alertreflex's User-Agent."""
    result = await call(
        action,
        url=f"{server.url}/echo?x=1",
        json={"text": "it stalls", "n": [1, 2]},
        headers={"X-Team": "core"},
    )
    assert result.outcome is StepOutcome.SUCCEEDED
    assert result.summary == "HTTP 200 after 1 attempt"
    assert result.details == {
        "status": 200,
        "attempts": 1,
        "content_type": "application/json; charset=utf-8",
    }
    seen = server.requests[0]
    assert seen["method"] == "POST"
    assert seen["path"] == "/echo?x=1"
    assert json.loads(seen["body"]) == {"text": "it stalls", "n": [1, 2]}
    assert seen["headers"]["Content-Type"] == "application/json"
    assert seen["headers"]["X-Team"] == "core"
    assert seen["headers"]["Idempotency-Key"] == "run-4567"
    assert seen["headers"]["User-Agent"] == f"alertreflex/{alertreflex.__version__}"
    assert json.loads(result.output)["method"] == "POST"


async def test_method_and_raw_body(server: Server, action: HttpAction) -> None:
    """The method is case-insensitive and a raw body is sent as is."""
    result = await call(
        action,
        url=f"{server.url}/echo",
        method="put",
        body="level=DEBUG\n",
        headers={"Content-Type": "text/plain"},
    )
    assert result.outcome is StepOutcome.SUCCEEDED
    seen = server.requests[0]
    assert seen["method"] == "PUT"
    assert seen["body"] == "level=DEBUG\n"
    assert seen["headers"]["Content-Type"] == "text/plain"


async def test_get_without_body(server: Server, action: HttpAction) -> None:
    """A GET sends no body."""
    result = await call(action, url=f"{server.url}/echo", method="GET")
    assert result.outcome is StepOutcome.SUCCEEDED
    assert server.requests[0]["method"] == "GET"
    assert server.requests[0]["body"] == ""


async def test_idempotency_key_cannot_be_overridden(server: Server, action: HttpAction) -> None:
    """A step cannot set Idempotency-Key: config is rejected, and the run id always wins."""
    with pytest.raises(ValidationError, match="Idempotency-Key"):
        HttpParams.model_validate({"url": server.url, "headers": {"idempotency-KEY": "mine"}})
    # Even a model built without validation cannot replace it.
    params = HttpParams.model_construct(
        url=f"{server.url}/echo",
        method="POST",
        headers={"idempotency-key": "mine", "Idempotency-Key": "also mine"},
        json_body=None,
        body=None,
        timeout=5.0,
        expect_status=None,
        retries=0,
        retry_backoff=0.0,
        verify_tls=True,
    )
    result = await action.execute(params, make_ctx())
    assert result.outcome is StepOutcome.SUCCEEDED
    assert server.requests[0]["idempotency_keys"] == ["run-4567"]


async def test_user_agent_can_be_set(server: Server, action: HttpAction) -> None:
    """A step may replace the default User-Agent."""
    await call(action, url=f"{server.url}/echo", headers={"user-agent": "pizza-bot/1"})
    assert server.requests[0]["headers"]["User-Agent"] == "pizza-bot/1"


async def test_retries_on_500_then_succeeds(server: Server, action: HttpAction) -> None:
    """Two 500s then a 200: three attempts, all with the same Idempotency-Key."""
    result = await call(action, url=f"{server.url}/flaky/2", retries=2)
    assert result.outcome is StepOutcome.SUCCEEDED
    assert result.summary == "HTTP 200 after 3 attempts"
    assert result.output == "finally"
    assert result.details["attempts"] == 3
    assert server.hits["/flaky/2"] == 3
    assert {r["idempotency_key"] for r in server.requests} == {"run-4567"}


async def test_retries_on_429(server: Server, action: HttpAction) -> None:
    """429 Too Many Requests is retried."""
    result = await call(action, url=f"{server.url}/flaky/1?code=429", retries=1)
    assert result.outcome is StepOutcome.SUCCEEDED
    assert server.hits["/flaky/1"] == 2


async def test_gives_up_after_retries(server: Server, action: HttpAction) -> None:
    """A 5xx on every attempt fails after retries + 1 attempts and keeps the last body."""
    result = await call(action, url=f"{server.url}/status/503", retries=2)
    assert result.outcome is StepOutcome.FAILED
    assert result.summary == "HTTP 503 after 3 attempts (expected 2xx)"
    assert result.output == "status 503"
    assert result.details["status"] == 503
    assert server.hits["/status/503"] == 3


async def test_backoff_doubles(server: Server, action: HttpAction) -> None:
    """The wait between attempts doubles: 100 ms then 200 ms."""
    started = time.monotonic()
    await call(action, url=f"{server.url}/status/500", retries=2, retry_backoff="100ms")
    assert time.monotonic() - started >= 0.3
    assert server.hits["/status/500"] == 3


async def test_no_retry_on_404(server: Server, action: HttpAction) -> None:
    """A 4xx other than 429 is not retried."""
    result = await call(action, url=f"{server.url}/status/404", retries=5)
    assert result.outcome is StepOutcome.FAILED
    assert result.summary == "HTTP 404 after 1 attempt (expected 2xx)"
    assert server.hits["/status/404"] == 1


async def test_expect_status(server: Server, action: HttpAction) -> None:
    """expect_status replaces 'any 2xx': a listed 404 succeeds and an unlisted 200 fails."""
    ok = await call(action, url=f"{server.url}/status/404", expect_status=[404])
    assert ok.outcome is StepOutcome.SUCCEEDED
    assert ok.summary == "HTTP 404 after 1 attempt"
    bad = await call(action, url=f"{server.url}/status/200", expect_status=[201, 202])
    assert bad.outcome is StepOutcome.FAILED
    assert bad.summary == "HTTP 200 after 1 attempt (expected 201, 202)"


async def test_per_attempt_timeout(server: Server, action: HttpAction) -> None:
    """Each attempt has its own timeout; when the last one times out the step is timed_out."""
    started = time.monotonic()
    result = await call(action, url=f"{server.url}/slow", method="GET", timeout="200ms", retries=1)
    assert time.monotonic() - started < 5
    assert result.outcome is StepOutcome.TIMED_OUT
    assert result.summary == "timed out after 2 attempts"
    assert result.details["status"] is None
    assert result.details["attempts"] == 2
    assert server.hits["/slow"] == 2


async def test_timeout_covers_a_trickling_body(server: Server, action: HttpAction) -> None:
    """A server that trickles the response body cannot stretch an attempt past its timeout."""
    started = time.monotonic()
    result = await call(
        action, url=f"{server.url}/trickle", method="GET", timeout="300ms", retries=0
    )
    assert time.monotonic() - started < 3
    assert result.outcome is StepOutcome.TIMED_OUT
    assert result.summary == "timed out after 1 attempt"


async def test_connection_refused(action: HttpAction) -> None:
    """A closed port is a connection error, retried, then reported as refused."""
    result = await call(action, url=f"http://127.0.0.1:{closed_port()}/", retries=2)
    assert result.outcome is StepOutcome.FAILED
    assert result.summary == "connection refused after 3 attempts"
    assert result.details["status"] is None
    assert result.details["attempts"] == 3


async def test_tls_error_is_not_retried(server: Server, action: HttpAction) -> None:
    """TLS to a plain HTTP server fails at once: retrying cannot fix it."""
    result = await call(action, url=server.url.replace("http://", "https://") + "/echo", retries=3)
    assert result.outcome is StepOutcome.FAILED
    assert result.summary.startswith("TLS")
    assert result.details["attempts"] == 1


async def test_invalid_rendered_url(action: HttpAction) -> None:
    """A URL that httpx cannot parse fails the step without retries and names the URL."""
    result = await call(action, url="http://[::1/oops", retries=3)
    assert result.outcome is StepOutcome.FAILED
    assert result.summary.startswith("invalid URL 'http://[::1/oops'")
    assert result.details["attempts"] == 1


async def test_body_is_capped(server: Server, action: HttpAction) -> None:
    """The response body is kept up to output_limit bytes, with a truncation note."""
    result = await call(action, make_ctx(output_limit=100), url=f"{server.url}/big", method="GET")
    assert result.outcome is StepOutcome.SUCCEEDED
    assert result.output == "z" * 100 + "\n[... 999900 bytes truncated]"
    assert result.details["content_type"] == "application/octet-stream"


async def test_one_client_per_tls_setting(server: Server, action: HttpAction) -> None:
    """Clients are shared per verify_tls value and released by close()."""
    await call(action, url=f"{server.url}/echo")
    await call(action, url=f"{server.url}/echo")
    await call(action, url=f"{server.url}/echo", verify_tls=False)
    assert len(action._clients) == 2
    clients = list(action._clients.values())
    await action.close()
    assert all(c.is_closed for c in clients)
    assert action._clients == {}


def test_json_and_body_are_exclusive() -> None:
    """Setting both json and body is a validation error that says so."""
    with pytest.raises(ValidationError, match="'json' and 'body' are mutually exclusive"):
        HttpParams.model_validate({"url": "http://x/", "json": {"a": 1}, "body": "a=1"})


def test_params_validation_and_defaults() -> None:
    """Defaults, method normalisation, and the checks on method, url, headers and retries."""
    params = HttpParams.model_validate({"url": "https://example.com/hook", "json": [1]})
    assert params.method == "POST"
    assert params.json_body == [1]
    assert params.timeout == 10.0
    assert params.retries == 2
    assert params.retry_backoff == 1.0
    assert params.expect_status is None
    assert params.verify_tls is True
    assert HttpParams.model_validate({"url": "http://x/", "method": "patch"}).method == "PATCH"
    assert HttpParams.model_validate({"url": "http://x/", "json_body": 1}).json_body == 1
    # A raw config value may still be a template.
    assert HttpParams.model_validate({"url": "{{ base }}/hook"}).url == "{{ base }}/hook"
    bad: list[dict[str, Any]] = [
        {"url": "http://x/", "method": "FETCH"},
        {"url": "ftp://x/"},
        {"url": "http://x/", "retries": 11},
        {"url": "http://x/", "retries": -1},
        {"url": "http://x/", "expect_status": [99]},
        {"url": "http://x/", "headers": {"X-A": "a\r\nX-Injected: 1"}},
        {"url": "http://x/", "headers": {"Bad Name": "a"}},
        {"url": "http://x/", "timeout": "0"},
        {"url": "http://x/", "unknown": 1},
    ]
    for raw in bad:
        with pytest.raises(ValidationError):
            HttpParams.model_validate(raw)
    schema = HttpParams.model_json_schema(by_alias=True)
    assert "json" in schema["properties"]
    assert schema["properties"]["timeout"]["default"] == "10s"
    assert all(prop.get("description") for prop in schema["properties"].values())


def test_describe() -> None:
    """describe() shows the method and the URL."""
    params = HttpParams.model_validate({"url": "https://pizza.example/order", "method": "post"})
    assert HttpAction().describe(params) == "http POST https://pizza.example/order"
