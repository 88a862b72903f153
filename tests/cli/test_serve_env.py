"""``alertreflex serve`` takes each option from an environment variable too, as a
container image sets them; the command line wins, and a bad value in a variable is a
usage error that names the variable."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import BIN, free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "alertreflex.yml"
# The contract: each option of serve and its variable.
VARIABLES = {
    "--config": "ALERTREFLEX_CONFIG",
    "--listen": "ALERTREFLEX_LISTEN",
    "--storage": "ALERTREFLEX_STORAGE",
    "--log-level": "ALERTREFLEX_LOG_LEVEL",
    "--log-format": "ALERTREFLEX_LOG_FORMAT",
    "--replica": "ALERTREFLEX_REPLICA",
}


def clean_env(**variables: str) -> dict[str, str]:
    """The test's environment without any ALERTREFLEX_ variable of the developer's
    own, plus ``variables``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTREFLEX_")}
    return {**env, **variables}


def serve(*args: str, env: dict[str, str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """``alertreflex serve`` expected to stop by itself (a usage error, a refusal)."""
    return subprocess.run(
        [str(BIN), "serve", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


class Started:
    """A server expected to run; what it logged is read once it is stopped."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log_path = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [str(BIN), "serve", *args], stdout=out, stderr=subprocess.STDOUT, env=env
            )

    def wait_ready(self, port: int, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"not ready on port {port}:\n{self.log()}")

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        return self.log()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Started]]:
    """Start ``alertreflex serve`` with arguments and an environment; every server
    started is stopped at the end."""
    started: list[Started] = []

    def make(*args: str, env: dict[str, str]) -> Started:
        s = Started(list(args), env, tmp_path / f"serve-{len(started)}.log")
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


def serve_help() -> str:
    done = subprocess.run(
        [str(BIN), "serve", "--help"], capture_output=True, text=True, check=False, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_help_names_every_variable() -> None:
    """--help shows each option's variable, and that the command line wins."""
    text = " ".join(serve_help().split())  # argparse wraps lines
    for var in VARIABLES.values():
        assert f"[{var}]" in text, f"{var} not in --help:\n{text}"
    assert "command line wins" in text


def test_every_option_has_a_variable() -> None:
    """The options in serve's usage line are exactly those of VARIABLES: a new option
    fails this test until it has a variable (in serve.py, here and in the docs)."""
    usage = serve_help().split("\n\n", 1)[0]
    assert set(re.findall(r"\[(--[a-z][a-z-]*)", usage)) == set(VARIABLES)


@pytest.mark.parametrize("config", [None, ""], ids=["unset", "empty"])
def test_without_config_or_its_variable_it_is_a_usage_error(config: str | None) -> None:
    """Neither --config nor ALERTREFLEX_CONFIG (an empty variable counts as unset):
    exit 2 with the usage line and both ways to give it."""
    env = clean_env() if config is None else clean_env(ALERTREFLEX_CONFIG=config)
    done = serve(env=env)
    assert done.returncode == 2
    assert done.stderr.startswith("usage: alertreflex serve")
    assert "--config PATH, or ALERTREFLEX_CONFIG=PATH" in done.stderr


def test_every_option_from_its_variable(start: Callable[..., Started], tmp_path: Path) -> None:
    """With no option on the command line, the server takes its config, address, store,
    log level, log format and replica name from the variables."""
    port = free_port()
    db = tmp_path / "from-env.db"
    server = start(
        env=clean_env(
            ALERTREFLEX_CONFIG=str(EXAMPLE),
            ALERTREFLEX_LISTEN=f"127.0.0.1:{port}",
            ALERTREFLEX_STORAGE=f"sqlite:///{db}",
            ALERTREFLEX_LOG_LEVEL="warning",
            ALERTREFLEX_LOG_FORMAT="json",
            ALERTREFLEX_REPLICA="from-env",
        )
    )
    server.wait_ready(port)
    reflexes = httpx.get(f"http://127.0.0.1:{port}/api/v1/reflexes", timeout=10).json()
    assert "note-orange-bucket" in json.dumps(reflexes)  # examples/alertreflex.yml
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert 'alertreflex_replica_info{replica="from-env",store="sqlite"} 1.0' in metrics
    assert db.is_file()
    lines = [json.loads(line) for line in server.stop().splitlines() if line.strip()]
    # Without settings.auth it warns at start; at level warning, info lines are left out.
    assert [line["msg"] for line in lines if line["level"] == "warn"] == ["unauthenticated"]
    assert {line["level"] for line in lines} == {"warn"}, lines


def test_the_command_line_wins_over_the_variables(
    start: Callable[..., Started], tmp_path: Path
) -> None:
    """An option given on the command line is used, and its variable is not even read:
    a bad value there does not matter."""
    env_port, port = free_port(), free_port()
    server = start(
        "--config",
        str(EXAMPLE),
        "--listen",
        f"127.0.0.1:{port}",
        "--storage",
        f"sqlite:///{tmp_path / 'flag.db'}",
        "--log-format",
        "logfmt",
        "--log-level",
        "info",
        "--replica",
        "from-flag",
        env=clean_env(
            ALERTREFLEX_CONFIG=str(tmp_path / "missing.yml"),
            ALERTREFLEX_LISTEN=f"127.0.0.1:{env_port}",
            ALERTREFLEX_STORAGE=f"sqlite:///{tmp_path / 'env.db'}",
            ALERTREFLEX_LOG_FORMAT="json",
            ALERTREFLEX_LOG_LEVEL="verbose",
            ALERTREFLEX_REPLICA="not a name",
        ),
    )
    server.wait_ready(port)
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert 'alertreflex_replica_info{replica="from-flag",store="sqlite"} 1.0' in metrics
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{env_port}/-/ready", timeout=1)
    assert (tmp_path / "flag.db").is_file()
    assert not (tmp_path / "env.db").exists()
    log = server.stop()
    assert " level=info msg=listening " in log  # logfmt, at info


@pytest.mark.parametrize(
    ("var", "value", "says"),
    [
        ("ALERTREFLEX_LOG_LEVEL", "verbose", "expected one of debug, info, warning, error"),
        ("ALERTREFLEX_LOG_FORMAT", "xml", "expected one of logfmt, json"),
        ("ALERTREFLEX_LISTEN", "8976", "expected HOST:PORT"),
        ("ALERTREFLEX_LISTEN", "0.0.0.0:http", "expected HOST:PORT"),
        ("ALERTREFLEX_STORAGE", "mysql://db/alerts", "unsupported scheme 'mysql'"),
        ("ALERTREFLEX_STORAGE", "sqlite:///", "no file name after sqlite:///"),
        ("ALERTREFLEX_REPLICA", "two words", "expected a name without spaces"),
    ],
)
def test_a_bad_value_in_a_variable_is_a_usage_error_naming_it(
    var: str, value: str, says: str
) -> None:
    """Exit 2 with the usage line, the variable, its value and what was expected;
    nothing is started (the config is valid, so only the variable can be at fault)."""
    done = serve(env=clean_env(ALERTREFLEX_CONFIG=str(EXAMPLE), **{var: value}))
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("usage: alertreflex serve")
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"alertreflex serve: error: {var}={value!r}: "), last
    assert says in last
    assert "--listen" not in last and "--storage" not in last  # the variable, not the option


def test_a_bad_replica_name_on_the_command_line_names_the_option(tmp_path: Path) -> None:
    """--replica with a space or a control character: exit 2 naming --replica and
    the value; nothing is started, no store file is made."""
    for bad in ("two words", "tab\there", ""):
        done = serve(
            "--replica",
            bad,
            "--storage",
            f"sqlite:///{tmp_path / 'db'}",
            env=clean_env(ALERTREFLEX_CONFIG=str(EXAMPLE)),
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip() == (
            f"alertreflex: --replica {bad!r}: expected a name without spaces or control"
            " characters, at most 253 characters"
        )
        assert not (tmp_path / "db").exists()


def test_in_a_container_without_auth_it_says_what_to_do(tmp_path: Path) -> None:
    """ALERTREFLEX_LISTEN=0.0.0.0:PORT, as in the image, without settings.auth: exit 2,
    and the message tells someone running a container to configure settings.auth (for
    them, listening on 127.0.0.1 is no way out)."""
    done = serve(
        env=clean_env(
            ALERTREFLEX_CONFIG=str(EXAMPLE),
            ALERTREFLEX_LISTEN=f"0.0.0.0:{free_port()}",
            ALERTREFLEX_STORAGE=f"sqlite:///{tmp_path / 'db'}",
        )
    )
    assert done.returncode == 2
    assert "refusing to listen on 0.0.0.0 without settings.auth" in done.stderr
    assert "In a container, configure settings.auth" in done.stderr
    assert "all interfaces of the container's network namespace" in done.stderr
    assert "docs/operations/containers.md" in done.stderr
    assert not (tmp_path / "db").exists()
