"""The alertreflex container image, built from the repository's Containerfile and run
for real with podman (docs/operations/containers.md).

The image is built on a stand-in for the official python:3.11-slim-bookworm image
(``python_image``: Debian bookworm's Python 3.11 on the local Debian base), since no
registry is reachable here. The last test is the whole chain: a real Alertmanager on
the host sends its webhook to alertreflex in a container, which takes a thread dump
of a JVM in a sibling container through the engine's socket.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from alertreflex.actions.base import load_action_types, params_models
from alertreflex.cli.serve import ENV
from alertreflex.config.loader import load_config
from alertreflex.config.schema import Settings
from alertreflex.core.models import RunState
from alertreflex.demo.stack import Stack
from tests.conftest import REPO, free_port, image_sources
from tests.logs import events
from tests.payloads import fixture
from tests.podman import Podman

UID = 10001  # the image's user and group (Containerfile)
STATE = "/var/lib/alertreflex"
# The group that may use the engine's socket, as Docker's "docker" group; any gid the
# image does not use.
SOCKET_GID = 10998
EXAMPLE = REPO / "examples" / "containers"


# Python's online backup, as docs/operations/containers.md shows it.
BACKUP = "import sqlite3; sqlite3.connect('alertreflex.db').backup(sqlite3.connect('backup.db'))"


# --- helpers ---------------------------------------------------------------------


def config_dir(tmp_path: Path, config: str, token: str | None = None) -> Path:
    """A directory to mount at /etc/alertreflex, laid out as examples/containers/
    alertreflex: the config, and the tokens it names, readable by the image's group
    and root only (as compose.yml makes them)."""
    path = tmp_path / f"etc-{uuid.uuid4().hex[:6]}"
    (path / "tokens").mkdir(parents=True)
    (path / "alertreflex.yml").write_text(config)
    if token is not None:
        (path / "tokens" / "ops.token").write_text(token + "\n")
        (path / "tokens" / "webhook.token").write_text(f"webhook-{token}\n")
    for f in [path, *path.rglob("*")]:
        os.chown(f, 0, UID)
        f.chmod(0o750 if f.is_dir() else 0o640)
    return path


def webhook_token(etc: Path) -> str:
    return (etc / "tokens" / "webhook.token").read_text().strip()


def auth_config(reflexes: str = "reflexes: []\n") -> str:
    """settings as in examples/containers/alertreflex/alertreflex.yml, and ``reflexes``."""
    example = yaml.safe_load((EXAMPLE / "alertreflex" / "alertreflex.yml").read_text())
    return yaml.safe_dump({"settings": example["settings"]}) + reflexes


NOTE_REFLEX = """\
reflexes:
  - name: note
    team: warehouse
    match: ['alertname="BucketTooFull_ORANGE"']
    on_firing:
      - exec: {command: ["echo", "noted {{ alert.labels.alertname }}"]}
"""


@dataclass
class Running:
    """alertreflex in a container, published on a loopback port of the host."""

    podman: Podman
    name: str
    url: str
    token: str

    def api(self, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.get(f"{self.url}{path}", headers=headers, timeout=10, **kw)

    def logs(self) -> str:
        done = self.podman.run("logs", self.name, check=False)
        return done.stdout + done.stderr

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            state = self.podman.run("inspect", "--format", "{{.State.Status}}", self.name)
            if state.stdout.strip() != "running":
                raise AssertionError(f"{self.name} is {state.stdout.strip()}:\n{self.logs()}")
            time.sleep(0.1)
        raise AssertionError(f"{self.name} not ready after {timeout}s:\n{self.logs()}")

    def wait_run(self, reflex: str, timeout: float = 60) -> dict[str, Any]:
        """The reflex's first run, once it is over."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = self.api("/api/v1/runs", params={"reflex": reflex}).json()["runs"]
            done = [r for r in runs if RunState(r["state"]).finished]
            if done:
                found: dict[str, Any] = self.api(f"/api/v1/runs/{done[0]['id']}").json()
                return found
            time.sleep(0.05)
        raise AssertionError(f"no finished run of {reflex} after {timeout}s:\n{self.logs()}")


