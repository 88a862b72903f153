"""prometheus-am-executor's ``AMX_*`` environment variables, for one alert.

am-executor (github.com/imgix/prometheus-am-executor) describes a whole notification
to its commands: ``AMX_LABEL_<name>`` and ``AMX_ANNOTATION_<name>`` hold the labels
and annotations common to the group, ``AMX_GLABEL_<name>`` the group labels, and
``AMX_ALERT_<n>_*`` each alert. An ``exec`` step with ``amx_env: true`` sets them
for the run's one alert (``AMX_ALERT_LEN=1``), so the common labels and annotations
are that alert's own, and scripts written for am-executor (``alertreflex
convert-amx``) keep working.

Names keep their spelling, as am-executor builds them (``AMX_LABEL_instance``, not
upper-cased). A character other than an ASCII letter, a digit or ``_`` (possible in
Prometheus 3's UTF-8 label names) becomes ``_``, as in the ``ALERT_LABEL_*`` names:
a shell can then read the variable, and an ``=`` cannot make one name pose as
another. Values are data, passed as they are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

_NOT_NAME_CHAR = re.compile(r"[^A-Za-z0-9_]")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_GO_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)


def amx_environment(alert: Mapping[str, Any], notification: Mapping[str, Any]) -> dict[str, str]:
    """The ``AMX_*`` variables am-executor would set for a notification of this one alert.

    ``alert`` and ``notification`` are the run's context objects (``alert_context``,
    ``notification_context``); a missing key gives an empty value.
    """
    status = _text(alert.get("status"))
    env = {
        "AMX_RECEIVER": _text(notification.get("receiver")),
        "AMX_STATUS": status,
        "AMX_EXTERNAL_URL": _text(notification.get("external_url")),
        "AMX_ALERT_LEN": "1",
        "AMX_ALERT_1_STATUS": status,
        "AMX_ALERT_1_START": epoch_seconds(alert.get("starts_at")),
        "AMX_ALERT_1_END": epoch_seconds(alert.get("ends_at")),
        "AMX_ALERT_1_URL": _text(alert.get("generator_url")),
        "AMX_ALERT_1_FINGERPRINT": _text(alert.get("fingerprint")),
    }
    _add(env, ("AMX_LABEL_", "AMX_ALERT_1_LABEL_"), alert.get("labels"))
    _add(env, ("AMX_GLABEL_",), notification.get("group_labels"))
    _add(env, ("AMX_ANNOTATION_", "AMX_ALERT_1_ANNOTATION_"), alert.get("annotations"))
    return env


def epoch_seconds(value: Any) -> str:
    """An RFC 3339 time as am-executor writes it: Go's ``Time.Unix()``, whole seconds
    since the epoch rounded down, or ``0`` for Go's zero time (a firing alert's
    ``endsAt``). No time, or one without a date, a time of day and an offset, is
    ``0`` as well: am-executor could never write anything but a number.
    """
    if not isinstance(value, str) or not value:
        return "0"
    try:
        when = datetime.fromisoformat(value)
        if when.tzinfo is None or when == _GO_ZERO_TIME:
            return "0"
        # Integer arithmetic: exact for any date, and rounded down before 1970 as Go does.
        return str((when - _EPOCH) // _SECOND)
    except (ValueError, OverflowError):
        return "0"


def _add(env: dict[str, str], prefixes: tuple[str, ...], values: Any) -> None:
    if not isinstance(values, Mapping):
        return
    # Sorted so that two names that map to one variable (``a.b``, ``a_b``) always
    # resolve the same way.
    for name in sorted(values, key=str):
        suffix = _NOT_NAME_CHAR.sub("_", str(name))
        for prefix in prefixes:
            env[prefix + suffix] = _text(values[name])


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)
