"""The server's side of the ``exec`` helper process (alertreflex.actions.exec_worker).

Spawning a process costs the spawning thread time during which an event loop does
nothing else, and threads do not help (the GIL serialises them). The server therefore
hands each host ``exec`` step to one long-lived helper process that runs
:class:`~alertreflex.actions.exec.ExecAction` itself and sends the result back, so
spawning uses the other core. Frames on the helper's stdin/stdout are a 4-byte
big-endian length and an orjson document:

    request  {"id": n, "params": {...}, "ctx": {...}}   result {"id": n, "result": {...}}
    cancel   {"cancel": n}                               (the step's process group is killed)
    ready    {"ready": true}                             (the helper's first frame)

If the helper dies, the steps it had fail and the next step starts a new one. The
helper is started with the server (:meth:`ExecWorkerClient.start`), so that its own
start-up does not delay the first step.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import struct
import sys
from typing import Any

import orjson

from alertreflex.actions.base import ActionContext, StepOutcome, StepResult

_HEADER = struct.Struct(">I")
READY_TIMEOUT = 30.0  # seconds the server's start waits for the helper, at most


def frame(doc: Any) -> bytes:
    body = orjson.dumps(doc)
    return _HEADER.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader) -> Any:
    header = await reader.readexactly(_HEADER.size)
    return orjson.loads(await reader.readexactly(_HEADER.unpack(header)[0]))


def result_doc(r: StepResult) -> dict[str, Any]:
    return {
        "outcome": str(r.outcome),
        "summary": r.summary,
        "exit_code": r.exit_code,
        "output": r.output,
        "details": r.details,
    }


def result_of(doc: dict[str, Any]) -> StepResult:
    return StepResult(
        StepOutcome(doc["outcome"]), doc["summary"], doc["exit_code"], doc["output"], doc["details"]
    )


# What of a step's context the helper needs: plain data, as JSON.
_CTX_FIELDS = tuple(
    f.name for f in dataclasses.fields(ActionContext) if not f.metadata.get("in_process")
)


class ExecWorkerClient:
    """The server's side: one helper process, many concurrent steps."""

    def __init__(self) -> None:
        self._proc: asyncio.subprocess.Process | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[StepResult]] = {}
        self._next_id = 0
        self._starting: asyncio.Lock | None = None
        self._ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def start(self, timeout: float = READY_TIMEOUT) -> None:
        """Start the helper with the server and wait until it says it is ready, so
        that its start-up (an interpreter and its imports, ~0.5 s, overlapping the
        server's own) never delays the first step. A helper that is not ready in
        ``timeout`` is not waited for: steps queue on its stdin until it is."""
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
                if "ready" in doc:  # the helper's first frame, once it has imported
                    if not self._ready.done():
                        self._ready.set_result(None)
                    continue
                fut = self._pending.pop(doc["id"], None)
                if fut is not None and not fut.done():
                    fut.set_result(result_of(doc["result"]))
        except (asyncio.IncompleteReadError, ConnectionError, orjson.JSONDecodeError):
            pass
        finally:
            lost = StepResult(StepOutcome.FAILED, "the exec worker process exited mid-step")
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_result(lost)
            self._pending.clear()
            with contextlib.suppress(ProcessLookupError):
                proc.kill()

    async def execute(self, params: dict[str, Any], ctx: ActionContext) -> StepResult:
        proc = await self._ensure()
        assert proc.stdin is not None
        self._next_id += 1
        step_id = self._next_id
        fut: asyncio.Future[StepResult] = asyncio.get_running_loop().create_future()
        self._pending[step_id] = fut
        # Shallow: orjson walks the alert's dicts itself; asdict's deep copy cost ~5%
        # of the server's CPU under load.
        ctx_doc = {name: getattr(ctx, name) for name in _CTX_FIELDS}
        proc.stdin.write(frame({"id": step_id, "params": params, "ctx": ctx_doc}))
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            # Shutdown: have the worker kill the step's processes, wait briefly for it.
            with contextlib.suppress(ConnectionError, RuntimeError):
                proc.stdin.write(frame({"cancel": step_id}))
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(fut), 5.0)
            raise

    async def close(self) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        assert proc.stdin is not None
        proc.stdin.close()  # the worker kills what is left and exits
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(proc.wait(), 10.0)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        if self._reader_task is not None:
            await self._reader_task