@pytest.fixture
def containers(podman: Podman) -> Iterator[list[str]]:
    """Names to remove at the end, whatever happened: each one a container, and the
    volume of the same name that it may have made."""
    names: list[str] = []
    yield names
    for name in names:
        podman.run("rm", "--force", "--ignore", "--time", "0", name, check=False)
        podman.run("volume", "rm", "--force", name, check=False)


def start(
    podman: Podman,
    image: str,
    cleanup: list[str],
    etc: Path,
    *options: str,
    token: str = "",
    volume: str | None = None,
    container_port: int = 8976,
) -> Running:
    """``podman run`` the image as the docs show, the config mounted read-only and
    the state in a named volume; returns once it has started (not waited for)."""
    name = f"alertreflex-test-{uuid.uuid4().hex[:10]}"
    volume = volume or name  # a given volume is an earlier container's, cleaned up with it
    cleanup.append(name)
    port = free_port()
    podman.run(
        "run",
        "--detach",
        "--name",
        name,
        "--publish",
        f"127.0.0.1:{port}:{container_port}",
        "--volume",
        f"{volume}:{STATE}",
        "--volume",
        f"{etc}:/etc/alertreflex:ro",
        *options,
        image,
    )
    return Running(podman, name, f"http://127.0.0.1:{port}", token)


def health(podman: Podman, name: str) -> tuple[int, str]:
    """Run the image's HEALTHCHECK now (podman schedules it with systemd timers,
    which a test machine may not have); its exit code and the status it recorded."""
    code = podman.run("healthcheck", "run", name, check=False).returncode
    status = podman.run("inspect", "--format", "{{.State.Health.Status}}", name).stdout
    return code, status.strip()


# --- the image -------------------------------------------------------------------


def test_containerignore_and_dockerignore_are_the_same() -> None:
    """Podman reads .containerignore, Docker .dockerignore: both keep the same files
    out of the build context."""
    assert (REPO / ".dockerignore").read_text() == (REPO / ".containerignore").read_text()


def test_the_build_context_is_what_the_image_is_made_of(
    podman: Podman, base_image: str, tmp_path: Path
) -> None:
    """A build of the repository sees only pyproject.toml, README.md, LICENSE and the
    package's sources (no .git, .venv, tests, caches): exactly the files whose digest
    names the test image, so that it is rebuilt when, and only when, they change."""
    probe = tmp_path / "Containerfile"
    probe.write_text(f"FROM {base_image}\nCOPY . /context/\n")
    tag = f"localhost/alertreflex-test/context-probe:{uuid.uuid4().hex[:8]}"
    podman.run("build", "--quiet", "--tag", tag, "--file", str(probe), str(REPO), timeout=300)
    try:
        listed = podman.run("run", "--rm", tag, "find", "/context", "-type", "f").stdout
    finally:
        podman.run("rmi", "--force", tag, check=False)
    seen = {str(Path(line).relative_to("/context")) for line in listed.split()}
    made_of = {str(p) for p in image_sources()} - {".containerignore"}
    assert seen == made_of


def test_the_image_is_configured_as_documented(
    podman: Podman, alertreflex_image: str, python_image: str
) -> None:
    """Non-root user 10001, `alertreflex serve` as entry point, the variables, one
    volume, port 8976, a HEALTHCHECK on /-/healthy, SIGTERM; prints the image's size."""
    inspected = json.loads(podman.run("image", "inspect", alertreflex_image).stdout)[0]
    config = inspected["Config"]
    assert config["User"] == f"{UID}:{UID}"
    assert config["Entrypoint"] == ["alertreflex", "serve"]
    assert not config.get("Cmd")
    env = dict(e.split("=", 1) for e in config["Env"])
    assert env["ALERTREFLEX_CONFIG"] == "/etc/alertreflex"
    assert env["ALERTREFLEX_STORAGE"] == f"sqlite:///{STATE}/alertreflex.db"
    assert env["ALERTREFLEX_LISTEN"] == "0.0.0.0:8976"
    assert env["PATH"].startswith("/opt/alertreflex/bin:")
    assert list(config["Volumes"]) == [STATE]
    assert config["WorkingDir"] == STATE
    assert list(config["ExposedPorts"]) == ["8976/tcp"]
    assert config["StopSignal"] == "SIGTERM"
    check = inspected.get("Healthcheck") or config.get("Healthcheck")  # podman, docker
    assert check is not None, "no HEALTHCHECK: build with --format docker"
    assert check["Test"][:2] == ["CMD", "python3"] and "/-/healthy" in check["Test"][-1]
    assert config["Labels"]["org.opencontainers.image.title"] == "alertreflex"
    size, base = (
        int(podman.run("image", "inspect", "--format", "{{.Size}}", image).stdout)
        for image in (alertreflex_image, python_image)
    )
    print(f"\n{alertreflex_image}: {size / 1e6:.0f} MB, {(size - base) / 1e6:.0f} MB on its base")


