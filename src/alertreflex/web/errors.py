"""One JSON error shape for every endpoint: ``{"status": "error", "error": "..."}``."""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from aiohttp import web


def json_response(data: object, status: int = 200) -> web.Response:
    """Like aiohttp's json_response, serialised with orjson (several times faster)."""
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def json_error(status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    """``{"status":"error","error":message}``, compact like json_response's answers."""
    return web.Response(
        body=orjson.dumps({"status": "error", "error": message}),
        status=status,
        headers=headers,
        content_type="application/json",
    )
