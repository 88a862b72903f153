"""The naive receiver, a baseline of bench/peers.py: aiohttp, and one
``asyncio.create_subprocess_exec`` per alert, output read, nothing stored, no
deduplication, no limit. What a few lines of Python do.

    python naive_receiver.py PORT COMMAND [ARG...]   (the alert's fingerprint is added)
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import orjson
from aiohttp import web

PORT = int(sys.argv[1])
COMMAND = sys.argv[2:]
running: set[asyncio.Task[None]] = set()


async def act(alert: dict[str, Any]) -> None:
    proc = await asyncio.create_subprocess_exec(
        *COMMAND,
        alert["fingerprint"],
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    await proc.communicate()


async def webhook(request: web.Request) -> web.Response:
    for alert in orjson.loads(await request.read())["alerts"]:
        task = asyncio.ensure_future(act(alert))
        running.add(task)  # a reference until done, or it may be collected
        task.add_done_callback(running.discard)
    return web.Response(body=b'{"status":"accepted"}', content_type="application/json")


app = web.Application()
app.router.add_post("/webhook", webhook)
web.run_app(app, host="127.0.0.1", port=PORT, access_log=None, print=None)
