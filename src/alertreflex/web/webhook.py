"""``POST /webhook``: validate, store durably, then acknowledge with what became of
the notification's runs (the answer is documented in docs/reference/http-api.md)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import orjson
import structlog
from aiohttp import web
from pydantic import ValidationError

from alertreflex.core.models import NOTIFICATION_ADAPTER
from alertreflex.core.paths import format_path
from alertreflex.engine.engine import Engine
from alertreflex.engine.intake import REPEAT_WHY, Outcome
from alertreflex.engine.repeats import body_digest
from alertreflex.lograte import LogBudget
from alertreflex.store.base import QueueFullError, StoreError
from alertreflex.web.auth import check_webhook_auth
from alertreflex.web.errors import json_error, json_response

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = structlog.get_logger("alertreflex.webhook")
_MAX_REPORTED_ERRORS = 5
QUEUE_FULL_LOG_BURST = 1  # the first refusal is logged at once,
QUEUE_FULL_LOG_RATE = 0.1  # then one line per 10 s at most, counting the others


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


def _refused_for_room(budget: LogBudget, detail: str) -> web.Response:
    # Under overload this is most requests: one log line now and then, with a count.
    if (left_out := budget.take()) is not None:
        log.warning("webhook_queue_full", detail=detail, refused_since_last_line=left_out + 1)
    return json_error(
        503,
        f"run queue is full ({detail}); Alertmanager will retry",
        headers={"Retry-After": "5"},
    )


def _log_accepted(outcome: Outcome, alerts: int) -> None:
    """One line per notification: info when it made runs, or wanted runs its episodes
    already had while an alert changed (a store kept from an earlier try answers
    so); debug for the rest, which repeats and unmatched alerts make most of."""
    made = outcome.created or (outcome.why and not outcome.duplicate and outcome.existing)
    # Only the keys that say something: a log line is read by people first.
    extra: dict[str, object] = {}
    if outcome.skipped:
        extra["skipped"] = ",".join(f"{k}:{n}" for k, n in outcome.skipped.items())
    if outcome.why:
        extra["why"] = outcome.why
    (log.info if made else log.debug)(
        "webhook_accepted",
        notification_id=outcome.notification_id,
        alerts=alerts,
        runs_created=outcome.runs_created,
        runs_skipped=outcome.runs_skipped,
        queued=outcome.queued,
        scheduled=outcome.scheduled,
        awaiting_approval=outcome.awaiting_approval,
        **extra,
    )


def make_handler(engine: Engine) -> Handler:
    metrics = engine.metrics
    accepted = metrics.notifications.labels("accepted")
    queue_full = metrics.notifications.labels("queue_full")
    full_log = LogBudget(QUEUE_FULL_LOG_BURST, QUEUE_FULL_LOG_RATE)
    # The same shape as every 200, so that clients read one kind of answer.
    repeat = orjson.dumps(Outcome(duplicate=True, why=REPEAT_WHY).answer())

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
        digest = body_digest(body)
        if engine.repeat(digest):
            # The same bytes as a notification stored here: it changes nothing.
            accepted.inc()
            metrics.ack_latency.observe(time.perf_counter() - t0)
            return web.Response(body=repeat, content_type="application/json")
        if engine.queue_full:
            # Only a known repeat could be accepted now: refuse before parsing.
            queue_full.inc()
            limit = cfg.settings.max_queued_runs
            return _refused_for_room(full_log, f"{limit} runs accepted and not finished")
        await engine.pace()  # while runs wait for slots: keep to their pace
        try:
            notification = NOTIFICATION_ADAPTER.validate_json(body)
        except ValidationError as exc:
            metrics.notifications.labels("invalid").inc()
            message = validation_message(exc)
            log.info("webhook_rejected", reason=message, remote=request.remote)
            return json_error(400, f"invalid Alertmanager payload: {message}")
        try:
            outcome = await engine.ingest(notification, body, digest)
        except QueueFullError as exc:
            queue_full.inc()
            return _refused_for_room(full_log, str(exc))
        except StoreError as exc:
            metrics.notifications.labels("store_error").inc()
            log.error("webhook_store_error", error=str(exc))
            return json_error(503, f"could not store the notification: {exc}")
        accepted.inc()
        metrics.ack_latency.observe(time.perf_counter() - t0)
        _log_accepted(outcome, len(notification.alerts))
        return json_response(outcome.answer())

    return webhook