def test_the_image_holds_the_runtime_dependencies_only(
    podman: Podman, alertreflex_image: str
) -> None:
    """alertreflex with every action type and every dependency it declares, and nothing
    of the test extra, no pip or setuptools, no compiler."""
    probe = """
import importlib.metadata as md, json, re, shutil
from alertreflex.actions.base import load_action_types
def missing(requirement):
    name = re.match(r"[A-Za-z0-9._-]+", requirement).group()
    try:
        md.distribution(name)
    except md.PackageNotFoundError:
        return True
print(json.dumps({
    "installed": sorted(d.metadata["Name"].lower() for d in md.distributions()),
    "missing": [r for r in md.requires("alertreflex") if "extra ==" not in r and missing(r)],
    "actions": sorted(load_action_types()),
    "compilers": [c for c in ("cc", "gcc", "clang") if shutil.which(c)],
}))
"""
    done = podman.run(
        "run", "--rm", "--entrypoint", "python3", alertreflex_image, "-c", probe, timeout=120
    )
    found = json.loads(done.stdout)
    assert found["missing"] == []
    installed = set(found["installed"])
    assert "alertreflex" in installed
    for not_runtime in ("pytest", "mypy", "ruff", "hypothesis", "playwright", "mkdocs"):
        assert not_runtime not in installed, f"{not_runtime} is in the image"
    assert not {"pip", "setuptools"} & installed
    assert {"exec", "http", "jvm_thread_dump", "log_level"} <= set(found["actions"])
    assert found["compilers"] == []


def test_the_build_does_not_need_the_ca_secret(podman: Podman, python_image: str) -> None:
    """The ``ca`` build secret is optional: without it the engine runs the build and
    pip goes to PyPI with the base image's own CAs. Where a proxy intercepts TLS (as on
    these machines) that is where it stops, on the certificate, which is what the
    secret is for."""
    tag = f"localhost/alertreflex-test/no-secret:{uuid.uuid4().hex[:8]}"
    done = podman.run(
        "build",
        "--target",
        "build",
        "--tag",
        tag,
        "--build-arg",
        f"BASE={python_image}",
        "--file",
        str(REPO / "Containerfile"),
        str(REPO),
        check=False,
        timeout=900,
    )
    podman.run("rmi", "--force", tag, check=False)
    if done.returncode != 0:
        failed_at = done.stderr.rsplit("Error: building at STEP", 1)[-1]
        assert "pip install --requirement" in failed_at, done.stderr  # as far as pip
        assert "CERTIFICATE_VERIFY_FAILED" in done.stdout + done.stderr


# --- running it ------------------------------------------------------------------


def test_without_auth_it_refuses_to_start_and_says_what_to_do(
    podman: Podman, alertreflex_image: str, tmp_path: Path, containers: list[str]
) -> None:
    """The image listens on 0.0.0.0: without settings.auth serve exits 2 and says, for
    a container, to configure settings.auth; nothing is written to the volume."""
    etc = config_dir(tmp_path, NOTE_REFLEX)
    running = start(podman, alertreflex_image, containers, etc)
    code = podman.run("wait", running.name, timeout=60).stdout.strip()
    assert code == "2"
    logs = running.logs()
    assert "refusing to listen on 0.0.0.0 without settings.auth" in logs
    assert "In a container, configure settings.auth" in logs
    files = podman.run(
        "run",
        "--rm",
        "--entrypoint",
        "ls",
        "--volume",
        f"{running.name}:{STATE}",
        alertreflex_image,
        "-A",
        STATE,
    ).stdout.split()
    assert files == []


