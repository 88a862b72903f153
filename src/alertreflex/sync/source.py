"""Where team files come from: a revision id and the files at that revision.

``Source`` is the seam for other origins (the pipeline alertreflex replaces read
Consul KV): an implementation only fetches and reads, everything after that is shared.
``GitSource`` reads a local path or any URL git can clone, through the ``git`` program,
into a bare cache repository, and reads files from one commit, never a working tree.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

TEAMS_DIR = "teams"
MAX_FILE_SIZE = 4 * 1024 * 1024  # a rule or reflex file; more is a mistake or an attack
GIT_TIMEOUT = 300.0


class SourceError(RuntimeError):
    """The source could not be fetched or read; the message says what git said."""


@dataclass(frozen=True)
class Snapshot:
    """The files under ``teams/`` at one revision (repository-relative POSIX paths)."""

    revision: str
    files: Mapping[str, bytes]
    origin: str  # for messages and the generated files' header


class Source(Protocol):
    """An origin of team files. ``fetch`` returns the current revision id, cheaply
    enough to call on every ``--watch`` tick; ``read`` returns the files at it."""

    def describe(self) -> str: ...

    def fetch(self) -> str: ...

    def read(self, revision: str) -> Snapshot: ...


class GitSource:
    """A git repository: ``repo`` is a local path or a URL, ``ref`` a branch, tag or
    commit (default: the remote's HEAD)."""

    def __init__(self, repo: str, ref: str | None, cache_dir: Path) -> None:
        if repo.startswith("-"):
            # git would take it for an option (--upload-pack=... runs a program).
            raise SourceError(f"repository {repo!r} must not start with '-'")
        if ref is not None and (ref.startswith("-") or not ref.strip()):
            raise SourceError(f"ref {ref!r} is not a branch, tag or commit")
        local = Path(repo).expanduser()
        self.repo = str(local.resolve()) if local.exists() else repo
        self.ref = ref
        # One cache per repository and ref: a pull request's --check on a branch must
        # never move the ref that production delivers from.
        key = hashlib.sha256(f"{self.repo}\0{ref or 'HEAD'}".encode()).hexdigest()[:16]
        self.cache = Path(cache_dir) / f"{key}.git"

    def describe(self) -> str:
        return f"{_without_credentials(self.repo)} ({self.ref or 'HEAD'})"

    def fetch(self) -> str:
        self.cache.mkdir(parents=True, exist_ok=True)
        # Two processes (a --watch and a push hook, or two CI jobs) may share the cache.
        with (self.cache.parent / f"{self.cache.name}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (self.cache / "HEAD").exists():
                self._git("init", "--quiet", "--bare")
            # One private ref, forced: a rewritten branch is followed, not refused.
            self._git(
                "fetch",
                "--quiet",
                "--no-tags",
                "--force",
                "--",
                self.repo,
                f"{self.ref or 'HEAD'}:refs/alertreflex/sync",
            )
            return self._git("rev-parse", "--verify", "refs/alertreflex/sync^{commit}").strip()

    def read(self, revision: str) -> Snapshot:
        # -l lists each blob's size, so oversized files are refused before reading.
        listing = self._git("ls-tree", "-r", "-l", "-z", "--full-tree", revision, "--", TEAMS_DIR)
        files: dict[str, bytes] = {}
        for entry in filter(None, listing.split("\0")):
            meta, path = entry.split("\t", 1)
            mode, kind, obj, size = meta.split()
            if kind != "blob":
                continue  # submodules: nothing to read
            if mode == "120000":
                raise SourceError(f"{path} is a symbolic link: team files must be regular files")
            if int(size) > MAX_FILE_SIZE:
                raise SourceError(f"{path} is {size} bytes: team files are limited to 4 MiB")
            files[path] = self._git_bytes("cat-file", "blob", obj)
        return Snapshot(
            revision=revision, files=dict(sorted(files.items())), origin=self.describe()
        )

    def _git(self, *args: str) -> str:
        return self._git_bytes(*args).decode("utf-8", errors="replace")

    def _git_bytes(self, *args: str) -> bytes:
        env = {
            **os.environ,
            "GIT_TERMINAL_PROMPT": "0",  # never wait for a password nobody will type
            "GIT_ASKPASS": "true",
            "GIT_CONFIG_NOSYSTEM": "1",
            "LC_ALL": "C",
        }
        try:
            done = subprocess.run(
                ["git", "-C", str(self.cache), *args],
                capture_output=True,
                env=env,
                timeout=GIT_TIMEOUT,
                check=False,
            )
        except FileNotFoundError as exc:
            raise SourceError("git is not installed (apt-get install git)") from exc
        except subprocess.TimeoutExpired as exc:
            raise SourceError(f"git {args[0]} took more than {GIT_TIMEOUT:g}s") from exc
        if done.returncode != 0:
            said = done.stderr.decode("utf-8", errors="replace").strip()
            said = said.replace(self.repo, _without_credentials(self.repo))
            raise SourceError(f"git {args[0]} of {self.describe()} failed: {said}")
        return done.stdout


def _without_credentials(repo: str) -> str:
    """``https://user:token@host/x`` as ``https://host/x``: for headers, logs, answers."""
    parts = urlsplit(repo)
    if parts.scheme and "@" in parts.netloc:
        return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
    return repo
