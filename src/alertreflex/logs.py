"""Structured logs: logfmt-style key=value lines by default, JSON lines on request."""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal

import structlog

LogFormat = Literal["logfmt", "json"]


class StructlogHandler(logging.Handler):
    """Records of the standard library's logging (aiohttp, asyncio, asyncpg, ...) as
    lines like alertreflex's own: the message is the event, the logger's name a field,
    and a traceback the escaped ``exception`` field of the same line."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields: dict[str, Any] = {"logger": record.name}
            if record.exc_info:
                fields["exc_info"] = record.exc_info
            structlog.get_logger().log(record.levelno, record.getMessage(), **fields)
        except Exception:  # logging's rule: a failing handler must not raise
            self.handleError(record)


def configure_logging(level: str = "info", fmt: LogFormat = "logfmt") -> None:
    renderer: structlog.typing.Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.processors.KeyValueRenderer(
            key_order=["ts", "level", "event"], drop_missing=True
        )
    numeric = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Libraries' own records: warnings and worse (their info is not ours to show),
    # through structlog rather than logging's last-resort multi-line output.
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, StructlogHandler)]:
        root.removeHandler(old)
    root.addHandler(StructlogHandler(max(logging.WARNING, numeric)))
