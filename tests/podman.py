"""A real container engine for the tests: Debian's podman, serving the Docker Engine API.

No container registry is reachable from these machines, so every image the tests use
starts from a Debian base made here with ``debootstrap`` from the machine's own apt
mirror and imported into podman. Images are tagged with a digest of what they are
built from, so a machine builds each one once and reuses it until its Containerfile
or context changes (podman keeps them in its own storage between runs).

podman runs with the ``runc`` runtime and explicit ulimits, set in a
``containers.conf`` passed through ``CONTAINERS_CONF``: the default ``crun`` refuses
this machine's hybrid cgroups, and podman's default ulimits exceed what root may set
here. ``podman system service`` serves the Docker Engine API on a unix socket.

Without podman (or root, which debootstrap needs) the tests that use it skip on a
developer's machine and fail where ALERTREFLEX_REQUIRE_TOOLS is set (CI).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import httpx
import pytest

BASE_TAG = "localhost/alertreflex-test/debian-base"
SUITE = "bookworm"
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
"""


def unavailable(why: str) -> None:
    """Skip, or fail where the tools are required: skipping is not passing in CI."""
    if os.environ.get("ALERTREFLEX_REQUIRE_TOOLS"):
        pytest.fail(why, pytrace=False)
    pytest.skip(why)


def apt_mirror() -> str:
    """The Debian mirror this machine's apt sources name (the only one reachable)."""
    sources = Path("/etc/apt/sources.list.d")
    texts = [p.read_text() for p in sorted(sources.glob("*.sources"))] if sources.is_dir() else []
    for text in texts:
        for stanza in text.split("\n\n"):
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
            suites = re.search(r"^Suites:\s*(.+)$", stanza, re.M)
            if uris and suites and SUITE in suites.group(1).split() and "security" not in uris[1]:
                return uris.group(1)
    legacy = Path("/etc/apt/sources.list")
    if legacy.is_file():
        found = re.search(rf"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+{SUITE}\s", legacy.read_text(), re.M)
        if found:
            return found.group(1)
    return "http://deb.debian.org/debian"


def digest(*parts: str | bytes | Path) -> str:
    """A short digest of what an image is built from: texts, and files or directories."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            files = sorted(p for p in part.rglob("*") if p.is_file()) if part.is_dir() else [part]
            for f in files:
                h.update(str(f.relative_to(part if part.is_dir() else part.parent)).encode())
                h.update(f.read_bytes())
        else:
            h.update(part.encode() if isinstance(part, str) else part)
    return h.hexdigest()[:12]


class Podman:
    """The ``podman`` command with this suite's containers.conf, and its API service."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        conf = workdir / "containers.conf"
        conf.write_text(CONTAINERS_CONF)
        self.env = {**os.environ, "CONTAINERS_CONF": str(conf)}
        self.socket = workdir / "podman.sock"
        self._service: subprocess.Popen[bytes] | None = None

    def run(
        self, *args: str, check: bool = True, timeout: float = 600, input: bytes | None = None
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["podman", *args],
            env=self.env,
            capture_output=True,
            timeout=timeout,
            input=input,
            check=False,
        )
        result = subprocess.CompletedProcess(
            done.args,
            done.returncode,
            done.stdout.decode(errors="replace"),
            done.stderr.decode(errors="replace"),
        )
        if check and done.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} failed:\n{result.stderr}")
        return result

    def has_image(self, tag: str) -> bool:
        return self.run("image", "exists", tag, check=False).returncode == 0

    def base_image(self) -> str:
        """The Debian base, made with debootstrap from the machine's mirror, once."""
        mirror = apt_mirror()
        tag = f"{BASE_TAG}:{SUITE}-{digest(mirror, SUITE, 'minbase')}"
        if self.has_image(tag):
            return tag
        if shutil.which("debootstrap") is None:
            unavailable("debootstrap is not installed (apt-get install debootstrap)")
        with tempfile.TemporaryDirectory(prefix="alertreflex-rootfs-") as root:
            done = subprocess.run(
                ["debootstrap", "--variant=minbase", SUITE, root, mirror],
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            if done.returncode != 0:
                raise AssertionError(f"debootstrap failed:\n{done.stdout[-3000:]}{done.stderr}")
            tar = subprocess.run(
                ["tar", "-C", root, "-c", "."], capture_output=True, check=True, timeout=300
            )
            self.run("import", "-", tag, input=tar.stdout)
        return tag

    def build(
        self,
        tag: str,
        context: Path,
        containerfile: Path | None = None,
        build_args: dict[str, str] | None = None,
        secrets: dict[str, Path] | None = None,
        extra: Iterable[str | bytes | Path] = (),
        inputs: Iterable[Path] | None = None,
        options: Iterable[str] = (),
    ) -> str:
        """Build ``context`` unless an image of the same inputs exists; return its tag.

        ``inputs``: the files of the context the image is made of (paths relative to
        it), when that is less than the whole context, e.g. a repository whose
        .containerignore keeps .venv and the rest out. ``options``: more ``podman
        build`` options."""
        file = containerfile or context / "Containerfile"
        args = sorted((build_args or {}).items())
        made_of: list[str | bytes | Path] = [context]
        if inputs is not None:
            made_of = [f"{p}\0".encode() + (context / p).read_bytes() for p in sorted(inputs)]
        opts = list(options)
        if opts:  # only then, so that the tags of images built without stay the same
            made_of.append(repr(opts))
        tagged = f"{tag}:{digest(file, *made_of, repr(args), *extra)}"
        if self.has_image(tagged):
            return tagged
        cmd = ["build", "--quiet", "--tag", tagged, "--file", str(file), *opts]
        for key, value in args:
            cmd += ["--build-arg", f"{key}={value}"]
        for name, path in (secrets or {}).items():
            cmd += ["--secret", f"id={name},src={path}"]
        self.run(*cmd, str(context), timeout=1800)
        return tagged

    def start_service(self) -> str:
        """``podman system service`` on a unix socket; the Docker Engine API's URL."""
        self._service = subprocess.Popen(
            ["podman", "system", "service", "--time=0", f"unix://{self.socket}"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=(self.workdir / "service.log").open("wb"),
        )
        transport = httpx.HTTPTransport(uds=str(self.socket))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with httpx.Client(transport=transport, timeout=2) as client:
                    if client.get("http://podman/v1.41/_ping").status_code == 200:
                        return f"unix://{self.socket}"
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"podman system service did not answer:\n{self.service_log()}")

    def service_log(self) -> str:
        path = self.workdir / "service.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop_service(self) -> None:
        if self._service is not None and self._service.poll() is None:
            self._service.terminate()
            try:
                self._service.wait(10)
            except subprocess.TimeoutExpired:
                self._service.kill()


def find_podman(workdir: Path) -> Podman:
    """The engine, or a skip (a failure in CI) saying what is missing."""
    if shutil.which("podman") is None:
        unavailable("podman is not installed (apt-get install podman runc debootstrap)")
    if shutil.which("runc") is None:
        unavailable("runc is not installed (apt-get install runc)")
    if os.geteuid() != 0:
        unavailable("the container tests run as root (debootstrap, podman storage)")
    return Podman(workdir)
