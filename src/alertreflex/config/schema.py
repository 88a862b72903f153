"""The config file schema: pydantic models that also produce the JSON Schema.

Steps are validated in two stages: here only their outer shape (a mapping with one
action key); the action's own ``Params`` model is applied by the loader, because
action types come from plugins.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from alertreflex.core.container_policy import parse_label_matcher
from alertreflex.core.matchers import MatcherError
from alertreflex.core.timeintervals import NamedTimeInterval
from alertreflex.core.types import Duration

_SIZE = re.compile(r"^\s*(\d+)\s*(B|KB|KiB|MB|MiB|GB|GiB)?\s*$")
_SIZE_UNITS = {
    None: 1,
    "B": 1,
    "KB": 1000,
    "KiB": 1024,
    "MB": 10**6,
    "MiB": 1024**2,
    "GB": 10**9,
    "GiB": 1024**3,
}


def _to_bytes(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("size must be a number of bytes or a string like '64KiB'")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and (m := _SIZE.match(value)):
        return int(m.group(1)) * _SIZE_UNITS[m.group(2)]
    raise ValueError(f"invalid size {value!r}: expected bytes or e.g. '64KiB', '1MiB'")


ByteSize = Annotated[int, BeforeValidator(_to_bytes), Field(ge=0)]

MAX_BODY_SIZE = 64 * 1024 * 1024  # the most max_body_size may be set to
REFLEX_NAME = r"^[a-z0-9][a-z0-9_-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BasicAuth(_Strict):
    username: str = Field(min_length=1, description="The user name Alertmanager sends.")
    password_file: str = Field(description="File holding the password (trailing newline ignored).")


class WebhookAuth(_Strict):
    """How Alertmanager authenticates: its ``http_config`` bearer token or basic auth."""

    bearer_token_file: str | None = Field(
        default=None, description="File holding the token Alertmanager sends as Bearer."
    )
    basic_auth: BasicAuth | None = Field(
        default=None, description="Basic auth, as Alertmanager's http_config basic_auth sends it."
    )

    @model_validator(mode="after")
    def _one_method(self) -> WebhookAuth:
        if self.bearer_token_file and self.basic_auth:
            raise ValueError("set either bearer_token_file or basic_auth, not both")
        return self


class SecretRef(_Strict):
    """A secret for templates (``{{ secrets.NAME }}``), read from a file or the environment."""

    file: str | None = Field(
        default=None, description="File holding the secret (a trailing newline is dropped)."
    )
    env: str | None = Field(default=None, description="Environment variable holding the secret.")

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.file is None) == (self.env is None):
            raise ValueError("a secret needs exactly one of 'file' or 'env'")
        return self


class StormGuard(_Strict):
    """At most ``max_runs`` firing runs per ``window``; past it, firing runs are
    skipped for the rest of the window."""

    max_runs: int = Field(ge=1, description="Firing runs allowed per window.")
    window: Annotated[Duration, Field(gt=0)] = Field(description="The window, e.g. 10m.")


class AuthUser(_Strict):
    """Someone who may use the UI and the API: with a password (basic auth, checked
    against a bcrypt hash) and/or a bearer token, each read from a file."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$",
        max_length=128,
        description="The user's name, recorded in the audit log as who acted.",
    )
    role: Literal["viewer", "operator"] = Field(
        description="viewer: read only; operator: may also pause, approve and re-run."
    )
    password_hash_file: str | None = Field(
        default=None,
        description="File holding a bcrypt hash of the password "
        "(`alertreflex hash-password` or `htpasswd -nBC 10 \"\" | tr -d ':'`).",
    )
    token_file: str | None = Field(
        default=None, description="File holding a bearer token for scripts (at least 16 bytes)."
    )

    @model_validator(mode="after")
    def _has_credentials(self) -> AuthUser:
        if not self.password_hash_file and not self.token_file:
            raise ValueError("a user needs password_hash_file or token_file")
        return self


class Auth(_Strict):
    """Who may use the UI and the API. Without it, alertreflex listens on loopback only."""

    users: list[AuthUser] = Field(min_length=1)


