"""Field types shared by the config schema and the action parameter models."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from alertreflex.core.durations import format_duration, parse_duration


def _to_seconds(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("duration must be a string like '30s', not a boolean")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("duration must not be negative")
        return float(value)
    return parse_duration(value)


Duration = Annotated[
    float,
    BeforeValidator(_to_seconds),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^(0|(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?)$",
            "description": "A Prometheus duration such as 30s, 5m or 1h30m.",
        }
    ),
]
"""Seconds, written in config as a Prometheus duration (``30s``, ``1h30m``)."""
