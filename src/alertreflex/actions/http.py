"""The ``http`` action: call an HTTP API, with retries and an idempotency key.

Every request carries ``Idempotency-Key: <run id>`` (a step cannot override it), so a
receiver can recognise the retries of one run, whether they come from this action's
own retries or from a run that was picked up again after a crash.

Retries, with a doubling backoff, happen only when another attempt may succeed:
connection errors, timeouts, 429 and 5xx. A ``Retry-After`` header given in seconds
lengthens the wait (up to a minute). Other 4xx, TLS verification failures and
invalid URLs fail at once. Redirects are not followed: a 3xx is a failure unless
``expect_status`` lists it.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import ConfigDict, Field, field_validator, model_validator

import alertreflex
from alertreflex.actions._output import CappedBuffer
from alertreflex.actions.base import Action, ActionContext, ActionParams, StepOutcome, StepResult
from alertreflex.core.types import Duration

if TYPE_CHECKING:
    # At run time httpx is imported by the methods that send: a server whose
    # reflexes make no HTTP calls is spared its few MiB of RSS.
    import httpx

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
USER_AGENT = f"alertreflex/{alertreflex.__version__}"
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_RETRY_AFTER = 60.0

# RFC 9110 token: what a header name may be made of.
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


class HttpParams(ActionParams):
    """Parameters of an ``http`` step."""

    model_config = ConfigDict(populate_by_name=True)

    url: str = Field(
        min_length=1,
        description="The URL to call, http:// or https://.",
        examples=["https://api.example.com/hooks/{{ alert.labels.service | path_segment }}"],
    )
    method: str = Field(
        default="POST",
        description=f"The HTTP method, one of {', '.join(HTTP_METHODS)} (any case).",
        json_schema_extra={"enum": [*HTTP_METHODS, *(m.lower() for m in HTTP_METHODS)]},
    )
    headers: dict[str, str] = Field(
        default={},
        description=(
            "Request headers. Idempotency-Key is always the run id and cannot be set "
            "here; User-Agent defaults to alertreflex/<version>."
        ),
    )
    json_body: Any = Field(
        default=None,
        alias="json",
        description=(
            "A value sent as the JSON request body (Content-Type: application/json). "
            "Exclusive with 'body'."
        ),
    )
    body: str | None = Field(
        default=None,
        description="A raw request body, sent as UTF-8. Exclusive with 'json'.",
    )
    timeout: Annotated[Duration, Field(gt=0)] = Field(
        default="10s",
        validate_default=True,
        description="Time limit of each attempt, from connecting to the end of the response.",
    )
    expect_status: list[Annotated[int, Field(ge=100, le=599)]] | None = Field(
        default=None,
        min_length=1,
        description="The status codes that count as success; by default any 2xx.",
    )
    retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description=(
            "How many times to try again after a connection error, a timeout, "
            "a 429 or a 5xx. Other responses are never retried."
        ),
    )
    retry_backoff: Duration = Field(
        default="1s",
        validate_default=True,
        description="Wait before the first retry; it doubles before each further retry.",
    )
    verify_tls: bool = Field(
        default=True,
        description=(
            "Verify the server's TLS certificate. Turn off only for self-signed test endpoints."
        ),
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        # Raw config values may still be templates ("{{ base }}/hook"): only a URL that
        # is already literal can be checked here; the rendered one is checked again.
        if "{{" in value or "{%" in value:
            return value
        if not value.lower().startswith(("http://", "https://")):
            raise ValueError(f"URL {value!r} must start with http:// or https://")
        return value

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        method = value.upper()
        if method not in HTTP_METHODS:
            raise ValueError(f"unknown HTTP method {value!r}: use one of {', '.join(HTTP_METHODS)}")
        return method

    @field_validator("headers")
    @classmethod
    def _valid_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _TOKEN.match(name):
                raise ValueError(f"invalid header name {name!r}")
            if any(c in text for c in "\r\n\0"):
                # Rendered alert data must never be able to inject headers.
                raise ValueError(f"header {name!r}: value must not contain CR, LF or NUL")
            if name.lower() == IDEMPOTENCY_HEADER.lower():
                raise ValueError(
                    f"header {name!r} cannot be set: alertreflex always sends "
                    f"{IDEMPOTENCY_HEADER}: <run id>"
                )
        return value

    @model_validator(mode="after")
    def _one_body(self) -> HttpParams:
        if self.json_body is not None and self.body is not None:
            raise ValueError("'json' and 'body' are mutually exclusive: set only one of them")
        return self


class HttpClientParams(ActionParams):
    """The connection parameters of actions built on ``http`` (``log_level``,
    ``am_silence``): each of their requests is an ``http`` step of its own."""

    headers: dict[str, str] = Field(
        default={}, description="Headers sent with every request (authentication)."
    )
    timeout: Annotated[Duration, Field(gt=0)] = Field(
        default="10s", validate_default=True, description="Time limit of each attempt."
    )
    retries: int = Field(default=2, ge=0, le=10, description="As for http.")
    verify_tls: bool = Field(default=True, description="Verify the server's TLS certificate.")

    def request(
        self, method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> HttpParams:
        """A JSON request with these connection parameters (validated like any step)."""
        return HttpParams(
            url=url,
            method=method,
            headers={"Accept": "application/json", **self.headers, **(headers or {})},
            json=body,
            timeout=self.timeout,
            retries=self.retries,
            retry_backoff=0.5,
            verify_tls=self.verify_tls,
        )


@dataclass
class Exchange:
    """The last attempt of a request: its response, or why there was none."""

    status: int | None = None
    body: CappedBuffer | None = None
    content_type: str | None = None
    error: str | None = None
    timed_out: bool = False
    retryable: bool = False
    retry_after: float | None = None
    sent: bool = True  # False when the request could not even be built
    attempts: int = 1

    @property
    def tries(self) -> str:
        return f"{self.attempts} attempt{'' if self.attempts == 1 else 's'}"

    def failure(self) -> StepResult:
        """The step result of an exchange that got no response (``status`` is None)."""
        outcome = StepOutcome.TIMED_OUT if self.timed_out else StepOutcome.FAILED
        summary = f"{self.error} after {self.tries}" if self.sent else str(self.error)
        return StepResult(outcome, summary, details={"error": self.error})


class HttpAction(Action[HttpParams]):
    """Sends one HTTP request, retried on transient failures."""

    type_name: ClassVar[str] = "http"
    Params: ClassVar[type[ActionParams]] = HttpParams

    def __init__(self) -> None:
        self._clients: dict[bool, httpx.AsyncClient] = {}

    def describe(self, params: HttpParams) -> str:
        return f"http {params.method} {params.url}"

    def _client(self, verify: bool) -> httpx.AsyncClient:
        import httpx

        client = self._clients.get(verify)
        if client is None:
            # Every request passes its step's own timeout; this default is never used.
            client = httpx.AsyncClient(verify=verify, follow_redirects=False, timeout=10.0)
            self._clients[verify] = client
        return client

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    async def execute(self, params: HttpParams, ctx: ActionContext) -> StepResult:
        last = await self.exchange(params, ctx.run_id, ctx.output_limit)
        details: dict[str, Any] = {
            "status": last.status,
            "attempts": last.attempts,
            "content_type": last.content_type,
        }
        if last.status is None:
            failed = last.failure()
            failed.details = {**details, **failed.details}
            return failed

        if params.expect_status is None:
            ok = 200 <= last.status < 300
            expected = "2xx"
        else:
            ok = last.status in params.expect_status
            expected = ", ".join(map(str, params.expect_status))
        summary = f"HTTP {last.status} after {last.tries}"
        if not ok:
            summary += f" (expected {expected})"
        outcome = StepOutcome.SUCCEEDED if ok else StepOutcome.FAILED
        output = last.body.text() if last.body is not None else ""
        return StepResult(outcome, summary, output=output, details=details)

    async def exchange(self, params: HttpParams, run_id: str, limit: int) -> Exchange:
        """Send the request, retrying transient failures; keep ``limit`` bytes of the
        last response's body. Other actions fetch through this too."""
        import httpx

        headers = httpx.Headers({"User-Agent": USER_AGENT})
        headers.update(params.headers)
        headers[IDEMPOTENCY_HEADER] = run_id  # replaces any spelling of it

        client = self._client(params.verify_tls)
        attempts = params.retries + 1
        attempt = 1
        while True:
            last = await self._attempt(client, params, headers, limit, final=attempt == attempts)
            last.attempts = attempt
            if not last.retryable or attempt == attempts:
                return last
            delay = params.retry_backoff * 2 ** (attempt - 1)
            if last.retry_after is not None:
                delay = max(delay, min(last.retry_after, MAX_RETRY_AFTER))
            await asyncio.sleep(delay)
            attempt += 1

    async def _attempt(
        self,
        client: httpx.AsyncClient,
        params: HttpParams,
        headers: httpx.Headers,
        limit: int,
        *,
        final: bool,
    ) -> Exchange:
        import httpx

        try:
            request = client.build_request(
                params.method,
                params.url,
                headers=headers,
                json=params.json_body,
                content=params.body.encode() if params.body is not None else None,
                timeout=httpx.Timeout(params.timeout),
            )
        except httpx.InvalidURL as exc:
            return Exchange(error=f"invalid URL {params.url!r}: {exc}", sent=False)
        except (TypeError, ValueError) as exc:
            return Exchange(error=f"cannot encode the request: {exc}", sent=False)

        try:
            # httpx's timeout applies to each network operation; this bounds the whole
            # attempt, so a server that trickles its response cannot stretch it.
            async with asyncio.timeout(params.timeout):
                response = await client.send(request, stream=True)
                try:
                    status = response.status_code
                    retryable = status == 429 or status >= 500
                    if retryable and not final:
                        return Exchange(
                            status=status,
                            retryable=True,
                            retry_after=_retry_after(response),
                        )
                    # Read the whole body so the connection can be reused, keep the head.
                    buf = CappedBuffer(limit)
                    async for chunk in response.aiter_bytes():
                        buf.feed(chunk)
                    return Exchange(
                        status=status,
                        body=buf,
                        content_type=response.headers.get("content-type"),
                    )
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TimeoutException):
            return Exchange(error="timed out", timed_out=True, retryable=True)
        except httpx.ConnectError as exc:
            return _connect_failure(exc)
        except (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError) as exc:
            return Exchange(error=f"connection error ({_reason(exc)})", retryable=True)
        except httpx.UnsupportedProtocol:
            return Exchange(
                error=f"invalid URL {params.url!r}: not http:// or https://", sent=False
            )
        except httpx.HTTPError as exc:
            return Exchange(error=f"request failed ({_reason(exc)})")


def _connect_failure(exc: httpx.ConnectError) -> Exchange:
    cause: BaseException | None = exc
    seen: set[int] = set()
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ConnectionRefusedError):
            return Exchange(error="connection refused", retryable=True)
        if isinstance(cause, ssl.SSLCertVerificationError):
            # Retrying cannot fix a certificate.
            return Exchange(error=f"TLS certificate verification failed ({cause.verify_message})")
        if isinstance(cause, ssl.SSLError):
            return Exchange(error=f"TLS error ({cause.reason or cause})")
        cause = cause.__cause__ or cause.__context__
    return Exchange(error=f"connection failed ({_reason(exc)})", retryable=True)


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    if value.isdigit():
        return float(value)
    return None  # an HTTP-date, or nothing: the backoff decides