class SyncSettings(_Strict):
    """``alertreflex sync`` run by the server: on an interval and on POST /api/v1/sync."""

    repo: str = Field(min_length=1, description="A local path or any URL git can clone.")
    ref: str | None = Field(default=None, description="Branch, tag or commit; default HEAD.")
    rules_dir: str = Field(min_length=1, description="Where the teams' rule files go.")
    reflexes_file: str = Field(
        min_length=1,
        description="The combined reflexes file; alertreflex's --config must include it.",
    )
    prometheus_url: str | None = Field(
        default=None, description="Reload and verify this Prometheus after writing."
    )
    interval: Duration = Field(
        default=0.0,
        description="Fetch this often (acting only on a new commit); 0: only on POST /api/v1/sync.",
    )
    token_file: str | None = Field(
        default=None,
        description="Bearer token of POST /api/v1/sync (a push hook); without it the "
        "endpoint is off.",
    )
    cache_dir: str = Field(
        default="~/.cache/alertreflex/sync", description="Where fetched repositories are kept."
    )
    promtool: str | None = Field(
        default=None, description="promtool to check rules with; default: on PATH, if any."
    )
    run_tests: bool = Field(default=True, description="Run the teams' *.reflextests.yml.")


_HOST_NAME = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$")


def split_host(value: str) -> tuple[str, int | None]:
    """``name``, ``name:port``, ``[IPv6]`` or ``[IPv6]:port`` as (name, port), the name
    lowercased, without brackets or a trailing dot. ValueError if it is none of them.

    The grammar of an HTTP ``Host`` header, shared by ``settings.web.allowed_hosts``
    and the server's check of the headers it receives.
    """
    if value.startswith("["):
        name, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"{value!r} is not a host name, host:port or [IPv6]:port")
        try:
            name = str(ipaddress.IPv6Address(name))  # the compressed, lowercase spelling
        except ValueError:
            raise ValueError(f"{value!r}: {name!r} is not an IPv6 address") from None
        port_text, has_port = rest[1:], bool(rest)
    else:
        name, colon, port_text = value.partition(":")
        has_port = bool(colon)
        name = name.lower().rstrip(".")
        if not _HOST_NAME.match(name):
            raise ValueError(f"{value!r} is not a host name, host:port or [IPv6]:port")
    if not has_port or port_text == "":  # "name:" is allowed in a Host header
        return name, None
    if not port_text.isascii() or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{value!r}: the port must be a number from 1 to 65535")
    return name, int(port_text)


def join_host(name: str, port: int | None) -> str:
    """The reverse of split_host: IPv6 addresses in brackets, the port if any."""
    host = f"[{name}]" if ":" in name else name
    return host if port is None else f"{host}:{port}"


def _allowed_host(value: str) -> str:
    """An entry of allowed_hosts, normalised (lowercase, IDNA); wildcards as '*.name'."""
    entry = value.strip()
    if "/" in entry or "@" in entry:  # a URL, or a host name followed by a path
        parts = urlsplit(entry if "://" in entry else f"//{entry}")
        hint = parts.netloc.rpartition("@")[2] or entry.split("/")[0]
        raise ValueError(f"{value!r} is not a host name: give the host name only: {hint!r}")
    wildcard = entry.startswith("*.")
    rest = entry[2:] if wildcard else entry
    if "*" in rest:
        raise ValueError(
            f"{value!r}: '*' may only stand for the subdomains, as in '*.example.org' "
            "(an empty allowed_hosts accepts any host)"
        )
    if not rest.isascii():
        try:
            rest = rest.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError(f"{value!r} is not a valid internationalised host name") from None
    name, port = split_host(rest)
    if wildcard and is_ip_address(name):
        raise ValueError(f"{value!r}: a wildcard applies to names, not to addresses")
    return ("*." if wildcard else "") + join_host(name, port)


