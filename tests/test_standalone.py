"""The repository stands on its own: what the suite reads is in it, and the README
names the Debian packages that CI installs for the end-to-end tests.

The real check is ``.ci/run``, which runs the suite in a copy of the repository with
nothing beside it; these tests catch the same mistakes in a second, without CI.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tracked_text_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    paths = [ROOT / p for p in out.split("\0") if p]
    return [p for p in paths if p.is_file() and p.suffix in {".py", ".sh", ".toml", ".cfg", ""}]


def test_no_file_reads_the_development_machines_shared_folder() -> None:
    """``../shared`` exists only beside the developers' checkouts: code, tests and
    scripts that name it break on a fresh clone."""
    offenders = []
    for path in _tracked_text_files():
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        if re.search(r"""["']shared["']\s*/|\.\./shared/fixtures""", text):
            offenders.append(str(path.relative_to(ROOT)))
    # This file names the pattern it looks for.
    offenders = [p for p in offenders if p != "tests/test_standalone.py"]
    assert offenders == [], f"files that read outside the repository: {offenders}"


def test_captured_payloads_are_in_the_repository() -> None:
    from tests.payloads import FIXTURES

    assert FIXTURES.is_relative_to(ROOT)
    assert sorted(p.name for p in FIXTURES.glob("*.json")) == ["firing.json", "resolved.json"]


def _ci_packages() -> set[str]:
    text = (ROOT / ".ci" / "run").read_text()
    return set(re.findall(r"need\+=\(([a-z0-9.+-]+)\)", text))


def _readme_packages() -> set[str]:
    text = (ROOT / "README.md").read_text()
    found = re.search(r"sudo apt-get install ([a-z0-9.+ -]+)\n", text)
    assert found is not None, "the README no longer gives the apt-get line for the tests"
    return set(found.group(1).split())


def test_readme_lists_what_ci_installs() -> None:
    ci = _ci_packages()
    assert {"prometheus", "prometheus-alertmanager", "chromium", "systemd"} <= ci
    assert _readme_packages() == ci
