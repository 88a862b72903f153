"""Every command's exit status follows one rule (docs/cli.md, `alertreflex --help`):
0 success, 1 failure or invalid input, 2 usage error.

One table of real invocations; they all run concurrently once per module (each start
costs about a second of imports), then each row is its own test.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from alertreflex.cli.main import build_parser
from tests.conftest import BIN, free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "alertreflex.yml"
AMX = ROOT / "tests" / "convert" / "data" / "readme-reboot.yml"
CLOSED = f"http://127.0.0.1:{free_port()}"  # nothing listens there
NO_PG = "postgresql://postgres@127.0.0.1:1/nowhere"  # nothing answers there

BROKEN = """\
reflexes:
  - name: x
    team: t
    match: ['alertname = "A"']
    on_firing: [{teleport: {to: mars}}]
"""
RULES_1X = "ALERT Down IF up == 0 FOR 5m\n"


@dataclass(frozen=True)
class Case:
    """One invocation, the status it must exit with, and what it must say.
    ``{tmp}``, ``{closed}`` and ``{busy}`` are filled in."""

    args: tuple[str, ...]
    code: int
    says: str
    stdin: str | None = None

    @property
    def command(self) -> str:
        return next((a for a in self.args if not a.startswith("-")), "")


def case(*args: str | Path, code: int, says: str, stdin: str | None = None) -> Case:
    return Case(tuple(map(str, args)), code, says, stdin)


OK, FAILED, USAGE = 0, 1, 2
CASES = [
    case("--version", code=OK, says="alertreflex "),
    case(code=USAGE, says="the following arguments are required: COMMAND"),
    case("no-such-command", code=USAGE, says="invalid choice: 'no-such-command'"),
    # check
    case("check", EXAMPLE, code=OK, says="SUCCESS:"),
    case("check", "{tmp}/broken.yml", code=FAILED, says="unknown action type 'teleport'"),
    case("check", "{tmp}/missing.yml", code=FAILED, says="missing.yml: no such file"),
    case("check", code=USAGE, says="the following arguments are required: PATH"),
    case("check", "--bogus", EXAMPLE, code=USAGE, says="unrecognized arguments: --bogus"),
    # test
    case("test", "--config", EXAMPLE, "--labels", '{alertname="A"}', code=OK, says="alert "),
    case(
        "test",
        "--config",
        "{tmp}/broken.yml",
        "--labels",
        '{a="b"}',
        code=FAILED,
        says="invalid config",
    ),
    case(
        "test",
        "--config",
        EXAMPLE,
        "--payload",
        "{tmp}/missing.json",
        code=FAILED,
        says="cannot read {tmp}/missing.json: No such file or directory",
    ),
    case(
        "test", "--config", EXAMPLE, "--payload", "{tmp}/bad.json", code=FAILED, says="Invalid JSON"
    ),
    case(
        "test",
        "--config",
        EXAMPLE,
        "--labels",
        '{a=~"b"}',
        code=USAGE,
        says="--labels: invalid matcher",
    ),
    case(
        "test",
        "--config",
        EXAMPLE,
        "--labels",
        '{a="b"}',
        "--url",
        "{closed}",
        code=USAGE,
        says="--at and --url need --explain",
    ),
    case(
        "test",
        "--config",
        EXAMPLE,
        "--labels",
        '{a="b"}',
        "--explain",
        "--url",
        "{closed}",
        code=FAILED,
        says="cannot read runs and controls of {closed}",
    ),
    case("test", "--labels", '{a="b"}', code=USAGE, says="required: --config"),
    # export-notifications
    case(
        "export-notifications",
        "--storage",
        "sqlite:///{tmp}/none.db",
        code=FAILED,
        says="no store at",
    ),
    case("export-notifications", "--storage", NO_PG, code=FAILED, says="alertreflex"),
    case("export-notifications", "--since", "a week", code=USAGE, says="--since"),
    # replay
    case(
        "replay",
        "--config",
        EXAMPLE,
        "--prometheus",
        "{closed}",
        code=FAILED,
        says="cannot reach Prometheus at",
    ),
    case("replay", "--config", EXAMPLE, code=USAGE, says="one of the arguments --prometheus"),
    case(
        "replay",
        "--config",
        EXAMPLE,
        "--prometheus",
        "{closed}",
        "--since",
        "a week",
        code=USAGE,
        says="argument --since",
    ),
    # test-reflexes
    case(
        "test-reflexes",
        "--config",
        EXAMPLE,
        "{tmp}/missing.reflextests.yml",
        code=FAILED,
        says="cannot read: No such file or directory",
    ),
    case(
        "test-reflexes",
        "--config",
        "{tmp}/broken.yml",
        "{tmp}/empty.reflextests.yml",
        code=FAILED,
        says="invalid config",
    ),
    case(
        "test-reflexes",
        "--config",
        EXAMPLE,
        "{tmp}/nothing",
        code=FAILED,
        says="no test files found",
    ),
    case(
        "test-reflexes",
        "{tmp}/empty.reflextests.yml",
        code=USAGE,
        says="is not in a teams/<team>/ directory: give --config",
    ),
    # runs and the decisions: a server that cannot be reached is a failure
    case("runs", "--url", "{closed}", code=FAILED, says="cannot reach {closed}"),
    case("runs", "--url", "{closed}", "--show", "06h4", code=FAILED, says="cannot reach {closed}"),
    case("runs", "--limit", "0", code=USAGE, says="0 is not between 1 and 1000"),
    case("runs", "--state", "happy", code=USAGE, says="invalid choice: 'happy'"),
    case("runs", "--trigger", "later", code=USAGE, says="invalid choice: 'later'"),
    case(
        "pause",
        "--reason",
        "x",
        "--url",
        "{closed}",
        code=FAILED,
        says="cannot reach {closed}/api/v1/pause",
    ),
    case("pause", code=USAGE, says="required: --reason"),
    case(
        "resume",
        "--reason",
        "x",
        "--url",
        "{closed}",
        code=FAILED,
        says="cannot reach {closed}/api/v1/resume",
    ),
    case("approve", code=USAGE, says="required: RUN_ID"),
    case("resume", "--url", "{closed}", code=USAGE, says="required: --reason"),
    case(
        "approve",
        "06h4",
        "--url",
        "{closed}",
        code=FAILED,
        says="cannot reach {closed}/api/v1/runs/06h4/approve",
    ),
    case(
        "reject",
        "06h4",
        "--reason",
        "x",
        "--url",
        "{closed}",
        code=FAILED,
        says="cannot reach {closed}",
    ),
    case("reject", "06h4", code=USAGE, says="required: --reason"),
    case(
        "rerun",
        "06h4",
        "--reason",
        "x",
        "--url",
        "{closed}",
        code=FAILED,
        says="cannot reach {closed}",
    ),
    case("rerun", code=USAGE, says="required: RUN_ID, --reason"),
    # hash-password
    case("hash-password", "--cost", "4", code=OK, says="$2b$04$", stdin="secret\n"),
    case("hash-password", "--cost", "4", code=FAILED, says="the password is empty", stdin="\n"),
    case("hash-password", "--cost", "99", code=USAGE, says="--cost must be between 4 and 31"),
    # migrate: a store that cannot be reached or opened is a failure
    case("migrate", "--storage", "sqlite:///{tmp}/new.db", code=OK, says="schema version"),
    case(
        "migrate",
        "--check",
        "--storage",
        "sqlite:///{tmp}/unmigrated.db",
        code=FAILED,
        says="no schema yet",
    ),
    case("migrate", "--storage", NO_PG, code=FAILED, says="cannot connect to PostgreSQL"),
    case(
        "migrate",
        "--storage",
        "sqlite:///{tmp}/empty.db",
        code=FAILED,
        says="is empty (0 bytes), not an alertreflex store",
    ),
    case("migrate", "--storage", "mysql://x/y", code=USAGE, says="--storage mysql://x/y"),
    # sync
    case(
        "sync",
        "--repo",
        "{tmp}/no-repo",
        "--check",
        "--cache-dir",
        "{tmp}/cache",
        code=FAILED,
        says="git fetch of {tmp}/no-repo",
    ),
    case(
        "sync",
        "--repo",
        "{tmp}/no-repo",
        "--check",
        "--promtool",
        "{tmp}/no-promtool",
        code=FAILED,
        says="promtool '{tmp}/no-promtool' not found",
    ),
    case(
        "sync",
        "--repo",
        "{tmp}/no-repo",
        code=USAGE,
        says="--rules-dir and --reflexes-file are required",
    ),
    case(
        "sync",
        "--repo",
        "{tmp}/no-repo",
        "--check",
        "--watch",
        "soon",
        code=USAGE,
        says="invalid duration",
    ),
    # convert-rules
    case("convert-rules", "{tmp}/up.rules", code=OK, says="alert: Down"),
    case(
        "convert-rules",
        "{tmp}/missing.rules",
        code=FAILED,
        says="cannot read {tmp}/missing.rules: No such file or directory",
    ),
    case("convert-rules", "{tmp}/bad.rules", code=FAILED, says="bad.rules:1:"),
    case(
        "convert-rules",
        "{tmp}/up.rules",
        "{tmp}/bad.rules",
        code=USAGE,
        says="several FILEs need --output-dir DIR",
    ),
    # convert-amx
    case("convert-amx", AMX, code=OK, says="reflexes:"),
    case(
        "convert-amx",
        "{tmp}/missing.yml",
        code=FAILED,
        says="cannot read {tmp}/missing.yml: No such file or directory",
    ),
    case("convert-amx", "{tmp}/broken.yml", code=FAILED, says="commands"),
    case("convert-amx", AMX, "--timeout", "soon", code=USAGE, says="--timeout: invalid duration"),
    # schema
    case("schema", code=OK, says='"$schema"'),
    case("schema", "--output", "{tmp}/no/such/dir/s.json", code=FAILED, says="cannot write"),
    case("schema", "--bogus", code=USAGE, says="unrecognized arguments: --bogus"),
    # alertmanager-config and demo (their usage errors)
    case(
        "alertmanager-config", "--url", "http://alertreflex:8976", code=OK, says="webhook_configs"
    ),
    case(
        "alertmanager-config", "--url", "alertreflex", code=USAGE, says="needs http:// or https://"
    ),
    case("demo", "--flips", "0", code=USAGE, says="--flips must be at least 1"),
    # serve: those that stop before it listens
    case(
        "serve",
        "--config",
        "{tmp}/missing.yml",
        "--listen",
        "127.0.0.1:0",
        code=FAILED,
        says="invalid config, not starting",
    ),
    case(
        "serve",
        "--config",
        EXAMPLE,
        "--listen",
        "nonsense",
        code=USAGE,
        says="--listen nonsense: expected HOST:PORT",
    ),
]
# serve's failures: it cannot reach its store or take its port (run apart, as they wait
# for a connection to fail).
SERVE_FAILURES = [
    case(
        "serve",
        "--config",
        EXAMPLE,
        "--storage",
        NO_PG,
        "--listen",
        "127.0.0.1:0",
        code=FAILED,
        says="cannot connect to PostgreSQL",
    ),
    case(
        "serve",
        "--config",
        EXAMPLE,
        "--storage",
        "sqlite:///{tmp}/serve.db",
        "--listen",
        "127.0.0.1:{busy}",
        code=FAILED,
        says="cannot listen on 127.0.0.1:{busy}",
    ),
]


@pytest.fixture(scope="module")
def busy_port() -> Iterator[int]:
    """A loopback port something listens on for the whole module."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files the table refers to as ``{tmp}``."""
    d = tmp_path_factory.mktemp("exit")
    (d / "broken.yml").write_text(BROKEN)
    (d / "bad.json").write_text("{")
    (d / "empty.reflextests.yml").write_text("tests: []\n")
    (d / "nothing").mkdir()
    (d / "empty.db").touch()
    (d / "up.rules").write_text(RULES_1X)
    (d / "bad.rules").write_text("ALERT IF\n")
    return d


