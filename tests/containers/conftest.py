"""Containers for one test, and alertreflex configs that reach the session's engine."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.podman import Podman

StartContainer = Callable[..., str]


@pytest.fixture
def container(podman: Podman) -> Iterator[StartContainer]:
    """``container(image, *cmd, labels={...}, env={...}, running=True, ready=None)``: a
    container with a name unique to this test, removed at teardown; returns its name.
    With ``ready``, waits until the container's output holds that text."""
    made: list[str] = []

    def start(
        image: str,
        *cmd: str,
        labels: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
        running: bool = True,
        hint: str = "c",
        ready: str | None = None,
    ) -> str:
        name = f"alertreflex-test-{hint}-{uuid.uuid4().hex[:8]}"
        args = ["run", "--detach", "--name", name]
        for key, value in (labels or {}).items():
            args += ["--label", f"{key}={value}"]
        for key, value in (env or {}).items():
            args += ["--env", f"{key}={value}"]
        made.append(name)
        podman.run(*args, image, *cmd)
        if not running:
            podman.run("stop", "--time", "0", name)
        if ready is not None:
            assert wait_until(lambda: ready in podman.run("logs", name).stdout, within=60), (
                f"{name} never printed {ready!r}"
            )
        return name

    yield start
    for name in made:
        podman.run("rm", "--force", "--time", "0", name, check=False)


def engine_settings(engine_url: str, extra: str = "") -> str:
    """The ``settings:`` block of a config that acts through the session's engine."""
    return f"settings:\n  containers:\n    url: {engine_url}\n{extra}"


def wait_until(check: Callable[[], bool], within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()
