"""A remote engine over TLS with client certificates, as Docker's ``--tlsverify``.

No remote Docker engine runs on these machines; in its place a TLS proxy in this
process (certificates made with openssl, client certificates required) forwards to
the session's podman socket, so that the server's side is the real thing: the URL
resolved to https, the files from settings.containers.tls, and the handshake."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alertreflex.actions.exec import NO_STDIN_OVER_TLS
from tests.containers.conftest import StartContainer
from tests.payloads import alert, notification
from tests.podman import Podman


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, the engine's certificate for 127.0.0.1 and a client certificate."""
    d = tmp_path_factory.mktemp("tls")
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test-ca",
        "-keyout", "ca.key", "-out", "ca.pem", cwd=d,
    )  # fmt: skip
    for name, ext in (
        ("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
        ("client", "extendedKeyUsage=clientAuth\n"),
    ):
        (d / f"{name}.ext").write_text(ext)
        _openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d,
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "1", "-extfile", f"{name}.ext", "-out", f"{name}.pem",
            cwd=d,
        )  # fmt: skip
    return d


class TlsProxy:
    """TLS on 127.0.0.1 (client certificates required) in front of a unix socket."""

    def __init__(self, socket: Path, certs: Path) -> None:
        self.socket = socket
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(certs / "server.pem", certs / "server.key")
        self.context.load_verify_locations(certs / "ca.pem")
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.context), self.loop
        ).result(10)
        self.server = server
        self.port = server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        engine_reader, engine_writer = await asyncio.open_unix_connection(str(self.socket))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            if dst.can_write_eof():
                dst.write_eof()
            else:
                dst.close()

        await asyncio.gather(pipe(reader, engine_writer), pipe(engine_reader, writer))

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def proxy(podman: Podman, certs: Path) -> Iterator[TlsProxy]:
    p = TlsProxy(podman.socket, certs)
    yield p
    p.close()


REFLEX = """\
reflexes:
  - name: over-tls
    team: warehouse
    match: ['alertname="Tls"']
    on_firing:
      - exec:
          container: "{{ alert.labels.container }}"
          command: [sh, -c, 'echo "in $ALERT_LABEL_CONTAINER"; cat']
"""


def test_exec_through_an_engine_that_requires_client_certificates(
    make_server: Any, container: StartContainer, base_image: str, proxy: TlsProxy, certs: Path
) -> None:
    """tcp:// with settings.containers.tls speaks https with the client certificate:
    the step runs in the container. stdin is not sent (TLS cannot be half-closed), and
    the step says so rather than leaving a reader of stdin waiting."""
    name = container(base_image, "sleep", "infinity", labels={"team": "warehouse"})
    srv = make_server(f"""\
settings:
  containers:
    url: tcp://127.0.0.1:{proxy.port}
    tls:
      ca_file: {certs / "ca.pem"}
      cert_file: {certs / "client.pem"}
      key_file: {certs / "client.key"}
{REFLEX}""")
    srv.post(notification(alert({"alertname": "Tls", "team": "warehouse", "container": name})))
    run = srv.wait_runs(1, timeout=30)[0]
    step = srv.run(run["id"])["steps"][0]
    assert step["output"] == f"in {name}\n"
    assert step["details"]["stdin"] == NO_STDIN_OVER_TLS


def test_without_a_client_certificate_the_engine_is_unreachable(
    make_server: Any, proxy: TlsProxy, certs: Path
) -> None:
    """The engine refuses the handshake of a client without a certificate: the step
    fails naming the engine's URL."""
    url = f"tcp://127.0.0.1:{proxy.port}"
    srv = make_server(f"""\
settings:
  containers:
    url: {url}
    tls: {{ca_file: {certs / "ca.pem"}}}
{REFLEX}""")
    srv.post(notification(alert({"alertname": "Tls", "team": "warehouse", "container": "x"})))
    (run,) = srv.wait_runs(1, states=("failed",), timeout=30)
    assert run["reason"].startswith(f"step 0 (exec): cannot reach the container engine at {url}: ")