def test_it_runs_as_its_user_healthy_and_keeps_its_state_in_the_volume(
    podman: Podman, alertreflex_image: str, tmp_path: Path, containers: list[str]
) -> None:
    """With settings.auth: serves on the published port as uid 10001, healthy; the
    open routes answer without a user, the API only with one; a webhook's run is in the
    store, which a new container on the same volume still has; SIGHUP reloads the
    mounted config and SIGTERM stops it cleanly."""
    token = secrets.token_hex(16)
    etc = config_dir(tmp_path, auth_config(NOTE_REFLEX), token)
    first = start(podman, alertreflex_image, containers, etc, "--init", token=token)
    first.wait_ready()

    assert podman.run("exec", first.name, "id", "-u").stdout.strip() == str(UID)
    assert health(podman, first.name) == (0, "healthy")
    assert httpx.get(f"{first.url}/-/healthy", timeout=10).status_code == 200
    assert "alertreflex_" in httpx.get(f"{first.url}/metrics", timeout=10).text
    assert httpx.get(f"{first.url}/api/v1/runs", timeout=10).status_code == 401
    sent = httpx.post(
        f"{first.url}/webhook",
        json=fixture("firing.json"),
        headers={"Authorization": f"Bearer {webhook_token(etc)}"},
        timeout=10,
    )
    assert sent.status_code == 200, sent.text
    run = first.wait_run("note")
    assert run["state"] == "succeeded", run

    # The online backup of docs/operations/containers.md (no sqlite3 command there).
    podman.run("exec", first.name, "python3", "-c", BACKUP)
    podman.run("cp", f"{first.name}:{STATE}/backup.db", str(tmp_path / "backup.db"))
    with sqlite3.connect(tmp_path / "backup.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT state FROM runs WHERE id = ?", (run["id"],)).fetchone() == (
            "succeeded",
        )

    (etc / "alertreflex.yml").write_text(auth_config(NOTE_REFLEX.replace("note", "noted")))
    podman.run("kill", "--signal", "HUP", first.name)
    deadline = time.monotonic() + 30
    while "noted" not in first.api("/api/v1/reflexes").text:
        assert time.monotonic() < deadline, first.logs()
        time.sleep(0.1)

    podman.run("stop", "--time", "40", first.name, timeout=60)
    status = podman.run("inspect", "--format", "{{.State.ExitCode}}", first.name).stdout
    assert status.strip() == "0", first.logs()
    assert events(first.logs(), "stopped")

    second = start(podman, alertreflex_image, containers, etc, token=token, volume=first.name)
    second.wait_ready()
    again = second.api(f"/api/v1/runs/{run['id']}")
    assert again.status_code == 200 and again.json()["state"] == "succeeded"


def test_on_the_hosts_network_loopback_needs_no_auth(
    podman: Podman, alertreflex_image: str, containers: list[str]
) -> None:
    """The workstation recipe of the docs: with --network host, 127.0.0.1 is the host's
    loopback, so examples/alertreflex.yml (no settings.auth) serves there; an option
    after the image's name (--log-format json) wins over the image's defaults."""
    name = f"alertreflex-test-{uuid.uuid4().hex[:10]}"
    containers.append(name)
    port = free_port()
    podman.run(
        "run",
        "--detach",
        "--name",
        name,
        "--network",
        "host",
        "--env",
        f"ALERTREFLEX_LISTEN=127.0.0.1:{port}",
        "--volume",
        f"{REPO / 'examples' / 'alertreflex.yml'}:/etc/alertreflex/alertreflex.yml:ro",
        "--volume",
        f"{name}:{STATE}",
        alertreflex_image,
        "--log-format",
        "json",
    )
    running = Running(podman, name, f"http://127.0.0.1:{port}", token="")
    running.wait_ready()
    assert "note-orange-bucket" in httpx.get(f"{running.url}/api/v1/reflexes", timeout=10).text
    events = [
        json.loads(line)["msg"] for line in running.logs().splitlines() if line.startswith("{")
    ]
    assert "unauthenticated" in events and "listening" in events


