"""The aiohttp application: every HTTP route of the service."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from alertreflex.config.schema import MAX_BODY_SIZE
from alertreflex.engine.engine import Engine
from alertreflex.web import api, controls, decisions, ops, ui
from alertreflex.web.access import CSRF_SECRET, access_middleware, new_csrf_secret
from alertreflex.web.hosts import host_middleware
from alertreflex.web.sync import SyncService
from alertreflex.web.webhook import make_handler

SYNC = web.AppKey("sync", SyncService)


def create_app(
    engine: Engine, reload: ops.Reloader, ready: Callable[[], bool] = lambda: True
) -> web.Application:
    # The webhook enforces its own (reloadable) size limit while streaming the body;
    # aiohttp's fixed limit only guards the other routes. The host name is checked
    # first: a request to a name that is not served reaches nothing else.
    refused = engine.metrics.http_refused
    app = web.Application(
        client_max_size=MAX_BODY_SIZE,
        middlewares=[
            host_middleware(lambda: engine.config, refused.labels("host").inc),
            access_middleware(
                lambda: engine.config,
                lambda entry: engine.store.add_audit(entry),
                refused.labels("login_throttled").inc,
            ),
        ],
    )
    app[CSRF_SECRET] = new_csrf_secret()  # per process: forms of a past process are refused

    app.add_routes([web.post("/webhook", make_handler(engine))])
    app.add_routes(ui.routes(engine))
    app.add_routes(ops.routes(engine, reload, ready))
    app.add_routes(api.routes(engine))
    app.add_routes(controls.routes(engine))
    app.add_routes(decisions.routes(engine))
    # Always there, idle unless settings.sync is set (a reload may set it); the server
    # starts and stops its loop.
    app[SYNC] = SyncService(engine, reload, lambda: ops.status_doc(engine))
    app.add_routes(app[SYNC].routes())
    return app
