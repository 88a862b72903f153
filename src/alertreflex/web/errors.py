"""One JSON error shape for every endpoint: ``{"status": "error", "error": "..."}``."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web


def json_error(status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response({"status": "error", "error": message}, status=status, headers=headers)
