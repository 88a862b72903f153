"""``alertreflex test-reflexes``: promtool-like output per file and exit codes
(0 all pass, 1 a test fails, 2 a test file or the config is invalid)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from alertreflex.cli.main import main
from tests.conftest import BIN

CONFIG = """\
reflexes:
  - name: threaddump-orange-bucket
    team: warehouse
    match: ['alertname="BucketTooFull_ORANGE"']
    on_firing:
      - jvm_thread_dump: {main_class: "^DemoService", count: 2}
  - name: page-payments
    team: payments
    match: ['alertname="PaymentsDown"']
    on_firing:
      - exec: {command: ["true"]}
"""

GOOD = """\
tests:
  - name: orange gets a thread dump
    alert:
      labels: {alertname: BucketTooFull_ORANGE, team: warehouse}
    triggers:
      - reflex: threaddump-orange-bucket
        steps: [jvm_thread_dump: {count: 2}]
    only: true
  - name: payments do not
    alert:
      labels: {alertname: BucketTooFull_ORANGE, team: payments}
    only: true
"""

FAILING = """\
tests:
  - name: passes
    alert:
      labels: {alertname: PaymentsDown, team: payments}
    triggers: [page-payments]
  - name: wrong team
    alert:
      labels: {alertname: PaymentsDown, team: warehouse}
    triggers: [page-payments]
"""

INVALID = """\
tests:
  - name: x
    alert: {labels: {team: t}}
    trigers: [page-payments]
"""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "alertreflex.yml").write_text(CONFIG)
    teams = tmp_path / "teams"
    (teams / "warehouse").mkdir(parents=True)
    (teams / "warehouse" / "orange.reflextests.yml").write_text(GOOD)
    (teams / "warehouse" / "notes.yml").write_text("not: a test file\n")
    (tmp_path / "failing.reflextests.yml").write_text(FAILING)
    (tmp_path / "invalid.reflextests.yml").write_text(INVALID)
    return tmp_path


def run(tree: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["test-reflexes", "--config", str(tree / "alertreflex.yml"), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_all_pass(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A passing file: SUCCESS with its count, a summary, exit 0."""
    path = tree / "teams" / "warehouse" / "orange.reflextests.yml"
    code, out, err = run(tree, capsys, str(path))
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"Unit Testing: {path}",
        "  SUCCESS: 2 test(s)",
        "",
        "SUCCESS: 2 test(s) in 1 file(s) passed",
    ]


def test_a_directory_is_searched_for_test_files(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A directory stands for the *.reflextests.yml files under it, nothing else."""
    code, out, _ = run(tree, capsys, str(tree / "teams"))
    assert code == 0
    assert out.splitlines()[0].endswith("teams/warehouse/orange.reflextests.yml")


def test_failures_exit_1(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A failing test: FAILED for its file with each failure as file:line, exit 1."""
    good = tree / "teams" / "warehouse" / "orange.reflextests.yml"
    failing = tree / "failing.reflextests.yml"
    code, out, err = run(tree, capsys, str(good), str(failing))
    assert (code, err) == (1, "")
    assert out.splitlines() == [
        f"Unit Testing: {good}",
        "  SUCCESS: 2 test(s)",
        "",
        f"Unit Testing: {failing}",
        "  FAILED: 1 of 2 test(s)",
        f"    {failing}:9: test 'wrong team': reflex 'page-payments' did not trigger: other "
        'team: the alert has team="warehouse", the reflex belongs to team "payments"',
        "",
        "FAILED: 1 of 4 test(s) failed",
    ]


def test_invalid_test_file_exit_1(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An invalid file is reported as file:line: path: message, the others still run,
    and the exit code is 1 (invalid input)."""
    failing = tree / "failing.reflextests.yml"
    invalid = tree / "invalid.reflextests.yml"
    code, out, _ = run(tree, capsys, str(invalid), str(failing))
    assert code == 1
    lines = out.splitlines()
    assert lines[:3] == [
        f"Unit Testing: {invalid}",
        "  INVALID:",
        f"    {invalid}:4: tests[0].trigers: unknown field",
    ]
    assert "  FAILED: 1 of 2 test(s)" in lines
    assert lines[-1] == "FAILED: 1 of 2 test(s) failed, 1 of 2 file(s) invalid"


def test_missing_test_file_exit_1(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file that does not exist is an invalid file: exit 1."""
    code, out, _ = run(tree, capsys, str(tree / "nope.reflextests.yml"))
    assert code == 1
    assert f"{tree / 'nope.reflextests.yml'}: cannot read: No such file or directory" in out


def test_invalid_config_exit_1(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A config that does not load: its problems on stderr, exit 1, no test runs."""
    (tree / "alertreflex.yml").write_text("reflexes: [{name: x}]\n")
    code, out, err = run(tree, capsys, str(tree / "failing.reflextests.yml"))
    assert code == 1
    assert out == ""
    assert err.startswith("invalid config:\n")
    assert "reflexes[0].team: required field is missing" in err


def test_the_installed_command(tree: Path) -> None:
    """The console script runs it as users do; --help shows an example."""
    done = subprocess.run(
        [
            str(BIN),
            "test-reflexes",
            "--config",
            str(tree / "alertreflex.yml"),
            str(tree / "failing.reflextests.yml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines()[-1] == "FAILED: 1 of 2 test(s) failed"
    helped = subprocess.run(
        [str(BIN), "test-reflexes", "--help"], capture_output=True, text=True, check=False
    )
    assert helped.returncode == 0
    assert "example:\n  alertreflex test-reflexes teams/warehouse/" in helped.stdout


EXAMPLE_TEAMS = Path(__file__).resolve().parents[2] / "examples" / "ownership" / "teams"


def test_in_a_team_repository_no_config_is_needed(tmp_path: Path) -> None:
    """Without --config, the reflexes are the repository's teams/*, each owned by its
    directory (no `team:` in the files), as `alertreflex sync` reads them."""
    done = subprocess.run(
        [str(BIN), "test-reflexes", str(EXAMPLE_TEAMS)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 4 test(s) in 2 file(s) passed" in done.stdout
    # A reflex that claims another team fails as sync would refuse it.
    repo = tmp_path / "teams"
    shutil.copytree(EXAMPLE_TEAMS, repo)
    f = repo / "payments" / "payments.reflexes.yml"
    f.write_text(f.read_text().replace("team: payments", "team: warehouse"))
    done = subprocess.run(
        [str(BIN), "test-reflexes", str(repo / "payments")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "claims team 'warehouse', but this file is team 'payments''s" in done.stderr


def test_outside_a_team_directory_config_is_required(tmp_path: Path) -> None:
    f = tmp_path / "x.reflextests.yml"
    f.write_text("tests: []\n")
    done = subprocess.run(
        [str(BIN), "test-reflexes", str(f)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "is not in a teams/<team>/ directory: give --config" in done.stderr