def test_the_variables_of_the_image_can_be_changed(
    podman: Podman, alertreflex_image: str, tmp_path: Path, containers: list[str]
) -> None:
    """-e ALERTREFLEX_LISTEN moves the port, and the HEALTHCHECK follows it;
    -e ALERTREFLEX_LOG_FORMAT=json turns the log to JSON lines."""
    token = secrets.token_hex(16)
    etc = config_dir(tmp_path, auth_config(), token)
    running = start(
        podman,
        alertreflex_image,
        containers,
        etc,
        "--env",
        "ALERTREFLEX_LISTEN=0.0.0.0:9000",
        "--env",
        "ALERTREFLEX_LOG_FORMAT=json",
        token=token,
        container_port=9000,
    )
    running.wait_ready()
    assert health(podman, running.name) == (0, "healthy")
    listening = [
        json.loads(line)
        for line in podman.run("logs", running.name).stderr.splitlines()
        if line.startswith("{") and '"listening"' in line
    ]
    assert listening and listening[0]["address"] == "http://0.0.0.0:9000"


# --- the compose example ---------------------------------------------------------


def test_the_compose_example_is_complete() -> None:
    """examples/containers/compose.yml parses; it builds this Containerfile, sets only
    variables that serve reads, mounts the config directory that exists beside it, the
    state in a named volume and the engine socket with its group, and waits longer than
    settings.shutdown_grace before killing."""
    compose = yaml.safe_load((EXAMPLE / "compose.yml").read_text())
    service = compose["services"]["alertreflex"]
    build = service["build"]
    assert (EXAMPLE / build["context"] / build["dockerfile"]).resolve() == REPO / "Containerfile"
    assert set(service["environment"]) <= set(ENV.values())
    mounts = {m.split(":")[1]: m.split(":")[0] for m in service["volumes"]}
    assert mounts[STATE] in compose["volumes"]
    assert (EXAMPLE / mounts["/etc/alertreflex"] / "alertreflex.yml").is_file()
    assert mounts["/var/run/docker.sock"] == "/var/run/docker.sock"
    assert service["group_add"]
    assert float(service["stop_grace_period"].removesuffix("s")) > Settings().shutdown_grace


def test_the_docs_quote_what_is_tested() -> None:
    """docs/operations/containers.md quotes examples/containers/compose.yml whole, and
    the backup command that the volume test runs."""
    page = (REPO / "docs" / "operations" / "containers.md").read_text()
    assert "```yaml\n" + (EXAMPLE / "compose.yml").read_text() + "```" in page
    assert f'"{BACKUP}"' in page


def test_the_example_config_loads(tmp_path: Path) -> None:
    """examples/containers/alertreflex/alertreflex.yml is a valid config once the
    tokens it names exist (here under tmp_path instead of /etc/alertreflex)."""
    text = (EXAMPLE / "alertreflex" / "alertreflex.yml").read_text()
    etc = config_dir(tmp_path, text.replace("/etc/alertreflex/", f"{tmp_path}/etc/"), "t" * 32)
    etc.rename(tmp_path / "etc")
    cfg = load_config(tmp_path / "etc" / "alertreflex.yml", params_models(load_action_types()))
    assert cfg.settings.auth is not None and cfg.settings.webhook_auth is not None
    assert list(cfg.reflexes) == ["dump-stalled-jvm"]


# --- the whole chain -------------------------------------------------------------


@pytest.fixture
def engine_socket(podman: Podman, tmp_path: Path) -> Iterator[Path]:
    """A Docker Engine API socket of this machine's podman, set up as Docker's own:
    owned by root and a group (SOCKET_GID, as "docker"), mode 0660."""
    (tmp_path / "engine").mkdir()
    engine = Podman(tmp_path / "engine")
    engine.start_service()
    os.chown(engine.socket, 0, SOCKET_GID)
    engine.socket.chmod(0o660)
    yield engine.socket
    engine.stop_service()


