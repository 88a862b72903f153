"""``POST /webhook``: validate, store durably, then acknowledge."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from pydantic import ValidationError

from alertreflex.core.models import NOTIFICATION_ADAPTER
from alertreflex.core.paths import format_path
from alertreflex.engine.engine import Engine
from alertreflex.store.base import QueueFullError, StoreError
from alertreflex.web.auth import check_webhook_auth
from alertreflex.web.errors import json_error, json_response

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = structlog.get_logger("alertreflex.webhook")
_MAX_REPORTED_ERRORS = 5


def validation_message(exc: ValidationError) -> str:
    """``alerts[0].startsAt: Field required; version: ...``: the fields, as sent."""
    parts = []
    for err in exc.errors()[:_MAX_REPORTED_ERRORS]:
        path = format_path(err["loc"])
        msg = err["msg"]
        if err["type"] == "json_invalid":
            msg = f"invalid JSON: {err.get('ctx', {}).get('error', msg)}"
        parts.append(f"{path}: {msg}" if path else msg)
    more = exc.error_count() - _MAX_REPORTED_ERRORS
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


async def _read_limited(request: web.Request, limit: int) -> bytes | None:
    """The body, or None if it is larger than ``limit`` bytes."""
    if request.content_length is not None:
        if request.content_length > limit:
            return None
        return await request.read()  # aiohttp stops at Content-Length
    chunks = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def make_handler(engine: Engine) -> Handler:
    metrics = engine.metrics
    accepted = metrics.notifications.labels("accepted")

    async def webhook(request: web.Request) -> web.StreamResponse:
        t0 = time.perf_counter()
        cfg = engine.config
        if not check_webhook_auth(request.headers.get("Authorization"), cfg.webhook_credentials):
            metrics.notifications.labels("unauthorized").inc()
            kind = cfg.webhook_credentials[0] if cfg.webhook_credentials else "bearer"
            challenge = f'{kind.capitalize()} realm="alertreflex"'
            return json_error(
                401, "missing or wrong webhook credentials", headers={"WWW-Authenticate": challenge}
            )
        limit = cfg.settings.max_body_size
        body = await _read_limited(request, limit)
        if body is None:
            metrics.notifications.labels("too_large").inc()
            return json_error(413, f"body larger than max_body_size ({limit} bytes)")
        try:
            notification = NOTIFICATION_ADAPTER.validate_json(body)
        except ValidationError as exc:
            metrics.notifications.labels("invalid").inc()
            message = validation_message(exc)
            log.info("webhook_rejected", reason=message, remote=request.remote)
            return json_error(400, f"invalid Alertmanager payload: {message}")
        try:
            result = await engine.ingest(notification, body)
        except QueueFullError as exc:
            metrics.notifications.labels("queue_full").inc()
            log.warning("webhook_queue_full", detail=str(exc))
            return json_error(
                503,
                f"run queue is full ({exc}); Alertmanager will retry",
                headers={"Retry-After": "5"},
            )
        except StoreError as exc:
            metrics.notifications.labels("store_error").inc()
            log.error("webhook_store_error", error=str(exc))
            return json_error(503, f"could not store the notification: {exc}")
        accepted.inc()
        metrics.ack_latency.observe(time.perf_counter() - t0)
        return json_response(
            {
                "status": "accepted",
                "runs_created": sum(1 for r in result.created if r.state == "queued"),
                "runs_skipped": sum(1 for r in result.created if r.state == "skipped"),
                "duplicate": result.duplicate,
            }
        )

    return webhook
