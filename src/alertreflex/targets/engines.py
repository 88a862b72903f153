"""Engine clients shared by every action and run: one per engine address and TLS
files, per event loop.

Action types are separate plugins, each instantiated once by the engine, so the
sharing point is this module: an action takes a share in :meth:`EnginePool.start`
and gives it back in :meth:`EnginePool.stop` (its ``start`` and ``close``); the
clients close when the last share is given back. A reload that changes neither the
URL nor the TLS files' contents keeps the client and its connections.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from alertreflex.config.containers import ContainerAccess

if TYPE_CHECKING:
    from alertreflex.targets.engine import EngineClient


class EnginePool:
    def __init__(self) -> None:
        self._clients: dict[tuple[object, ...], EngineClient] = {}
        self._shares = 0

    def client(self, access: ContainerAccess) -> EngineClient:
        """The client for ``access``'s engine; TargetError if it cannot be used."""
        # Imported at first use: a server whose steps never reach a container need not
        # hold the engine client's libraries (aiodocker: ~2 MiB).
        from alertreflex.targets.engine import EngineClient, resolve_endpoint

        endpoint = resolve_endpoint(access)
        # aiohttp sessions belong to the loop they were made on.
        key = (asyncio.get_running_loop(), *endpoint.key)
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = EngineClient(endpoint)
        return client

    def start(self) -> None:
        self._shares += 1

    async def stop(self) -> None:
        self._shares = max(0, self._shares - 1)
        if self._shares == 0:
            await self.close()

    async def close(self) -> None:
        """Close every client of the running loop (others cannot be closed from it)."""
        loop = asyncio.get_running_loop()
        for key in [k for k in self._clients if k[0] is loop]:
            await self._clients.pop(key).close()


SHARED = EnginePool()
