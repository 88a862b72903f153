"""Operators deciding about runs: approve or reject a run awaiting approval, re-run a
finished one. Each is audited with who, when and why.
"""

from __future__ import annotations

from aiohttp import web

from alertreflex.engine.engine import Engine, NotFound, Refused
from alertreflex.store.base import StoreError
from alertreflex.web.acting import read_action
from alertreflex.web.api import resolve_run_id
from alertreflex.web.errors import json_error


def routes(engine: Engine) -> list[web.RouteDef]:
    async def decide(request: web.Request, approve: bool) -> web.Response:
        body = await read_action(request, need_reason=not approve)
        if isinstance(body, web.Response):
            return body
        values, who = body
        reason = values["reason"] or "approved"
        try:
            run_id = await resolve_run_id(engine.store, request.match_info["id"])
            if isinstance(run_id, web.Response):
                return run_id
            run = await engine.approvals.decide(run_id, approve, who, reason)
            if run is None:
                found = await engine.store.get_run(run_id)
        except StoreError as exc:
            return json_error(503, str(exc))
        if run is None:
            if found is None:
                return json_error(404, f"no run with id {run_id!r}")
            return json_error(
                409, f"run {run_id} is {found.state}, not awaiting approval: {found.reason}"
            )
        return web.json_response({"status": "success", "run": run.to_json(full=False)})

    async def approve(request: web.Request) -> web.Response:
        return await decide(request, True)

    async def reject(request: web.Request) -> web.Response:
        return await decide(request, False)

    async def rerun(request: web.Request) -> web.Response:
        body = await read_action(request)
        if isinstance(body, web.Response):
            return body
        values, who = body
        try:
            run_id = await resolve_run_id(engine.store, request.match_info["id"])
            if isinstance(run_id, web.Response):
                return run_id
            new, old = await engine.rerun(run_id, who, values["reason"])
        except NotFound as exc:
            return json_error(404, str(exc))
        except Refused as exc:
            return json_error(409, str(exc))
        except StoreError as exc:
            return json_error(503, str(exc))
        return web.json_response(
            {"status": "success", "run": {"id": new.id, "rerun_of": old.id, "state": "queued"}}
        )

    return [
        web.post("/api/v1/runs/{id}/approve", approve),
        web.post("/api/v1/runs/{id}/reject", reject),
        web.post("/api/v1/runs/{id}/rerun", rerun),
    ]
