"""The sync inside the server: ``settings.sync`` on an interval, and POST /api/v1/sync
for a git host's push hook (bearer token from ``settings.sync.token_file``).

The sync itself blocks (git, promtool), so it runs in a worker thread; reloading
alertreflex's own config hops back onto the event loop.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from alertreflex.config.schema import SyncSettings
from alertreflex.engine.engine import Engine
from alertreflex.sync.metrics import SyncMetrics
from alertreflex.sync.promtool import PromtoolError, find_promtool
from alertreflex.sync.source import GitSource, SourceError
from alertreflex.sync.syncer import Syncer, SyncResult
from alertreflex.sync.targets import LocalAlertreflexTarget, PrometheusTarget, Target
from alertreflex.web.errors import json_error

log = structlog.get_logger("alertreflex.sync")
STATUS = {"delivered": 200, "unchanged": 200, "invalid": 422, "failed": 503}
RELOAD_TIMEOUT = 60.0


class SyncService:
    def __init__(
        self,
        engine: Engine,
        reload: Callable[[], Awaitable[str | None]],
        status: Callable[[], dict[str, Any]],
    ) -> None:
        self.engine = engine
        self._reload = reload
        self._status = status
        self._metrics = SyncMetrics(engine.metrics.registry)
        self._syncer: Syncer | None = None
        self._settings: SyncSettings | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        # Its own thread: syncs queue there one at a time, and never take the default
        # pool's threads that their own reload (and the webhook's store) needs.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync")
        self._queued = False  # a hook's sync waits for the thread
        self._background: set[asyncio.Task[None]] = set()

    @property
    def settings(self) -> SyncSettings | None:
        return self.engine.config.settings.sync

    def _current(self) -> Syncer:
        """The syncer for the running settings, rebuilt when a reload changed them."""
        settings = self.settings
        assert settings is not None
        if self._syncer is None or settings != self._settings:
            self._syncer = self._build(settings)
            self._settings = settings
        return self._syncer

    def _build(self, s: SyncSettings) -> Syncer:
        source = GitSource(s.repo, s.ref, Path(os.path.expanduser(s.cache_dir)))
        reflexes = Path(s.reflexes_file)
        targets: list[Target] = []
        if s.prometheus_url:
            targets.append(PrometheusTarget(s.prometheus_url, Path(s.rules_dir)))
        targets.append(LocalAlertreflexTarget(self._reload_from_thread, self._status, reflexes))
        return Syncer(
            source,
            Path(s.rules_dir),
            reflexes,
            targets,
            label=self.engine.config.settings.ownership_label,
            promtool=find_promtool(s.promtool),
            run_tests=s.run_tests,
            metrics=self._metrics,
            operator_files=lambda: self._operator_files(reflexes),
        )

    def _operator_files(self, reflexes: Path) -> list[str]:
        """The running config's files other than the one sync writes."""
        mine = reflexes.resolve()
        return [f for f in self.engine.config.files if Path(f).resolve() != mine]

    def _reload_from_thread(self) -> str | None:
        assert self._loop is not None

        async def reload() -> str | None:
            return await self._reload()

        future = asyncio.run_coroutine_threadsafe(reload(), self._loop)
        try:
            problem: str | None = future.result(RELOAD_TIMEOUT)
        except TimeoutError:
            future.cancel()
            return f"the reload did not finish within {RELOAD_TIMEOUT:g}s"
        return problem

    async def run_once(
        self, *, force: bool = False, started: Callable[[], None] | None = None
    ) -> SyncResult:
        """One sync on the sync thread; ``started`` is called (on the loop) when it
        leaves the queue."""
        self._loop = asyncio.get_running_loop()
        try:
            syncer = self._current()
        except (SourceError, PromtoolError) as exc:
            self._metrics.record("failed", time.time(), "", "")
            log.error("sync_failed", message=f"settings.sync: {exc}")
            if started is not None:
                started()
            return SyncResult("failed", None, f"settings.sync: {exc}")
        loop = self._loop

        def run() -> SyncResult:
            if started is not None:
                loop.call_soon_threadsafe(started)
            return syncer.run_once(force=force)

        return await loop.run_in_executor(self._thread, run)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._thread.shutdown(wait=False, cancel_futures=True)

    async def _loop_forever(self) -> None:
        while True:
            settings = self.settings
            interval = settings.interval if settings is not None else 0.0
            if interval > 0:
                try:
                    await self.run_once()
                except Exception:  # a bug must not end the interval sync for good
                    log.exception("sync_crashed")
            # Re-read every few seconds: a reload may turn the interval on or change it.
            await asyncio.sleep(interval if interval > 0 else 5.0)

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/api/v1/sync", self._handle)]

    async def _handle(self, request: web.Request) -> web.Response:
        settings = self.settings
        if settings is None or not settings.token_file:
            return json_error(404, "sync is not configured: set settings.sync with a token_file")
        try:
            token = Path(settings.token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            return json_error(503, f"cannot read settings.sync.token_file: {exc}")
        given = request.headers.get("Authorization", "")
        if not token or not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return json_error(401, "POST /api/v1/sync needs Authorization: Bearer <token>")
        force = request.query.get("force", "") in ("1", "true")
        if request.query.get("wait", "") in ("1", "true"):
            result = await self.run_once(force=force)
            return web.json_response(result.to_json(), status=STATUS[result.result])
        # A git host waits a few seconds for its hook; a fetch and all the checks may
        # take longer. Answer at once; hooks that arrive while one waits its turn
        # join it (it fetches the newest commit anyway).
        if not self._queued:
            self._queued = True
            task = asyncio.create_task(self._in_background(force))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            message = "sync started: its result goes to the log and alertreflex_sync_* metrics"
        else:
            message = "a sync is already waiting to start: it will fetch this push too"
        return web.json_response({"status": "accepted", "message": message}, status=202)

    async def _in_background(self, force: bool) -> None:
        try:
            await self.run_once(force=force, started=self._clear_queued)
        except Exception:
            log.exception("sync_crashed")
            self._queued = False

    def _clear_queued(self) -> None:
        self._queued = False
