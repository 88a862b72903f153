"""The brakes over HTTP: GET /api/v1/controls, POST /api/v1/pause and /api/v1/resume
(everything, or one reflex with ``reflex``), and GET /api/v1/audit (who did what).

Who acted is the authenticated user (or the body's ``by`` without auth); a reason is
required, as it is on the command line.
"""

from __future__ import annotations

from aiohttp import web

from alertreflex.engine.engine import Engine
from alertreflex.store.base import GLOBAL, StoreError
from alertreflex.web.acting import read_action
from alertreflex.web.errors import json_error


def routes(engine: Engine) -> list[web.RouteDef]:
    async def controls(_request: web.Request) -> web.Response:
        held = engine.controls.all()
        return web.json_response(
            {
                "paused": any(c.scope == GLOBAL for c in held),
                "controls": [c.to_json() for c in held],
            }
        )

    async def change(request: web.Request, pause: bool) -> web.Response:
        body = await read_action(request, fields=("reflex",))
        if isinstance(body, web.Response):
            return body
        values, who = body
        reflex, reason = values["reflex"], values["reason"]
        if reflex and reflex not in engine.config.reflexes:
            return json_error(404, f"no reflex named {reflex!r} in the running config")
        try:
            if pause:
                control = await engine.controls.hold(reflex or GLOBAL, who, reason)
                return web.json_response({"status": "success", "control": control.to_json()})
            before = await engine.controls.release(reflex or GLOBAL, who, reason)
        except StoreError as exc:
            return json_error(503, str(exc))
        return web.json_response({"status": "success", "was": before.to_json() if before else None})

    async def pause(request: web.Request) -> web.Response:
        return await change(request, True)

    async def resume(request: web.Request) -> web.Response:
        return await change(request, False)

    async def audit(request: web.Request) -> web.Response:
        try:
            limit = int(request.query.get("limit", "100"))
        except ValueError:
            return json_error(400, "limit must be an integer")
        if not 1 <= limit <= 1000:
            return json_error(400, "limit must be between 1 and 1000")
        try:
            entries = await engine.store.list_audit(target=request.query.get("target"), limit=limit)
        except StoreError as exc:
            return json_error(503, str(exc))
        return web.json_response({"audit": [e.to_json() for e in entries]})

    return [
        web.get("/api/v1/controls", controls),
        web.post("/api/v1/pause", pause),
        web.post("/api/v1/resume", resume),
        web.get("/api/v1/audit", audit),
    ]
