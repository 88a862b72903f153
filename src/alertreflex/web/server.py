"""Run the service: wire config, store, engine and HTTP app; handle signals."""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import os
import signal
import sys
import time
from typing import Any

import structlog
from aiohttp import web

from alertreflex.actions.base import Action, load_action_types, params_models
from alertreflex.config.loader import Config, ConfigError, load_config
from alertreflex.defaults import DEFAULT_LISTEN
from alertreflex.engine.engine import Engine
from alertreflex.engine.metrics import Metrics
from alertreflex.eventloop import run as run_loop
from alertreflex.eventloop import setup_child_watcher
from alertreflex.store.base import StoreError
from alertreflex.store.urls import (
    StorageURLError,
    default_replica_name,
    open_store,
    redact,
    replica_id,
    replica_name_problem,
)
from alertreflex.web.app import SYNC, create_app
from alertreflex.web.badrequests import server_logger
from alertreflex.web.connections import (
    ConnectionGuard,
    ConnectionMetrics,
    GuardedSite,
    track_requests,
)
from alertreflex.web.filelimit import FileBudget

log = structlog.get_logger("alertreflex.server")

# Connections the kernel holds until they are accepted.
LISTEN_BACKLOG = 1024
# aiohttp's own keep-alive timeout, only a backstop: the guard applies
# settings.web.idle_timeout, which a reload can change.
KEEPALIVE_BACKSTOP = 3600.0


class ListenError(RuntimeError):
    """The address cannot be taken now (in use, say): a failure, not a usage error."""


class UsageError(ValueError):
    pass


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise UsageError(f"--listen {listen}: expected HOST:PORT, e.g. {DEFAULT_LISTEN}")
    return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104 - ":PORT" means all


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: only this machine can connect."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.partition("%")[0]).is_loopback
    except ValueError:
        return False


def exposure_problem(cfg: Config, host: str) -> str | None:
    """Why ``cfg`` may not be served on ``host``: no settings.auth beyond loopback."""
    if cfg.settings.auth is not None or is_loopback(host):
        return None
    return (
        f"refusing to listen on {host} without settings.auth: the UI and the API "
        "(pause, approve, re-run) would be open to anyone who can reach it on the "
        "network. Configure settings.auth (see docs/auth.md) or listen on 127.0.0.1. "
        # In a container, loopback is not a way out: a published port reaches only
        # the container's own interfaces, so say what to do there.
        "In a container, configure settings.auth: the image listens on all interfaces "
        "of the container's network namespace (ALERTREFLEX_LISTEN=0.0.0.0:8976), as a "
        "published port needs, and 127.0.0.1 there is reachable only from inside the "
        "container (see docs/operations/containers.md)."
    )


