"""The JSON API under ``/api/v1/``; described by :mod:`alertreflex.web.openapi`."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from aiohttp import web

from alertreflex.config.loader import Reflex
from alertreflex.core.durations import format_duration
from alertreflex.core.models import RunState, Trigger
from alertreflex.engine.engine import Engine
from alertreflex.store.base import Store, StoreError
from alertreflex.web.errors import json_error
from alertreflex.web.openapi import openapi_document

MAX_LIMIT = 1000
PREFIX_MATCHES_SHOWN = 10
# What a run id is made of (core/ids.py: Crockford's base32 in lower case); a prefix
# with anything else cannot match, so the store is not asked.
_ID_CHARS = re.compile(r"[0-9a-z]+")


async def resolve_run_id(store: Store, given: str) -> str | web.Response:
    """The id of the run that ``given`` names, its id or any unique prefix of it (as
    git takes a commit's), or the error answer: 404 for none, 409 for several.
    Raises StoreError."""
    prefix = given.lower()  # ids are lower case; people may type them otherwise
    found = (
        await store.run_ids_by_prefix(prefix, PREFIX_MATCHES_SHOWN + 1)
        if _ID_CHARS.fullmatch(prefix)
        else []
    )
    if prefix in found or len(found) == 1:
        return prefix if prefix in found else found[0]
    if not found:
        return json_error(404, f"no run with id {given!r}, nor one whose id starts with it")
    shown = found[:PREFIX_MATCHES_SHOWN]
    more = ", ..." if len(found) > len(shown) else ""
    count = f"more than {len(shown)}" if more else str(len(found))
    return web.json_response(
        {
            "status": "error",
            "error": f"run id prefix {given!r} matches {count} runs: {', '.join(shown)}{more}; "
            "give more characters",
            "matches": shown,
        },
        status=409,
    )


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
                reflex=q.get("reflex") or None,
                state=state,
                trigger=trigger,
                fingerprint=q.get("fingerprint") or None,
                limit=limit,
            )
        except StoreError as exc:
            return json_error(503, str(exc))
        return web.json_response({"runs": [r.to_json(full=False) for r in found]})

    async def run(request: web.Request) -> web.Response:
        given = request.match_info["id"]
        try:
            found = await engine.store.get_run(given)
            if found is None:
                run_id = await resolve_run_id(engine.store, given)
                if isinstance(run_id, web.Response):
                    return run_id
                found = await engine.store.get_run(run_id)
        except StoreError as exc:
            return json_error(503, str(exc))
        if found is None:  # pruned away between the two reads
            return json_error(404, f"no run with id {given!r}")
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
