"""Prometheus-style operational endpoints: /metrics, /-/healthy, /-/ready, /-/reload,
and /api/v1/status."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from alertreflex import __version__
from alertreflex.engine.engine import Engine
from alertreflex.store.base import StoreError
from alertreflex.web.errors import json_error

Reloader = Callable[[], Awaitable[str | None]]
"""Reloads the config; returns None on success or the reason it failed."""


def routes(engine: Engine, reload: Reloader, ready: Callable[[], bool]) -> list[web.RouteDef]:
    async def metrics(_request: web.Request) -> web.Response:
        engine.refresh_gauges()
        body = generate_latest(engine.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthy(_request: web.Request) -> web.Response:
        return web.Response(text="alertreflex is Healthy.\n")

    async def is_ready(_request: web.Request) -> web.Response:
        if not ready():
            return web.Response(status=503, text="alertreflex is not ready.\n")
        # Runs wait, retrying, for the store to take their progress: not ready for
        # more work until it does.
        if (problem := engine.store_health.problem) is not None:
            return web.Response(status=503, text=f"alertreflex is not ready: {problem}\n")
        try:
            await engine.store.ping()
        except StoreError as exc:
            return web.Response(status=503, text=f"alertreflex is not ready: {exc}\n")
        return web.Response(text="alertreflex is Ready.\n")

    async def do_reload(_request: web.Request) -> web.Response:
        problem = await reload()
        if problem is not None:
            return json_error(
                500, f"config reload failed, keeping the last good config:\n{problem}"
            )
        return web.json_response(
            {"status": "success", "reflexes": len(engine.config.reflexes), **status_doc(engine)}
        )

    async def status(_request: web.Request) -> web.Response:
        return web.json_response(status_doc(engine))

    return [
        web.get("/metrics", metrics),
        web.get("/-/healthy", healthy),
        web.get("/-/ready", is_ready),
        web.post("/-/reload", do_reload),
        web.put("/-/reload", do_reload),
        web.get("/api/v1/status", status),
    ]


def status_doc(engine: Engine) -> dict[str, Any]:
    """The running config: each file with its sha256 (``alertreflex sync`` checks that
    a reload took the file it wrote) and the number of reflexes."""
    cfg = engine.config
    return {
        "version": __version__,
        "config": {
            "files": [{"path": f, "sha256": cfg.digests.get(f)} for f in cfg.files],
            "reflexes": len(cfg.reflexes),
        },
    }
