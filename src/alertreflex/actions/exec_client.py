"""The server's side of the ``exec`` helper process (alertreflex.actions.exec_worker).

Spawning a process costs the spawning thread time during which an event loop does
nothing else, and threads do not help (the GIL serialises them). Host ``exec`` steps
are therefore spawned and watched by one long-lived helper process, so that spawning
uses the other core: the server prepares each step (argv, environment, stdin) and
sends it there; the helper answers with the exit status and output (the frames are in
:mod:`alertreflex.actions.exec_frames`).

If the helper dies, the steps it had fail and the next step starts a new one. In the
server the helper is started with it (:meth:`ExecWorkerClient.start`), so that its
own start-up does not delay the first step.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import Any

import orjson

from alertreflex.actions.exec_frames import HEADER, frame

READY_TIMEOUT = 30.0  # seconds the server's start waits for the helper, at most
LOST = "the exec worker process exited mid-step"


async def read_frame(reader: asyncio.StreamReader) -> Any:
    """The next JSON document from the helper (whose frames carry no blob)."""
    doc_len, blob_len = HEADER.unpack(await reader.readexactly(HEADER.size))
    body = await reader.readexactly(doc_len + blob_len)
    return orjson.loads(body[:doc_len] if blob_len else body)


class ExecWorkerClient:
    """The server's side: one helper process, many concurrent steps."""

    def __init__(self) -> None:
        self._proc: asyncio.subprocess.Process | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 0
        self._starting: asyncio.Lock | None = None
        self._ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def start(self, timeout: float = READY_TIMEOUT) -> None:
        """Start the helper and wait until it says it is ready, so that its start-up
        never delays the first step. A helper that is not ready in ``timeout`` is not
        waited for: steps queue on its stdin until it is."""
        await self._ensure()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._ready), timeout)

    async def _ensure(self) -> asyncio.subprocess.Process:
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            # The reader ends when the worker's stdout does, possibly before the exit
            # is reaped: a step sent then would wait for an answer that never comes.
            if self._proc is None or self._reader_task is None or self._reader_task.done():
                self._proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "alertreflex.actions.exec_worker",
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                )
                self._reader_task = asyncio.create_task(self._read(self._proc))
            return self._proc

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        try:
            while True:
                doc = await read_frame(proc.stdout)
                if "ready" in doc:  # the helper's first frame, once it can serve
                    if not self._ready.done():
                        self._ready.set_result(None)
                    continue
                fut = self._pending.pop(doc.get("id"), None)
                if fut is not None and not fut.done():
                    fut.set_result(doc)
        except (asyncio.IncompleteReadError, ConnectionError, orjson.JSONDecodeError):
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        except asyncio.CancelledError:
            # The event loop is ending with the helper still running (an ExecAction
            # used on its own and never closed): end it as close() does, cleanly.
            await self._stop(proc)
            raise
        finally:
            lost = {"failed": LOST}
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_result(lost)
            self._pending.clear()

    async def run(self, spec: dict[str, Any], stdin: bytes) -> dict[str, Any]:
        """Run one prepared step (see exec_frames for ``spec``); the helper's answer."""
        proc = await self._ensure()
        assert proc.stdin is not None
        self._next_id += 1
        step_id = self._next_id
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[step_id] = fut
        spec["id"] = step_id
        proc.stdin.write(frame(orjson.dumps(spec), stdin))
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            # Shutdown: have the worker kill the step's processes, wait briefly for it.
            with contextlib.suppress(ConnectionError, RuntimeError):
                proc.stdin.write(frame(orjson.dumps({"cancel": step_id})))
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(fut), 5.0)
            raise

    async def close(self) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        await self._stop(proc)
        if self._reader_task is not None:
            await self._reader_task

    @staticmethod
    async def _stop(proc: asyncio.subprocess.Process) -> None:
        assert proc.stdin is not None
        proc.stdin.close()  # the worker kills what is left and exits
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(proc.wait(), 10.0)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
