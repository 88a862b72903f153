"""The parse-only handler, a baseline of bench/peers.py: aiohttp reads the body and
parses the JSON, nothing else. The floor of any Python receiver.

    python parse_only_receiver.py PORT
"""

from __future__ import annotations

import sys

import orjson
from aiohttp import web


async def webhook(request: web.Request) -> web.Response:
    orjson.loads(await request.read())
    return web.Response(body=b'{"status":"accepted"}', content_type="application/json")


app = web.Application()
app.router.add_post("/webhook", webhook)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
