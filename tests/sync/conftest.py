"""Real git repositories in temporary directories, committed to by two teams."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ownership"


class Repo:
    """A git repository with a ``main`` branch; commits are made as the given author."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        self.git("init", "--quiet", "--initial-branch=main")

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(self.path), *args],
            capture_output=True,
            text=True,
            check=False,
            env={
                "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_CONFIG_GLOBAL": "/dev/null",
                "HOME": str(self.path),
                "PATH": "/usr/bin:/bin",
            },
        )
        assert done.returncode == 0, f"git {args}: {done.stderr}"
        return done.stdout.strip()

    def write(self, rel: str, text: str) -> Path:
        f = self.path / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
        return f

    def remove(self, rel: str) -> None:
        self.git("rm", "-r", "--quiet", rel)

    def commit(self, message: str, author: str = "Ann Warehouse <ann@example.com>") -> str:
        self.git("add", "-A")
        name, _, mail = author.partition(" <")
        self.git(
            "-c",
            f"user.name={name}",
            "-c",
            f"user.email={mail.rstrip('>')}",
            "commit",
            "--quiet",
            "-m",
            message,
        )
        return self.git("rev-parse", "HEAD")

    def copy_example(self) -> None:
        shutil.copytree(EXAMPLE / "teams", self.path / "teams", dirs_exist_ok=True)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    r = Repo(tmp_path / "repo")
    r.copy_example()
    r.commit("the example teams")
    return r