PING = """
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect("/var/run/docker.sock")
except PermissionError:
    sys.exit(13)
s.sendall(b"GET /_ping HTTP/1.0\\r\\n\\r\\n")
print(s.recv(100).decode().split()[1])
"""


def test_the_engine_socket_takes_its_group(
    podman: Podman, alertreflex_image: str, engine_socket: Path
) -> None:
    """The image's user reaches the mounted socket with --group-add of the socket's
    group, as docs/operations/containers.md says, and not without it."""
    mount = ["--volume", f"{engine_socket}:/var/run/docker.sock", "--entrypoint", "python3"]
    denied = podman.run("run", "--rm", *mount, alertreflex_image, "-c", PING, check=False)
    assert denied.returncode == 13, denied.stdout + denied.stderr
    allowed = podman.run(
        "run", "--rm", "--group-add", str(SOCKET_GID), *mount, alertreflex_image, "-c", PING
    )
    assert allowed.stdout.strip() == "200"


def test_alertmanager_alert_dumps_the_threads_of_a_jvm_in_a_sibling_container(
    podman: Podman,
    alertreflex_image: str,
    jvm_image: str,
    engine_socket: Path,
    tmp_path: Path,
    containers: list[str],
) -> None:
    """A real Alertmanager on the host sends its webhook (with webhook_auth's token) to
    alertreflex in a container, whose reflex dumps the threads of the JVM in another
    container, named by the alert, through the engine socket mounted into it. The dump
    is stored: the API shows the run succeeded, with the JVM's named thread."""
    if shutil.which("prometheus-alertmanager") is None:
        pytest.fail("apt-get install prometheus-alertmanager", pytrace=False)
    jvm = f"alertreflex-test-jvm-{uuid.uuid4().hex[:8]}"
    containers.append(jvm)
    podman.run("run", "--detach", "--name", jvm, "--label", "team=warehouse", jvm_image)

    token = secrets.token_hex(16)
    etc = config_dir(tmp_path, (EXAMPLE / "alertreflex" / "alertreflex.yml").read_text(), token)
    reflex = start(
        podman,
        alertreflex_image,
        containers,
        etc,
        "--volume",
        f"{engine_socket}:/var/run/docker.sock",
        "--group-add",
        str(SOCKET_GID),
        token=token,
    )
    reflex.wait_ready()
    deadline = time.monotonic() + 60
    while "orange-bucket-filler" not in podman.run("exec", jvm, "jcmd", "1", "Thread.print").stdout:
        assert time.monotonic() < deadline, "the JVM did not start its thread"
        time.sleep(0.5)

    with Stack(tmp_path / "stack") as stack:
        am = stack.start_alertmanager(f"{reflex.url}/webhook", bearer_token=webhook_token(etc))
        posted = time.time()
        sent = httpx.post(
            f"{am.url}/api/v2/alerts",
            json=[
                {
                    "labels": {
                        "alertname": "BucketServiceStalled",
                        "team": "warehouse",
                        "container": jvm,
                    },
                    "annotations": {"summary": "the bucket service stalls"},
                    "startsAt": datetime.now(UTC).isoformat(),
                }
            ],
            timeout=10,
        )
        assert sent.status_code == 200, sent.text
        run = reflex.wait_run("dump-stalled-jvm", timeout=120)
        seen = time.time()
    assert run["state"] == "succeeded", json.dumps(run, indent=1) + reflex.logs()
    dumps = [a for a in run["artifacts"] if a["url"]]
    assert dumps, run
    dump = reflex.api(dumps[0]["url"]).text
    assert "Full thread dump" in dump
    assert '"orange-bucket-filler"' in dump
    print(
        f"\nalert posted to Alertmanager -> run created {run['created_at'] - posted:.2f} s, "
        f"dump taken in {run['finished_at'] - run['started_at']:.2f} s, "
        f"stored and seen through the API {seen - posted:.2f} s"
    )