def fill(text: str, tmp: Path, busy: int) -> str:
    return text.replace("{tmp}", str(tmp)).replace("{closed}", CLOSED).replace("{busy}", str(busy))


@pytest.fixture(scope="module")
def ran(tmp: Path, busy_port: int) -> dict[Case, subprocess.CompletedProcess[str]]:
    """Every case, run concurrently as users run the command."""

    def run(c: Case) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN), *(fill(a, tmp, busy_port) for a in c.args)],
            capture_output=True,
            text=True,
            input=c.stdin,
            timeout=120,
            cwd=tmp,
            check=False,
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {c: pool.submit(run, c) for c in [*CASES, *SERVE_FAILURES]}
        return {c: f.result() for c, f in futures.items()}


def _check(c: Case, done: subprocess.CompletedProcess[str], tmp: Path, busy: int) -> None:
    said = done.stdout + done.stderr  # test-reflexes reports on stdout, as promtool does
    assert (done.returncode, fill(c.says, tmp, busy) in said) == (c.code, True), (
        f"alertreflex {' '.join(c.args)}\nexit {done.returncode}\n"
        f"stdout: {done.stdout[-2000:]}\nstderr: {done.stderr[-2000:]}"
    )


@pytest.mark.parametrize("c", CASES, ids=lambda c: " ".join(c.args) or "(nothing)")
def test_exit_status(
    c: Case, ran: dict[Case, subprocess.CompletedProcess[str]], tmp: Path, busy_port: int
) -> None:
    """The command exits with the status the rule gives it, and says why."""
    _check(c, ran[c], tmp, busy_port)


