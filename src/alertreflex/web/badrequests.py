"""aiohttp's server log as structured lines. A request that is not HTTP (a scanner,
TLS on the plain port, a broken client) becomes one ``http_bad_request`` line, and a
client gone in the middle of its request (or closed for its body_timeout) one
``http_client_gone`` line at debug level, at most a few per window each, instead of a
multi-line traceback; aiohttp answers the first 400 and closes the connection itself.
The rest of that log (a handler that crashed) goes through ``StructlogHandler``, its
traceback inside one line."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final

import structlog
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import Counter

from alertreflex.logs import StructlogHandler

log = structlog.get_logger("alertreflex.http")

WINDOW: Final = 10.0  # seconds
PER_WINDOW: Final = 10  # lines per window and event; the next line counts the others
_MAX_ERROR_CHARS: Final = 200  # aiohttp's message quotes the client's bytes


class LineBudget:
    """At most PER_WINDOW lines per WINDOW seconds."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._window_end = 0.0
        self._in_window = 0
        self._suppressed = 0

    def take(self) -> dict[str, int] | None:
        """None: leave this line out. Else the fields to add to it: how many lines
        were left out since the last one, if any."""
        now = self._clock()
        if now >= self._window_end:
            self._window_end = now + WINDOW
            self._in_window = 0
        if self._in_window >= PER_WINDOW:
            self._suppressed += 1
            return None
        self._in_window += 1
        fields = {"suppressed": self._suppressed} if self._suppressed else {}
        self._suppressed = 0
        return fields


class ServerLog(logging.Handler):
    """What aiohttp's ``RequestHandler`` logs: it passes the error as ``exc_info`` of
    "Error handling request from %s" (args: the remote address): a parse error, at
    debug for a bad method on a connection's first request and at error otherwise, or
    whatever the handler raised, ConnectionResetError when the client went away."""

    def __init__(self, bad_requests: Counter, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._bad_requests = bad_requests
        self._bad_budget = LineBudget(clock)
        self._gone_budget = LineBudget(clock)
        self._others = StructlogHandler()

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        args = record.args
        remote = args[0] if isinstance(args, tuple) and len(args) == 1 else None
        if isinstance(exc, HttpProcessingError):
            self._bad_requests.inc()
            if (fields := self._bad_budget.take()) is not None:
                log.info(
                    "http_bad_request",
                    remote=remote,
                    status=exc.code,
                    error=" ".join(str(exc.message).split())[:_MAX_ERROR_CHARS],
                    **fields,
                )
        elif isinstance(exc, ConnectionError):
            if (fields := self._gone_budget.take()) is not None:
                log.debug("http_client_gone", remote=remote, error=str(exc), **fields)
        else:
            self._others.emit(record)


def server_logger(bad_requests: Counter) -> logging.Logger:
    """For ``AppRunner(logger=...)``: a logger outside logging's tree, so that its
    records reach ``ServerLog`` only, debug ones included."""
    logger = logging.Logger("aiohttp.server", logging.DEBUG)
    logger.addHandler(ServerLog(bad_requests))
    return logger
