"""The JSON API under ``/api/v1/``; described by :mod:`alertreflex.web.openapi`."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from alertreflex.config.loader import Reflex
from alertreflex.core.durations import format_duration
from alertreflex.core.models import RunState, Trigger
from alertreflex.engine.engine import Engine
from alertreflex.store.base import StoreError
from alertreflex.web.errors import json_error
from alertreflex.web.openapi import openapi_document

MAX_LIMIT = 1000


def _safe_filename(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


def reflex_json(r: Reflex) -> dict[str, Any]:
    return {
        "name": r.name,
        "team": r.team,
        "description": r.description,
        "match": [str(m) for m in r.matchers],
        "on_firing": [
            {"name": s.name, "action": s.action, "params": s.params.raw} for s in r.on_firing
        ],
        "on_resolved": [
            {"name": s.name, "action": s.action, "params": s.params.raw} for s in r.on_resolved
        ],
        "cooldown": format_duration(r.cooldown),
        "max_concurrent": r.max_concurrent,
        "dry_run": r.dry_run,
        "resolve_delay": format_duration(r.resolve_delay),
        "source": r.source,
    }


def routes(engine: Engine) -> list[web.RouteDef]:
    async def reflexes(_request: web.Request) -> web.Response:
        return web.json_response(
            {"reflexes": [reflex_json(r) for r in engine.config.reflexes.values()]}
        )

    async def runs(request: web.Request) -> web.Response:
        q = request.query
        state = q.get("state") or None
        if state is not None and state not in RunState.__members__.values():
            return json_error(400, f"state: must be one of {', '.join(RunState)}")
        trigger = q.get("trigger") or None
        if trigger is not None and trigger not in Trigger.__members__.values():
            return json_error(400, f"trigger: must be one of {', '.join(Trigger)}")
        try:
            limit = int(q.get("limit", "50"))
        except ValueError:
            return json_error(400, "limit: must be a whole number")
        if not 1 <= limit <= MAX_LIMIT:
            return json_error(400, f"limit: must be between 1 and {MAX_LIMIT}")
        try:
            found = await engine.store.list_runs(
                reflex=q.get("reflex") or None, state=state, trigger=trigger, limit=limit
            )
        except StoreError as exc:
            return json_error(503, str(exc))
        return web.json_response({"runs": [r.to_json(full=False) for r in found]})

    async def run(request: web.Request) -> web.Response:
        try:
            found = await engine.store.get_run(request.match_info["id"])
        except StoreError as exc:
            return json_error(503, str(exc))
        if found is None:
            return json_error(404, f"no run with id {request.match_info['id']!r}")
        doc = found.to_json()
        try:
            arts = await engine.store.list_artifacts(found.id)
        except StoreError as exc:
            return json_error(503, str(exc))
        doc["artifacts"] = [
            {**a.to_json(), "url": f"/api/v1/runs/{found.id}/artifacts/{quote(a.name)}"}
            for a in arts
        ]
        return web.json_response(doc)

    async def artifact(request: web.Request) -> web.Response:
        run_id, name = request.match_info["id"], request.match_info["name"]
        try:
            found = await engine.store.get_artifact(run_id, name)
        except StoreError as exc:
            return json_error(503, str(exc))
        if found is None:
            return json_error(404, f"run {run_id!r} has no artifact {name!r}")
        disposition = "attachment" if request.query.get("download") else "inline"
        return web.Response(
            body=found.data,
            headers={
                "Content-Type": found.content_type,
                "Content-Disposition": f'{disposition}; filename="{_safe_filename(name)}"',
                # Artifacts come from actions and the systems they touched: never let a
                # browser run them as a page of this origin.
                "Content-Security-Policy": "sandbox",
                "X-Content-Type-Options": "nosniff",
            },
        )

    async def openapi(_request: web.Request) -> web.Response:
        return web.json_response(openapi_document())

    return [
        web.get("/api/v1/reflexes", reflexes),
        web.get("/api/v1/runs", runs),
        web.get("/api/v1/runs/{id}", run),
        web.get("/api/v1/runs/{id}/artifacts/{name}", artifact),
        web.get("/api/v1/openapi.json", openapi),
    ]
