"""Packaging: a wheel and an sdist build from the repository's files, the sdist carries
deploy/ and examples/, ``pipx`` installs a working ``alertreflex`` (its demo included)
from the wheel, and the systemd unit is one that systemd accepts and whose command line
runs."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from alertreflex import __version__
from alertreflex.config.schema import Settings
from alertreflex.engine.engine import RESTORE_AT_SHUTDOWN_TIMEOUT
from tests.conftest import BIN, free_port

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "deploy" / "systemd" / "alertreflex.service"
VENV_BIN = Path(sys.executable).parent
NAME = f"alertreflex-{__version__}"


@dataclass
class Built:
    source: Path  # the copy that was built
    wheel: Path
    sdist: Path
    log: str


def repository_files() -> list[str]:
    """What a clone would hold: the tracked files, and the new ones not yet added
    (but not the ignored ones: .venv, caches, databases)."""
    if shutil.which("git") is None:
        pytest.fail("the packaging tests copy the repository with git: apt-get install git")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=False,
        timeout=30,
    )
    if listed.returncode != 0:
        pytest.fail(f"git ls-files in {REPO} failed: {listed.stderr.decode()}")
    return [f for f in listed.stdout.decode().split("\0") if f]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """``python -m build`` on a copy, so the checkout gets no build/ or egg-info. It
    builds the sdist, then the wheel from the sdist, as pip would from PyPI."""
    source = tmp_path_factory.mktemp("source")
    for name in repository_files():
        if (REPO / name).is_file():  # a tracked file deleted in the work tree is gone
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(source)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    return Built(source, out / f"{NAME}-py3-none-any.whl", out / f"{NAME}.tar.gz", log)


def package_files(source: Path) -> set[str]:
    """Every file the package must ship, relative to src/: modules, UI, py.typed, and
    the demo's Java service and configs."""
    root = source / "src"
    wanted = [
        *root.glob("alertreflex/**/*.py"),
        *root.glob("alertreflex/web/templates/*.html"),
        *root.glob("alertreflex/web/static/*"),
        *root.glob("alertreflex/demo/files/*"),
        root / "alertreflex" / "py.typed",
    ]
    return {str(p.relative_to(root)) for p in wanted}


def test_wheel_and_sdist_build_without_warnings(built: Built) -> None:
    """Both artifacts exist, named for this version, and setuptools warned about
    nothing (a deprecated setting, a file it could not place)."""
    assert built.wheel.is_file() and built.sdist.is_file(), sorted(built.wheel.parent.iterdir())
    warnings = [
        line
        for line in built.log.splitlines()
        if re.search(r"warning|deprecat", line, re.IGNORECASE)
        # PYTHONDONTWRITEBYTECODE in the environment, not a packaging problem.
        and "byte-compiling is disabled" not in line
    ]
    assert warnings == []


def test_wheel_holds_every_module_the_ui_files_and_py_typed(built: Built) -> None:
    """The wheel has each module, template and static file, the demo's files and the
    py.typed marker, the command, and the built-in action types as entry points."""
    with zipfile.ZipFile(built.wheel) as wheel:
        names = set(wheel.namelist())
        entry_points = wheel.read(f"{NAME}.dist-info/entry_points.txt")
    expected = package_files(built.source)
    assert any(n.startswith("alertreflex/web/templates/") for n in expected)
    assert any(n.startswith("alertreflex/web/static/") for n in expected)
    assert "alertreflex/demo/files/DemoService.java" in expected
    assert expected - names == set()
    text = entry_points.decode()
    assert "alertreflex = alertreflex.cli.main:main" in text
    for action in ("exec", "http", "log_level", "jvm_thread_dump", "am_silence"):
        assert re.search(rf"^{action} = alertreflex\.actions\.", text, re.MULTILINE), action


def test_sdist_holds_the_sources_the_ui_files_and_py_typed(built: Built) -> None:
    """The sdist rebuilds the same package: sources, UI files, py.typed, metadata."""
    with tarfile.open(built.sdist) as sdist:
        names = set(sdist.getnames())
    expected = {f"{NAME}/src/{n}" for n in package_files(built.source)}
    expected |= {f"{NAME}/pyproject.toml", f"{NAME}/README.md", f"{NAME}/PKG-INFO"}
    assert expected - names == set()


