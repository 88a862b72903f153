"""What every operator action over HTTP reads: who acts and why.

Who is the authenticated user when ``settings.auth`` is configured; otherwise the
body's ``by`` (the CLI sends USER@HOST), or "anonymous".
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from alertreflex.web.access import identity
from alertreflex.web.errors import json_error

MAX_TEXT = 1000


def actor(request: web.Request, by: str) -> str:
    me = identity(request)
    if me.authenticated:
        return me.name
    return by or "anonymous"


async def read_action(
    request: web.Request, *, fields: tuple[str, ...] = (), need_reason: bool = True
) -> tuple[dict[str, str], str] | web.Response:
    """({field: value} for ``fields`` plus reason, who) from a JSON body such as
    ``{"reason": "deploying", "by": "alice"}``; or the 400 answer saying what is wrong."""
    if request.content_type != "application/json":
        # A JSON content type also keeps cross-site HTML forms out (they cannot send it).
        return json_error(415, "expected Content-Type: application/json")
    try:
        doc: Any = await request.json()
    except ValueError:
        return json_error(400, 'expected a JSON body such as {"reason": "deploying"}')
    if not isinstance(doc, dict):
        return json_error(400, "expected a JSON object")
    known = {*fields, "reason", "by"}
    unknown = set(doc) - known
    if unknown:
        return json_error(400, f"unknown field(s): {', '.join(sorted(unknown))}")
    values = {}
    for key in sorted(known):
        value = doc.get(key) or ""
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            return json_error(400, f"{key} must be a string of at most {MAX_TEXT} characters")
        values[key] = value.strip()
    if need_reason and not values["reason"]:
        return json_error(400, "a reason is required: say why, for whoever looks next")
    return values, actor(request, values.pop("by"))
