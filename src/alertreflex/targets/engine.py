"""The container engine's API: the Docker Engine API, as Docker and Podman serve it,
through aiodocker (on aiohttp, like the rest of the server).

Only what reflexes need: find a container by name, id or labels, inspect it, and run
an exec with its standard streams attached. Every call is bounded by
``settings.containers.api_timeout``, and engine failures become the
:mod:`alertreflex.targets` errors, each naming the engine's URL.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiodocker
import aiohttp
from aiodocker.containers import DockerContainer
from aiodocker.execs import Exec

from alertreflex.config.containers import DEFAULT_ENGINE_URL, ContainerAccess
from alertreflex.core.durations import format_duration
from alertreflex.targets.base import EngineUnreachable, NoSuchContainer, NotRunning, TargetError
from alertreflex.targets.params import CONTAINER_NAME


@dataclass(frozen=True)
class Endpoint:
    """Where the engine listens, resolved from settings.containers and $DOCKER_HOST."""

    url: str  # as configured or found in $DOCKER_HOST, for messages
    base: str  # what aiohttp requests: http(s)://host:port, or http://localhost on a socket
    socket: str | None
    ssl: ssl.SSLContext | None
    tls_digest: str

    @property
    def key(self) -> tuple[str, str | None, str]:
        return (self.base, self.socket, self.tls_digest)


def resolve_endpoint(access: ContainerAccess, environ: Mapping[str, str] = os.environ) -> Endpoint:
    """The engine's address; TargetError when it cannot be used as configured."""
    url = access.url or environ.get("DOCKER_HOST") or DEFAULT_ENGINE_URL
    source = "" if access.url else " (from $DOCKER_HOST)" if environ.get("DOCKER_HOST") else ""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("unix", "tcp", "http", "https") or not rest:
        raise TargetError(
            f"cannot use the engine URL {url!r}{source}: settings.containers.url takes "
            "unix:///path, tcp://host:port, http://host:port or https://host:port"
        )
    if access.tls_unread:
        raise TargetError("settings.containers.tls was not read: its files are needed to connect")
    tls = access.tls
    if scheme == "unix":
        if tls is not None:
            raise TargetError(f"settings.containers.tls needs a tcp:// or https:// URL, not {url}")
        return Endpoint(url, "http://localhost", "/" + rest.lstrip("/"), None, "")
    if tls is not None and scheme == "http":
        raise TargetError(f"settings.containers.tls needs a tcp:// or https:// URL, not {url}")
    secure = scheme == "https" or (scheme == "tcp" and tls is not None)
    base = ("https://" if secure else "http://") + rest.rstrip("/")
    context = tls.context if tls is not None else None
    return Endpoint(url, base, None, context, tls.digest if tls is not None else "")


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    name: str
    labels: Mapping[str, str]
    status: str  # running, exited, created, paused, ...

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def short_id(self) -> str:
        return self.id[:12]


class EngineClient:
    """One connection pool to one engine, shared by every action and run."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        # No bound on connections: an exec holds its (hijacked) connection for as long
        # as its program runs, and a bound would make programs wait for each other.
        connector: aiohttp.BaseConnector
        if endpoint.socket is not None:
            connector = aiohttp.UnixConnector(endpoint.socket, limit=0)
        else:
            connector = aiohttp.TCPConnector(
                limit=0, ssl=endpoint.ssl if endpoint.ssl is not None else True
            )
        self._connector = connector
        # Our own connector: aiodocker then reads neither $DOCKER_TLS_VERIFY nor Docker
        # contexts, so settings.containers alone decides where and how to connect.
        self.docker = aiodocker.Docker(url=endpoint.base, connector=connector)

    @asynccontextmanager
    async def call(self, timeout: float) -> AsyncIterator[None]:
        """Bound an API exchange and turn transport failures into EngineUnreachable."""
        url = self.endpoint.url
        try:
            async with asyncio.timeout(timeout):
                yield
        except TimeoutError:
            raise EngineUnreachable(
                f"the container engine at {url} did not answer within {format_duration(timeout)}"
            ) from None
        except aiodocker.DockerError as exc:
            if exc.status == 900:  # aiodocker's code for a failed connection
                raise EngineUnreachable(
                    f"cannot reach the container engine at {url}: {_reason(exc)}"
                ) from None
            raise
        except aiohttp.ClientError as exc:
            raise EngineUnreachable(f"cannot reach the container engine at {url}: {exc}") from None

    async def inspect(self, ref: str, timeout: float) -> ContainerInfo:
        # Refused before it becomes part of an API path.
        if not CONTAINER_NAME.fullmatch(ref):
            raise TargetError(f"{ref!r} is not a container name or id")
        try:
            async with self.call(timeout):
                data = await self.docker.containers.container(ref.lstrip("/")).show()
        except aiodocker.DockerError as exc:
            if exc.status == 404:
                raise NoSuchContainer(
                    f"no container named {ref!r} (nor with that id) at {self.endpoint.url}"
                ) from None
            raise TargetError(f"cannot inspect container {ref}: {exc.message}") from None
        state = data.get("State") or {}
        status = str(state.get("Status") or ("running" if state.get("Running") else "unknown"))
        return ContainerInfo(
            id=str(data["Id"]),
            name=str(data.get("Name") or ref).lstrip("/"),
            labels=(data.get("Config") or {}).get("Labels") or {},
            status=status,
        )

    async def running_with(self, labels: Mapping[str, str], timeout: float) -> list[ContainerInfo]:
        """The running containers carrying every one of ``labels``, exactly."""
        wanted = [f"{k}={v}" for k, v in labels.items()]
        try:
            async with self.call(timeout):
                found = await self.docker.containers.list(filters=json.dumps({"label": wanted}))
        except aiodocker.DockerError as exc:
            raise TargetError(f"cannot list containers: {exc.message}") from None
        out = []
        for c in found:
            have: dict[str, str] = _listed(c, "Labels") or {}
            # The engine filtered already; checked again so that no engine's looser
            # idea of a label filter can widen the selection.
            if all(have.get(k) == v for k, v in labels.items()):
                names = _listed(c, "Names") or [c.id]
                state = _listed(c, "State")  # a paused container is listed too
                status = state if isinstance(state, str) else "running"
                out.append(ContainerInfo(c.id, str(names[0]).lstrip("/"), have, status))
        return out

    async def create_exec(
        self,
        container: ContainerInfo,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: str | None,
        stdin: bool,
        timeout: float,
    ) -> Exec:
        try:
            async with self.call(timeout):
                return await self.docker.containers.container(container.id).exec(
                    cmd=list(argv),
                    stdin=stdin,
                    stdout=True,
                    stderr=True,
                    environment=dict(env),
                    workdir=cwd,
                )
        except aiodocker.DockerError as exc:
            if exc.status == 404:
                raise NoSuchContainer(f"container {container.name} is gone") from None
            if exc.status == 409:
                raise NotRunning(f"container {container.name}: {exc.message}") from None
            raise TargetError(
                f"the engine refused to run a command in container {container.name}: {exc.message}"
            ) from None

    async def close(self) -> None:
        await self.docker.close()
        await self._connector.close()


def _listed(container: DockerContainer, key: str) -> Any:
    try:
        return container[key]
    except KeyError:
        return None


def _reason(exc: aiodocker.DockerError) -> str:
    # aiodocker wraps the connection error in its message; the OS error says it best.
    cause = exc.__context__
    os_error = getattr(cause, "os_error", None)
    if isinstance(os_error, OSError) and os_error.strerror:
        return os_error.strerror
    return str(cause) if cause is not None else exc.message
