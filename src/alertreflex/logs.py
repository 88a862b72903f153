"""Structured logs on standard error, as Prometheus and Alertmanager write theirs.

``logfmt`` (the default) is go-kit's format: ``ts=2026-01-05T08:00:00.123Z level=info
msg=listening address=http://127.0.0.1:8976``, one line per record, a value quoted only
when it must be (a space, ``=``, ``"``, a control character, or empty) and escaped
inside the quotes, so that any logfmt parser (Loki, Vector, go-logfmt) reads back the
exact text. ``json`` writes the same record as one JSON object per line. Either way
``ts``, ``level`` and ``msg`` come first, the level is one of debug, info, warn, error
(go-kit's names), and a traceback is the escaped ``exception`` field of its line.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
import structlog
from structlog.typing import EventDict, WrappedLogger

LogFormat = Literal["logfmt", "json"]

_STANDARD_LEVELS = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL)
# structlog's method names as go-kit (Prometheus 2, Alertmanager) spells the levels.
_LEVEL_NAMES = {"warning": "warn", "exception": "error"}


class StructlogHandler(logging.Handler):
    """Records of the standard library's logging (aiohttp, asyncio, asyncpg, warnings)
    as lines like alertreflex's own: the message is ``msg``, the logger's name the
    ``logger`` field, and a traceback the escaped ``exception`` field of the same line."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields: dict[str, Any] = {"logger": record.name}
            if record.exc_info:
                fields["exc_info"] = record.exc_info
            # A library's own level (aiohttp has none, others may) as the nearest
            # standard one below it: structlog knows only those.
            level = max((n for n in _STANDARD_LEVELS if n <= record.levelno), default=0)
            message = record.getMessage().rstrip("\n")  # a warning's text ends in one
            structlog.get_logger().log(level or logging.DEBUG, message, **fields)
        except Exception:  # logging's rule: a failing handler must not raise
            self.handleError(record)


def _add_level(_: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    event_dict["level"] = _LEVEL_NAMES.get(method_name, method_name)
    return event_dict


def _add_timestamp(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    # UTC to the millisecond with a Z, as Prometheus and Alertmanager write ``ts``.
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    event_dict["ts"] = now.removesuffix("+00:00") + "Z"
    return event_dict


def _message_first(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """structlog's ``event`` becomes ``msg``; ts, level and msg lead, the fields follow
    in the order they were given."""
    record = {
        "ts": event_dict.pop("ts", None),
        "level": event_dict.pop("level", None),
        "msg": event_dict.pop("event", ""),
    }
    record.update(event_dict)
    return record


# A value is quoted when a reader would otherwise split or misread it; inside quotes,
# anything that would end the line or the value is escaped. Python's own line breaks
# beyond \n and \r (NEL, U+2028/9) count too, or str.splitlines() would cut a record.
# A lone surrogate (undecodable bytes that were carried along) cannot be written as
# UTF-8: it becomes an escaped U+FFFD, as go-logfmt writes U+FFFD itself.
_NEEDS_QUOTES = re.compile('[\\x00-\\x20="\\x7f\\x85\\u2028\\u2029\\ud800-\\udfff\\ufffd]')
_TO_ESCAPE = re.compile('[\\x00-\\x1f"\\\\\\x7f\\x85\\u2028\\u2029\\ud800-\\udfff\\ufffd]')
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_BAD_KEY = re.compile('[\\x00-\\x20="\\x7f-\\x9f\\u2028\\u2029\\ud800-\\udfff\\ufffd]')


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if (short := _SHORT_ESCAPES.get(char)) is not None:
        return short
    if "\ud800" <= char <= "\udfff" or char == "\ufffd":
        return "\\ufffd"
    return f"\\u{ord(char):04x}"


def _as_text(value: Any) -> str | None:
    """A field's value as logfmt text; None for a missing value (go-kit's ``null``)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple | dict | set | frozenset):
        # JSON, which log tools can take apart further, rather than Python's repr.
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        try:
            return json.dumps(items, ensure_ascii=False, default=str, separators=(",", ":"))
        except (TypeError, ValueError):  # keys JSON cannot have, a cycle
            return str(value)
    return str(value)


def logfmt_value(value: Any) -> str:
    text = _as_text(value)
    if text is None:
        return "null"
    # "null" is quoted so that it is not read as a missing value; "" so that it shows.
    if text and text != "null" and not _NEEDS_QUOTES.search(text):
        return text
    return '"' + _TO_ESCAPE.sub(_escape, text) + '"'


def logfmt_line(record: Mapping[str, Any]) -> str:
    parts = []
    for key, value in record.items():
        name = _BAD_KEY.sub("_", str(key)) or "_"
        parts.append(f"{name}={logfmt_value(value)}")
    return " ".join(parts)


def _render_logfmt(_: WrappedLogger, __: str, event_dict: EventDict) -> str:
    return logfmt_line(event_dict)


def _render_json(_: WrappedLogger, __: str, event_dict: EventDict) -> str:
    try:
        return orjson.dumps(event_dict, default=str).decode()
    except TypeError:  # orjson refuses lone surrogates and non-str keys; json does not
        return json.dumps(event_dict, default=str, skipkeys=True)


def configure_logging(level: str = "info", fmt: LogFormat = "logfmt") -> None:
    numeric = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _add_level,
            _add_timestamp,
            structlog.processors.format_exc_info,
            _message_first,
            _render_json if fmt == "json" else _render_logfmt,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Libraries' own records: warnings and worse (their info is not ours to show),
    # through structlog rather than logging's last-resort multi-line output. Python's
    # warnings (a DeprecationWarning, an unclosed resource) are records too.
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, StructlogHandler)]:
        root.removeHandler(old)
    root.addHandler(StructlogHandler(max(logging.WARNING, numeric)))
    logging.captureWarnings(True)
