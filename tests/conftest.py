"""Shared fixtures: a real alertreflex server process on a free loopback port."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from alertreflex.store.migrations import migrate_store
from tests.pg import fresh_schema
from tests.podman import Podman, find_podman

BIN = Path(sys.executable).parent / "alertreflex"


def run_cli(
    *args: str, input: str | None = None, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The ``alertreflex`` command as users run it, its output captured as text."""
    return subprocess.run(
        [str(BIN), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
        env=env,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServerProcess:
    """``alertreflex serve`` as a subprocess, as users run it."""

    def __init__(
        self,
        config: Path,
        db: Path,
        log: Path,
        env: dict[str, str] | None = None,
        storage: str | None = None,
    ):
        self.config = config
        self.db = db
        self.storage = storage or f"sqlite:///{db}"
        self.log_path = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> ServerProcess:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                str(BIN),
                "serve",
                "--config",
                str(self.config),
                "--storage",
                self.storage,
                "--listen",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "debug",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def post(self, payload: Any, **kw: Any) -> httpx.Response:
        return httpx.post(f"{self.url}/webhook", json=payload, timeout=10, **kw)

    def runs(self, **params: Any) -> list[dict[str, Any]]:
        params.setdefault("limit", 1000)
        resp = httpx.get(f"{self.url}/api/v1/runs", params=params, timeout=10)
        resp.raise_for_status()
        runs: list[dict[str, Any]] = resp.json()["runs"]
        return runs

    def run(self, run_id: str) -> dict[str, Any]:
        resp = httpx.get(f"{self.url}/api/v1/runs/{run_id}", timeout=10)
        resp.raise_for_status()
        data: dict[str, Any] = resp.json()
        return data

    def wait_runs(
        self,
        count: int,
        *,
        states: tuple[str, ...] = ("succeeded",),
        timeout: float = 20.0,
        **params: Any,
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        runs: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            runs = [r for r in self.runs(**params) if r["state"] in states]
            if len(runs) >= count:
                return runs
            time.sleep(0.05)
        raise AssertionError(f"expected {count} runs in {states}, got {self.runs(**params)}")

    def metric(self, name: str) -> float:
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        total = 0.0
        found = False
        for line in text.splitlines():
            if line.startswith(name) and (line[len(name)] in " {"):
                total += float(line.rsplit(" ", 1)[1])
                found = True
        if not found:
            raise KeyError(name)
        return total

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self._log.close()
        return code


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Any]:
    """Start servers from config text; every one started is stopped at the end."""
    started: list[ServerProcess] = []

    def make(
        config_text: str,
        *,
        db: Path | None = None,
        start: bool = True,
        env: dict[str, str] | None = None,
        storage: str | None = None,
    ) -> ServerProcess:
        cfg = tmp_path / f"alertreflex-{len(started)}.yml"
        cfg.write_text(config_text)
        srv = ServerProcess(
            cfg,
            db or tmp_path / "alertreflex.db",
            tmp_path / f"server-{len(started)}.log",
            env,
            storage,
        )
        started.append(srv)
        return srv.start() if start else srv

    yield make
    for srv in started:
        if srv.proc is not None and srv.proc.poll() is None:
            srv.proc.kill()
            srv.proc.wait()


@pytest.fixture
def shared_storage() -> Iterator[str]:
    """A migrated, empty schema of the test PostgreSQL, as a --storage URL."""
    schema = fresh_schema()
    loop = asyncio.new_event_loop()
    try:
        dsn = loop.run_until_complete(schema.__aenter__())
        loop.run_until_complete(migrate_store(dsn))
        yield dsn
    finally:
        loop.run_until_complete(schema.__aexit__(None, None, None))
        loop.close()


# --- a real container engine (podman), shared by every test of a session -----------

CONTAINER_IMAGES = Path(__file__).resolve().parent / "containers" / "images"


@pytest.fixture(scope="session")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Podman]:
    """podman with this suite's containers.conf, serving the Docker Engine API."""
    engine = find_podman(tmp_path_factory.mktemp("podman"))
    engine.start_service()
    yield engine
    engine.stop_service()


@pytest.fixture(scope="session")
def engine_url(podman: Podman) -> str:
    """The Docker Engine API of the session's podman, as settings.containers.url."""
    return f"unix://{podman.socket}"


@pytest.fixture(scope="session")
def base_image(podman: Podman) -> str:
    """The Debian base image, debootstrapped from the machine's mirror (once)."""
    return podman.base_image()


@pytest.fixture(scope="session")
def jvm_image(podman: Podman, base_image: str) -> str:
    """A JDK image whose pid 1 is a JVM with a thread named orange-bucket-filler."""
    return podman.build(
        "localhost/alertreflex-test/jvm",
        CONTAINER_IMAGES / "jvm",
        build_args={"BASE": base_image},
    )


# --- the alertreflex image (Containerfile), on a stand-in for python:3.11-slim -----

REPO = Path(__file__).resolve().parents[1]
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def image_sources() -> list[Path]:
    """The repository's files that .containerignore lets into a build of the
    Containerfile (relative paths): what the alertreflex image is made of."""
    files = [Path(".containerignore"), Path("pyproject.toml"), Path("README.md"), Path("LICENSE")]
    for path in sorted((REPO / "src").rglob("*")):
        rel = path.relative_to(REPO)
        ignored = any(part == "__pycache__" or part.endswith(".egg-info") for part in rel.parts)
        if path.is_file() and not ignored and path.suffix != ".pyc":
            files.append(rel)
    return files


@pytest.fixture(scope="session")
def python_image(podman: Podman, base_image: str) -> str:
    """Debian bookworm's Python 3.11 on the local base: the stand-in for the official
    python:3.11-slim-bookworm image, which cannot be pulled here."""
    return podman.build(
        "localhost/alertreflex-test/python",
        CONTAINER_IMAGES / "python",
        build_args={"BASE": base_image},
    )


@pytest.fixture(scope="session")
def alertreflex_image(podman: Podman, python_image: str) -> str:
    """The repository's Containerfile built on ``python_image``. pip in the build
    reaches PyPI through this machine's TLS-intercepting proxy only with the host's
    CA bundle, handed over as the optional ``ca`` build secret."""
    secrets = {"ca": HOST_CA_BUNDLE} if HOST_CA_BUNDLE.is_file() else {}
    repository = "localhost/alertreflex-test/alertreflex"
    image = podman.build(
        repository,
        REPO,
        REPO / "Containerfile",
        build_args={"BASE": python_image},
        secrets=secrets,
        inputs=image_sources(),
        # The OCI image format has no HEALTHCHECK: podman keeps it only in this one.
        options=["--format", "docker"],
    )
    # Each change of the sources makes a new image: drop the older ones (not forced,
    # so that an image a container still uses stays).
    listed = podman.run("images", "--format", "{{.Repository}}:{{.Tag}}", repository)
    for old in set(listed.stdout.split()) - {image}:
        podman.run("rmi", old, check=False)
    return image


# --- running in two processes (pytest-xdist, `make test`) ---------------------------

# Tests that stop shared machinery (the machine's PostgreSQL) run after the others,
# alone: `make test` runs them in a second pytest without -n.
ALONE = ("tests/replicas/test_outage.py",)
# Tests sharing something of the machine run in one process, one after the other:
# those of podman's engine (one service and one set of images, not one per process),
# and those that start JVMs on the host, which find them by main class in `jcmd -l`
# (every JVM of the machine: two at once would each see the other's DemoService).
GROUPS = {
    "podman": ("tests/containers/", "tests/deploy/test_image.py"),
    "host-jvms": (
        "tests/demo/",
        "tests/e2e/",
        "tests/engine/test_jvm_actions.py",
        "tests/ui/test_browser.py",
        "tests/deploy/test_packaging.py",
    ),
}


def group_of(nodeid: str) -> str:
    """The group a test runs in: one of GROUPS, else its file (whose tests share
    its module fixtures: servers, runs of the CLI)."""
    path = nodeid.split("::", 1)[0]
    for name, prefixes in GROUPS.items():
        if path.startswith(prefixes):
            return name
    return path


def pytest_itemcollected(item: pytest.Item) -> None:
    if item.nodeid.split("::", 1)[0] in ALONE:
        item.add_marker(pytest.mark.alone)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    # xdist's own loadgroup marks groups by editing nodeids, which pytest 9 ignores:
    # its scope scheduler, with the scope of each test given here, does the same.
    from xdist.scheduler import LoadScopeScheduling

    class Grouped(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return Grouped(config, log)