def is_ip_address(name: str) -> bool:
    """True for an IPv4 or IPv6 address, as split_host gives it."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class WebSettings(_Strict):
    """The HTTP server: which host names it answers to, and how long and how many
    connections it keeps (as Prometheus' ``--web.*`` flags)."""

    allowed_hosts: list[Annotated[str, AfterValidator(_allowed_host)]] = Field(
        default_factory=list,
        description="With settings.auth: the host names (optionally with :port; "
        "'*.example.org' for its subdomains) that the UI and the API answer to, as in "
        "the URL people open; other names get 421. IP addresses and loopback names are "
        "always accepted. Empty: any name. Without settings.auth only loopback names "
        "are served, whatever this says.",
    )
    header_timeout: Annotated[Duration, Field(gt=0)] = Field(
        default=10.0,
        description="A request's line and headers must arrive within this long of its "
        "first byte (or of the connection), or the connection is closed.",
    )
    body_timeout: Annotated[Duration, Field(gt=0)] = Field(
        default=30.0,
        description="A request's body must arrive within this long of its headers, or "
        "the connection is closed.",
    )
    idle_timeout: Annotated[Duration, Field(gt=0)] = Field(
        default=60.0,
        description="A kept-alive connection with no request in progress is closed "
        "after this long.",
    )
    max_connections: int = Field(
        default=512,
        ge=1,
        description="Open connections at most; past it the oldest idle connection "
        "(or one still sending its headers) is closed to make room, and fewer are kept "
        "if the open file limit leaves less room.",
    )


ENGINE_URL_SCHEMES = ("unix://", "tcp://", "http://", "https://")


def _engine_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(ENGINE_URL_SCHEMES):
        raise ValueError(
            f"{value!r} is not an engine address: expected unix:///path/to/socket, "
            "tcp://host:port, http://host:port or https://host:port"
        )
    return value


def _container_matcher(value: str) -> str:
    try:
        parse_label_matcher(value)
    except MatcherError as exc:
        raise ValueError(str(exc)) from None
    return value


class ContainersTls(_Strict):
    """TLS to a remote engine (Docker's ``--tlsverify``): the files are read at start
    and at each reload, like secrets."""

    ca_file: str | None = Field(
        default=None,
        description="CA certificates (PEM) that signed the engine's certificate (Docker's "
        "ca.pem); default: the system's CAs.",
    )
    cert_file: str | None = Field(
        default=None, description="alertreflex's client certificate (PEM, Docker's cert.pem)."
    )
    key_file: str | None = Field(
        default=None,
        description="The client certificate's private key (PEM, Docker's key.pem); readable "
        "by alertreflex only: it opens the engine, which is root on its host.",
    )

    @model_validator(mode="after")
    def _cert_with_key(self) -> ContainersTls:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        return self


class ContainersSettings(_Strict):
    """The container engine that steps with a ``container`` target act through (the
    Docker Engine API, served by Docker and by Podman), and which containers they may
    touch."""

    url: Annotated[str | None, AfterValidator(_engine_url)] = Field(
        default=None,
        description="The engine's API: unix:///var/run/docker.sock (Docker), "
        "unix:///run/podman/podman.sock (Podman), tcp://host:2376 or https://host:2376 "
        "(remote, with tls). Default: $DOCKER_HOST when set, else "
        "unix:///var/run/docker.sock.",
    )
    tls: ContainersTls | None = Field(
        default=None,
        description="Client certificates for a remote engine; with tls, tcp:// means https://.",
    )
    match: list[Annotated[str, AfterValidator(_container_matcher)]] = Field(
        default_factory=list,
        description="Alertmanager matchers that a container's labels must all satisfy for "
        "any reflex to act on it (label keys may contain . - /, as in "
        'com.docker.compose.project="shop"). Empty: any container of the reflex\'s team.',
    )
    ownership_label: str | None = Field(
        default=None,
        min_length=1,
        description="The container label naming the owning team: a reflex acts only on "
        "containers where it equals the reflex's team. Default: settings.ownership_label.",
    )
    api_timeout: Annotated[Duration, Field(gt=0)] = Field(
        default=10.0,
        description="Time limit of each engine API call (finding, inspecting, starting); "
        "the command itself is bounded by its step's timeout.",
    )

    @model_validator(mode="after")
    def _tls_needs_tcp(self) -> ContainersSettings:
        if (
            self.tls is not None
            and self.url is not None
            and not self.url.startswith(("tcp://", "https://"))
        ):
            raise ValueError(f"tls needs a tcp:// or https:// url, not {self.url!r}")
        return self


class Settings(_Strict):
    ownership_label: str = Field(
        default="team", description="Alert label that names the owning team."
    )
    max_concurrent_runs: int = Field(
        default=16,
        ge=1,
        le=10_000,
        description="Runs executing at once, all reflexes together; the others wait their turn.",
    )
    max_queued_runs: int = Field(
        default=10_000,
        ge=1,
        description="Runs accepted but not finished; past it the webhook answers 503.",
    )
    intake_pacing: Annotated[Duration, Field(ge=0, le=60)] = Field(
        default=1.0,
        description="While more runs wait for a free slot than max_concurrent_runs, the "
        "webhook holds a new notification up to this long before storing it, so that "
        "intake keeps to the pace of execution instead of growing the queue. Known "
        "repeats are never held. 0 turns pacing off.",
    )
    output_limit: ByteSize = Field(
        default=64 * 1024, description="Bytes of output kept per stream and step."
    )
    artifact_limit: ByteSize = Field(
        default=16 * 1024 * 1024,
        description="Bytes kept per artifact (a thread dump); the rest is cut off and noted.",
    )
    max_body_size: ByteSize = Field(
        default=1024 * 1024, le=MAX_BODY_SIZE, description="Largest webhook body."
    )
    shutdown_grace: Duration = Field(
        default=30.0, description="How long running actions may finish after SIGTERM."
    )
    retention: Duration = Field(
        default=30 * 86400.0,
        ge=0,
        description="How long history is kept: notification bodies, and each finished "
        "run's context, steps and artifacts. What stops an episode from running twice is "
        "kept while it fires and at least 15 minutes after it resolved. 0 keeps everything. "
        "Pruned every minute, in small batches.",
    )
    replica_lease: Annotated[Duration, Field(ge=1, le=3600)] = Field(
        default=30.0,
        description="On a shared (PostgreSQL) store: how long a replica's runs stay its "
        "own without a renewal; another replica takes over the runs of one that died "
        "after this long. Renewed every third of it.",
    )
    restore_on_shutdown: bool = Field(
        default=True,
        description=(
            "At a clean shutdown, put back what reversible steps (log_level, am_silence)"
            " changed for alerts that still fire."
        ),
    )
    webhook_auth: WebhookAuth | None = None
    secrets: dict[str, SecretRef] = Field(default_factory=dict)
    sync: SyncSettings | None = None
    alertmanager_url: str | None = Field(
        default=None,
        description="Alertmanager's base URL: a reflex's delay also asks it whether the "
        "alert is still listed.",
    )
    storm_guard: StormGuard | None = Field(
        default=None, description="All reflexes together: at most max_runs firing runs per window."
    )
    auth: Auth | None = Field(
        default=None,
        description="Users of the UI and the API, with their roles; the webhook keeps "
        "webhook_auth and /metrics stays open.",
    )
    web: WebSettings = Field(
        default_factory=WebSettings,
        description="The HTTP server: accepted host names, timeouts and connections.",
    )
    containers: ContainersSettings = Field(
        default_factory=ContainersSettings,
        description="The container engine for steps with a container target, and which "
        "containers reflexes may act on.",
    )


class ReflexConfig(_Strict):
    name: str = Field(
        pattern=REFLEX_NAME,
        max_length=128,
        description="Unique across all files; shown in runs, metrics and logs.",
    )
    team: str = Field(min_length=1, description="Owning team; matches only its own alerts.")
    description: str = Field(default="", description="Free text, shown in the UI.")
    match: list[str] | str = Field(
        description="Alertmanager matchers, ANDed: a list, or one string '{a=\"b\"}'."
    )
    on_firing: list[dict[str, Any]] = Field(
        default_factory=list, description="Steps run once when an alert episode starts firing."
    )
    on_resolved: list[dict[str, Any]] = Field(
        default_factory=list, description="Steps run once when the episode resolves."
    )
    cooldown: Duration = Field(
        default=0.0, description="No new firing run within this long of the last one started."
    )
    max_concurrent: int = Field(
        default=1, ge=1, description="Runs of this reflex executing at once; more wait their turn."
    )
    dry_run: bool = Field(
        default=False, description="Render the steps into the run record and execute nothing."
    )
    resolve_delay: Duration = Field(
        default=0.0,
        description="Wait this long before resolved steps; a new firing meanwhile is a flap.",
    )

    active_time_intervals: list[str] = Field(
        default_factory=list,
        description="Names of time_intervals: firing runs only inside one of them.",
    )
    mute_time_intervals: list[str] = Field(
        default_factory=list,
        description="Names of time_intervals: no firing runs inside any of them.",
    )
    storm_guard: StormGuard | None = Field(
        default=None, description="This reflex: at most max_runs firing runs per window."
    )
    delay: Duration = Field(
        default=0.0,
        description="Run the firing steps only if the alert still fires after this long "
        "(no resolve arrived; and Alertmanager still lists it, with settings.alertmanager_url).",
    )
    max_failures: int | None = Field(
        default=None,
        ge=1,
        description="Circuit breaker: after this many failed runs in a row the reflex "
        "disables itself until an operator enables it again.",
    )

    cancel_on_resolve: bool = Field(
        default=False,
        description="When the alert resolves, kill a firing run that is still running.",
    )
    approval: Literal["none", "required"] = Field(
        default="none",
        description="required: firing runs wait in awaiting_approval until an operator "
        "approves or rejects them.",
    )
    approval_timeout: Annotated[Duration, Field(gt=0)] = Field(
        default=3600.0, description="A run nobody approved within this long expires."
    )

    @model_validator(mode="after")
    def _has_steps(self) -> ReflexConfig:
        if not self.on_firing and not self.on_resolved:
            raise ValueError("a reflex needs on_firing or on_resolved steps")
        return self


class ConfigFile(_Strict):
    reflexes: list[ReflexConfig] = Field(default_factory=list)
    settings: Settings | None = None
    time_intervals: list[NamedTimeInterval] = Field(
        default_factory=list,
        description="Named time intervals in Alertmanager's syntax, for reflexes to reference.",
    )


STEP_KEYS = frozenset({"name", "continue_on_error"})