def tune_gc() -> None:
    """Once started: keep the long-lived objects (modules, config) out of collections
    and collect the young generation less often. Measured here: +25% webhooks/s, as
    each request allocates a few hundred short-lived objects."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


class Service:
    def __init__(
        self, config_path: str, storage: str, listen: str, replica: str | None = None
    ) -> None:
        self.config_path = config_path
        self.storage = storage
        self.host, self.port = parse_listen(listen)
        # Named once for the process's life: the label of alertreflex_replica_info.
        self.replica = default_replica_name() if replica is None else replica
        if (problem := replica_name_problem(self.replica)) is not None:
            raise UsageError(f"--replica {self.replica!r}: {problem}")
        self.metrics = Metrics()
        self.action_types = load_action_types()
        self.stopping = asyncio.Event()
        self._ready = False
        self.bound_port: int | None = None
        self.guard: ConnectionGuard | None = None  # once serving
        self._tasks: set[asyncio.Future[str | None]] = set()

    def load(self) -> Config:
        cfg = load_config(self.config_path, params_models(self.action_types))
        for warning in cfg.warnings:  # what `alertreflex check` warns about
            log.warning("config_warning", warning=str(warning))
        return cfg

    async def reload(self, *, announce: bool = True) -> str | None:
        """Reload the config; on failure keep the running one and return why.
        ``announce``: on a shared store, the other replicas reload too."""
        try:
            cfg = await asyncio.to_thread(self.load)
        except ConfigError as exc:
            self.metrics.reload_ok.set(0)
            log.error("config_reload_failed", problems=[str(p) for p in exc.problems])
            return str(exc)
        if (problem := exposure_problem(cfg, self.host)) is not None:
            self.metrics.reload_ok.set(0)
            log.error("config_reload_failed", problems=[problem])
            return problem
        self.engine.apply_config(cfg)
        if self.guard is not None:
            self.guard.check_budget()
        self.metrics.reload_ok.set(1)
        self.metrics.reload_ts.set(time.time())
        log.info("config_reloaded", reflexes=len(cfg.reflexes), files=len(cfg.files))
        if announce:
            try:
                await self.engine.announce_reload()
            except StoreError as exc:
                log.warning("reload_not_announced", error=str(exc))
        return None

    def _reload_in_background(self) -> None:
        task = asyncio.ensure_future(self.reload())
        self._tasks.add(task)  # keep a reference until done, or it may be collected
        task.add_done_callback(self._tasks.discard)

    async def run(self) -> None:
        cfg = self.load()
        if (problem := exposure_problem(cfg, self.host)) is not None:
            raise UsageError(problem)
        self.metrics.reload_ok.set(1)
        self.metrics.reload_ts.set(time.time())
        setup_child_watcher()
        # Runs are owned per process, not per name: see replica_id.
        owner = replica_id(self.replica)
        store = open_store(self.storage, replica=owner, lease=cfg.settings.replica_lease)
        self.metrics.replica.info({"replica": self.replica, "store": store.kind})
        await store.open()
        actions: dict[str, Action[Any]] = {name: cls() for name, cls in self.action_types.items()}
        self.engine = Engine(cfg, store, actions, self.metrics)
        self.engine.on_peer_reload = lambda: self.reload(announce=False)
        await self.engine.start()
        app = create_app(self.engine, self.reload, lambda: self._ready)
        self.sync = app[SYNC]
        conn_metrics = ConnectionMetrics(self.metrics.registry)
        self.guard = guard = ConnectionGuard(
            lambda: self.engine.config.settings.web, conn_metrics, FileBudget.measure()
        )
        app.middlewares.insert(0, track_requests)  # outermost: the whole request is BUSY
        runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,
            shutdown_timeout=5.0,
            keepalive_timeout=KEEPALIVE_BACKSTOP,
            logger=server_logger(conn_metrics.bad_requests),
        )
        await runner.setup()
        site = GuardedSite(runner, guard, self.host, self.port, backlog=LISTEN_BACKLOG)
        try:
            await site.start()
        except OSError as exc:
            await self.engine.shutdown(0)
            await store.close()
            raise ListenError(f"cannot listen on {self.host}:{self.port}: {exc.strerror}") from None
        for addr in runner.addresses:  # the bound port, when 0 was asked for
            self.bound_port = int(addr[1])
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stopping.set)
        loop.add_signal_handler(signal.SIGINT, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self._reload_in_background)
        tune_gc()
        guard.start()
        self.sync.start()
        self._ready = True
        log.info(
            "listening",
            address=f"http://{self.host}:{self.bound_port or self.port}",
            reflexes=len(cfg.reflexes),
            storage=redact(self.storage),
            replica=self.replica,
            pid=os.getpid(),
        )
        if cfg.settings.auth is None:
            log.warning(
                "unauthenticated",
                message="settings.auth is not set: the UI and the API are open to anyone "
                "on this machine, so alertreflex listens on loopback only (docs/auth.md)",
            )
        await self.stopping.wait()
        log.info("shutting_down", grace=cfg.settings.shutdown_grace)
        self._ready = False
        await self.sync.stop()
        await site.stop()  # stop accepting; in-flight webhooks finish
        await self.engine.shutdown(self.engine.config.settings.shutdown_grace)
        await runner.cleanup()
        await guard.stop()
        await store.close()
        log.info("stopped")


def serve(config_path: str, storage: str, listen: str, replica: str | None = None) -> int:
    try:
        service = Service(config_path, storage, listen, replica)
        run_loop(service.run())
    except ConfigError as exc:
        print(f"alertreflex: invalid config, not starting:\n{exc}", file=sys.stderr)
        return 1
    except (StoreError, ListenError) as exc:  # may work later: the command line is fine
        print(f"alertreflex: {exc}", file=sys.stderr)
        return 1
    except (UsageError, StorageURLError) as exc:
        print(f"alertreflex: {exc}", file=sys.stderr)
        return 2
    return 0