def test_sdist_carries_deploy_and_examples(built: Built) -> None:
    """Packagers and operators take the rules, dashboard, systemd unit, Kubernetes
    manifests and examples from the sdist: every file of deploy/ and examples/ is in
    it, and nothing a test run leaves there (bytecode) is."""
    with tarfile.open(built.sdist) as sdist:
        names = {n.removeprefix(f"{NAME}/") for n in sdist.getnames()}
    wanted = {
        f
        for f in repository_files()
        if f.startswith(("deploy/", "examples/")) and (REPO / f).is_file()
    }
    assert {"deploy/systemd/alertreflex.service", "examples/alertreflex.yml"} <= wanted
    assert any(f.startswith("deploy/grafana/") for f in wanted)
    assert any(f.startswith("deploy/prometheus/") for f in wanted)
    assert wanted - names == set()
    assert [n for n in names if n.endswith(".pyc") or "__pycache__" in n] == []


@pytest.fixture(scope="module")
def pipx_alertreflex(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pipx install`` of the wheel into a throwaway PIPX_HOME. Dependencies come
    through pip's configuration on this machine (its mirror, else the index)."""
    tmp_path = tmp_path_factory.mktemp("pipx")
    env = {
        **os.environ,
        "PIPX_HOME": str(tmp_path / "pipx"),
        "PIPX_BIN_DIR": str(tmp_path / "bin"),
        "PIPX_MAN_DIR": str(tmp_path / "man"),
        "USE_EMOJI": "0",
    }
    installed = subprocess.run(
        [str(VENV_BIN / "pipx"), "install", str(built.wheel)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    command = tmp_path / "bin" / "alertreflex"
    assert command.is_file()
    return command


def test_pipx_install_gives_a_working_alertreflex(pipx_alertreflex: Path, tmp_path: Path) -> None:
    """The installed command reports its version, checks the example config and
    serves the UI from the templates and static files in the wheel."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(pipx_alertreflex), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
            cwd=tmp_path,  # not the checkout: nothing of the source tree is importable
        )

    version = run("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"alertreflex {__version__}"
    example = REPO / "examples" / "alertreflex.yml"
    checked = run("check", str(example))
    assert checked.returncode == 0 and "SUCCESS" in checked.stdout, checked.stdout + checked.stderr

    with serving([str(pipx_alertreflex), "serve", "--config", str(example)], tmp_path) as srv:
        page = httpx.get(f"{srv.url}/", timeout=10)
        assert page.status_code == 200 and "<html" in page.text.lower()
        css = httpx.get(f"{srv.url}/static/style.css", timeout=10)
        assert css.status_code == 200 and css.text.strip()


def test_pipx_installed_demo_runs_from_the_wheel(pipx_alertreflex: Path, tmp_path: Path) -> None:
    """``alertreflex demo`` of the pipx install, away from the checkout, finds its Java
    service and configs in the wheel, runs its real Prometheus, Alertmanager and JVM
    against the installed alertreflex, reports, and with --no-keep stops at once and
    leaves nothing in TMPDIR."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [str(pipx_alertreflex), "demo", "--no-keep", "--all-day"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        cwd=tmp_path,
        env={**env, "TMPDIR": str(tmp)},
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert (
        "log level of com.example.orange: before unset (inherits ROOT), while firing DEBUG" in out
    )
    assert '"pizza": "margherita"' in out
    assert "thread dumps:  2 " in out
    assert "Ctrl-C" not in out
    assert list(tmp.iterdir()) == []


@dataclass
class Served:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path


@contextlib.contextmanager
def serving(argv: list[str], workdir: Path) -> Iterator[Served]:
    """``argv`` (an ``alertreflex serve`` without --listen) on a free port, killed and
    reaped on the way out if it still runs; its store in ``workdir`` unless given."""
    port = free_port()
    argv = [*argv, "--listen", f"127.0.0.1:{port}"]
    if "--storage" not in argv:
        argv += ["--storage", f"sqlite:///{workdir / 'served.db'}"]
    log = workdir / "served.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        served = Served(f"http://127.0.0.1:{port}", proc, log)
        wait_ready(served)
        yield served
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def wait_ready(served: Served, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if served.proc.poll() is not None:
            pytest.fail(f"server exited with {served.proc.returncode}:\n{served.log.read_text()}")
        try:
            if httpx.get(f"{served.url}/-/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    pytest.fail(f"server not ready after {timeout}s:\n{served.log.read_text()}")


def unit_settings(text: str) -> dict[str, list[str]]:
    """The unit's ``Key=value`` settings, continuation lines joined, comments dropped."""
    settings: dict[str, list[str]] = {}
    logical = re.sub(r"\\\n\s*", " ", text)
    for line in logical.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def unit_here(tmp_path: Path) -> Path:
    """The unit with its ExecStart program where this machine has it: systemd-analyze
    verify checks that the program exists."""
    exec_start = unit_settings(UNIT.read_text())["ExecStart"][0]
    program = exec_start.split()[0]
    copy = tmp_path / "alertreflex.service"
    copy.write_text(UNIT.read_text().replace(program, str(BIN), 1))
    return copy


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        why = (
            "systemd-analyze not found (Debian: apt-get install systemd): the unit is not verified"
        )
        if os.environ.get("ALERTREFLEX_REQUIRE_TOOLS"):  # .ci/run installs it: skipping is failing
            pytest.fail(why)
        pytest.skip(why)
    return found


def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """systemd reads the unit without a complaint."""
    verified = subprocess.run(
        [systemd_analyze(), "verify", str(unit_here(tmp_path))],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert verified.returncode == 0, verified.stderr
    assert verified.stderr.strip() == "" and verified.stdout.strip() == ""


def test_systemd_unit_is_hardened(tmp_path: Path) -> None:
    """systemd's own exposure score for the unit stays in its "OK" band (below 4.0:
    lower is safer), and it runs as a user of its own, never root."""
    analyzed = subprocess.run(
        [systemd_analyze(), "security", "--offline=true", str(unit_here(tmp_path))],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    output = analyzed.stdout + analyzed.stderr
    found = re.search(r"Overall exposure level for alertreflex\.service: (\d+\.\d+)", output)
    assert found, output
    assert float(found.group(1)) < 4.0, output
    settings = unit_settings(UNIT.read_text())
    assert settings["User"] == ["alertreflex"] and settings["StateDirectory"] == ["alertreflex"]


def test_systemd_unit_stop_timeout_covers_the_shutdown_grace() -> None:
    """TimeoutStopSec leaves alertreflex its default shutdown_grace plus the restore at
    shutdown before systemd kills it, and only alertreflex gets SIGTERM (its running
    steps are its to finish, not systemd's to interrupt)."""
    settings = unit_settings(UNIT.read_text())
    [timeout] = settings["TimeoutStopSec"]
    assert timeout.endswith("s")
    assert float(timeout[:-1]) > Settings().shutdown_grace + RESTORE_AT_SHUTDOWN_TIMEOUT
    assert settings["KillMode"] == ["mixed"]
    assert settings["ExecReload"] == ["/bin/kill -HUP $MAINPID"]


@pytest.fixture
def unit_command(tmp_path: Path) -> tuple[list[str], Path]:
    """The unit's ExecStart, with its program, config and state directory moved to
    this machine's alertreflex and temporary directories."""
    settings = unit_settings(UNIT.read_text())
    argv = settings["ExecStart"][0].split()
    conf_d, state = tmp_path / "conf.d", tmp_path / "state"
    conf_d.mkdir()
    state.mkdir()
    shutil.copy(REPO / "examples" / "alertreflex.yml", conf_d / "alertreflex.yml")
    moved = [
        a.replace("/etc/alertreflex/conf.d", str(conf_d)).replace(
            "/var/lib/alertreflex", str(state)
        )
        for a in argv[1:]
    ]
    listen = moved.index("--listen")
    del moved[listen : listen + 2]  # a free port instead
    return [str(BIN), *moved], state


def test_systemd_unit_command_line_serves_reloads_and_stops(
    unit_command: tuple[list[str], Path], tmp_path: Path
) -> None:
    """The unit's ExecStart arguments start alertreflex with its store in the state
    directory; ExecReload's SIGHUP reloads the config; SIGTERM stops it cleanly."""
    argv, state = unit_command
    with serving(argv, tmp_path) as srv:
        assert (state / "alertreflex.db").is_file()

        def reloaded_at() -> float:
            text = httpx.get(f"{srv.url}/metrics", timeout=10).text
            found = re.search(
                r"^alertreflex_config_last_reload_success_timestamp_seconds (\S+)$",
                text,
                re.MULTILINE,
            )
            assert found, text
            return float(found.group(1))

        before = reloaded_at()
        time.sleep(0.05)
        srv.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while reloaded_at() == before:
            assert time.monotonic() < deadline, srv.log.read_text()
            time.sleep(0.05)
        srv.proc.send_signal(signal.SIGTERM)
        assert srv.proc.wait(timeout=30) == 0, srv.log.read_text()
