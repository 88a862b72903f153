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

from alertreflex.lograte import LogBudget
from alertreflex.logs import StructlogHandler

log = structlog.get_logger("alertreflex.http")

WINDOW: Final = 10.0  # seconds
PER_WINDOW: Final = 10  # lines per window and event; the next line counts the others


def _budget(clock: Callable[[], float]) -> LogBudget:
    return LogBudget(PER_WINDOW, PER_WINDOW / WINDOW, clock)


def _suppressed(left_out: int) -> dict[str, int]:
    return {"suppressed": left_out} if left_out else {}


_MAX_ERROR_CHARS: Final = 200  # aiohttp's message quotes the client's bytes


class ServerLog(logging.Handler):
    """What aiohttp's ``RequestHandler`` logs: it passes the error as ``exc_info`` of
    "Error handling request from %s" (args: the remote address): a parse error, at
    debug for a bad method on a connection's first request and at error otherwise, or
    whatever the handler raised, ConnectionResetError when the client went away."""

    def __init__(self, bad_requests: Counter, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._bad_requests = bad_requests
        self._bad_budget = _budget(clock)
        self._gone_budget = _budget(clock)
        self._others = StructlogHandler()

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        args = record.args
        remote = args[0] if isinstance(args, tuple) and len(args) == 1 else None
        if isinstance(exc, HttpProcessingError):
            self._bad_requests.inc()
            if (left_out := self._bad_budget.take()) is not None:
                log.info(
                    "http_bad_request",
                    remote=remote,
                    status=exc.code,
                    error=" ".join(str(exc.message).split())[:_MAX_ERROR_CHARS],
                    **_suppressed(left_out),
                )
        elif isinstance(exc, ConnectionError):
            if (left_out := self._gone_budget.take()) is not None:
                log.debug(
                    "http_client_gone", remote=remote, error=str(exc), **_suppressed(left_out)
                )
        else:
            self._others.emit(record)


def server_logger(bad_requests: Counter) -> logging.Logger:
    """For ``AppRunner(logger=...)``: a logger outside logging's tree, so that its
    records reach ``ServerLog`` only, debug ones included."""
    logger = logging.Logger("aiohttp.server", logging.DEBUG)
    logger.addHandler(ServerLog(bad_requests))
    return logger
