"""The aiohttp application: every HTTP route of the service."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from alertreflex import __version__
from alertreflex.config.schema import MAX_BODY_SIZE
from alertreflex.engine.engine import Engine
from alertreflex.web import api, controls, ops
from alertreflex.web.sync import SyncService
from alertreflex.web.webhook import make_handler

_INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>alertreflex</title></head>
<body><h1>alertreflex {version}</h1>
<ul>
<li><a href="/api/v1/runs">recent runs</a></li>
<li><a href="/api/v1/reflexes">reflexes</a></li>
<li><a href="/metrics">metrics</a></li>
<li><a href="/api/v1/openapi.json">OpenAPI document</a></li>
</ul></body></html>
"""


SYNC = web.AppKey("sync", SyncService)


def create_app(
    engine: Engine, reload: ops.Reloader, ready: Callable[[], bool] = lambda: True
) -> web.Application:
    # The webhook enforces its own (reloadable) size limit while streaming the body;
    # aiohttp's fixed limit only guards the other routes.
    app = web.Application(client_max_size=MAX_BODY_SIZE)

    async def index(_request: web.Request) -> web.Response:
        return web.Response(text=_INDEX.format(version=__version__), content_type="text/html")

    app.add_routes([web.get("/", index), web.post("/webhook", make_handler(engine))])
    app.add_routes(ops.routes(engine, reload, ready))
    app.add_routes(api.routes(engine))
    app.add_routes(controls.routes(engine))
    # Always there, idle unless settings.sync is set (a reload may set it); the server
    # starts and stops its loop.
    app[SYNC] = SyncService(engine, reload, lambda: ops.status_doc(engine))
    app.add_routes(app[SYNC].routes())
    return app
