"""The container engine the other container tests stand on: podman, its Docker
Engine API, and the JVM image built from the local Debian base."""

from __future__ import annotations

import httpx

from tests.podman import Podman


def test_the_engine_api_runs_a_jvm_container(podman: Podman, jvm_image: str) -> None:
    """A container of the JVM image answers on the Docker Engine API, and jcmd in it
    dumps pid 1's threads, the named one included."""
    name = "alertreflex-test-engine-probe"
    podman.run("rm", "--force", "--ignore", name)
    podman.run("run", "--detach", "--name", name, jvm_image)
    try:
        transport = httpx.HTTPTransport(uds=str(podman.socket))
        with httpx.Client(transport=transport, base_url="http://podman/v1.41") as api:
            info = api.get(f"/containers/{name}/json").json()
            assert info["State"]["Running"] is True
        dump = podman.run("exec", name, "jcmd", "1", "Thread.print", timeout=60)
        assert "Full thread dump" in dump.stdout
        assert '"orange-bucket-filler"' in dump.stdout
    finally:
        podman.run("rm", "--force", name)
