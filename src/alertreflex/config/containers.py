"""``settings.containers`` as loaded: the TLS files read into a context, the matchers
parsed, the ownership label settled. Actions get it with each step
(``ActionContext.containers``), from the config snapshot of the step's run.
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from alertreflex.config.schema import ContainersTls, Settings
from alertreflex.core.container_policy import LabelMatcher, parse_label_matcher
from alertreflex.core.paths import Path

DEFAULT_ENGINE_URL = "unix:///var/run/docker.sock"


@dataclass(frozen=True)
class LoadedTls:
    """The client side of TLS to the engine, built from the files as read at load."""

    context: ssl.SSLContext = field(compare=False)
    digest: str  # of the files' contents: a client is kept while they stay the same


@dataclass(frozen=True)
class ContainerAccess:
    """How to reach the engine and what reflexes may touch there."""

    url: str | None  # as configured; None: $DOCKER_HOST, else DEFAULT_ENGINE_URL, at use
    api_timeout: float
    ownership_label: str
    match: tuple[LabelMatcher, ...] = ()
    tls: LoadedTls | None = None
    # settings.containers.tls is set but its files were not read (alertreflex check
    # --no-secrets, sync): such an access must never connect without TLS.
    tls_unread: bool = False


def container_access(settings: Settings, tls: LoadedTls | None = None) -> ContainerAccess:
    c = settings.containers
    return ContainerAccess(
        url=c.url,
        api_timeout=c.api_timeout,
        ownership_label=c.ownership_label or settings.ownership_label,
        match=tuple(parse_label_matcher(m) for m in c.match),
        tls=tls,
        tls_unread=c.tls is not None and tls is None,
    )


def default_access() -> ContainerAccess:
    """For steps run outside a server's config (unit tests, plugins' hosts)."""
    return container_access(Settings())


def load_tls(
    tls: ContainersTls,
    at: Path,
    read: Callable[[Path, str], bytes | None],
    problem: Callable[[Path, str], None],
) -> LoadedTls | None:
    """Read the TLS files and build the client context; report each problem at the
    key naming the file (``read`` reports unreadable files itself)."""
    files = {
        key: name
        for key in ("ca_file", "cert_file", "key_file")
        if (name := getattr(tls, key)) is not None
    }
    contents: dict[str, bytes] = {}
    for key, name in files.items():
        if (data := read((*at, key), name)) is not None:
            contents[key] = data
    if len(contents) < len(files):
        return None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if "ca_file" in contents:
        try:
            context.load_verify_locations(cadata=contents["ca_file"].decode("ascii", "replace"))
        except (ssl.SSLError, ValueError) as exc:
            problem((*at, "ca_file"), f"{files['ca_file']} holds no PEM certificate: {exc}")
            return None
    if "cert_file" in files:
        try:
            # The ssl module reads a certificate chain from files only.
            context.load_cert_chain(files["cert_file"], files["key_file"])
        except ssl.SSLError as exc:
            problem(
                (*at, "cert_file"),
                f"{files['cert_file']} and {files['key_file']} are not a PEM certificate "
                f"and its private key: {exc.reason or exc}",
            )
            return None
        except OSError as exc:
            problem((*at, "cert_file"), f"cannot read {exc.filename}: {exc.strerror}")
            return None
    digest = hashlib.sha256()
    for key in sorted(contents):
        digest.update(key.encode() + b"\0" + contents[key] + b"\0")
    return LoadedTls(context, digest.hexdigest())