@pytest.mark.parametrize("c", SERVE_FAILURES, ids=lambda c: " ".join(c.args))
def test_serve_failures_exit_1(
    c: Case, ran: dict[Case, subprocess.CompletedProcess[str]], tmp: Path, busy_port: int
) -> None:
    """serve that cannot reach its store or take its port fails (1): running the same
    command later may work; nothing in the command line is wrong."""
    _check(c, ran[c], tmp, busy_port)


def test_every_command_is_in_the_table() -> None:
    """Each command has a usage error (2) in the table, and each that can fail once
    its command line is right has a failure (1)."""
    names = {
        name
        for action in build_parser()._actions  # argparse keeps subcommands only here
        if isinstance(action, argparse._SubParsersAction)
        for name in action.choices
    }
    usage = {c.command for c in CASES if c.code == USAGE}
    failing = {c.command for c in [*CASES, *SERVE_FAILURES] if c.code == FAILED}
    assert names - usage == set()
    cannot_fail = {"alertmanager-config", "demo"}  # they print, or need a whole stack
    assert names - failing - cannot_fail == set()


def test_the_rule_is_in_the_help() -> None:
    """`alertreflex --help` states the rule, as docs/cli.md does."""
    done = subprocess.run([str(BIN), "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    rule = done.stdout.split("exit status (every command):", 1)[1]
    assert [line.split()[0] for line in rule.splitlines() if line[:3].strip().isdigit()] == [
        "0",
        "1",
        "2",
    ]
    assert "usage error" in rule and "cannot be reached" in rule
