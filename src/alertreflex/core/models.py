"""The Alertmanager webhook payload and the vocabulary of runs.

Pure data: nothing here does I/O. Payload fields keep Alertmanager's camelCase names
so that validation errors name the field as the sender wrote it.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter

# Alertmanager writes the zero time for "no end" in firing alerts.
_ZERO_TIME_PREFIX = "0001-01-01"


def _canonical_time(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must carry a time zone (RFC 3339)")
    return value.astimezone(UTC)


Timestamp = Annotated[datetime, AfterValidator(_canonical_time)]


class Trigger(enum.StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"
    # Put back what reversible steps changed before the alert resolved: after their
    # max_duration, or when alertreflex shuts down.
    RESTORE = "restore"


class RunState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"
    # approval: required: waits for an operator, who approves (queued again) or
    # rejects it, or nobody does within approval_timeout (expired).
    AWAITING_APPROVAL = "awaiting_approval"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"  # cancel_on_resolve: the alert resolved while it ran

    @property
    def finished(self) -> bool:
        return self in _FINISHED


_FINISHED = frozenset(
    {
        RunState.SUCCEEDED,
        RunState.FAILED,
        RunState.TIMED_OUT,
        RunState.SKIPPED,
        RunState.REJECTED,
        RunState.EXPIRED,
        RunState.CANCELLED,
    }
)


class AlertIn(BaseModel):
    """One alert of a webhook notification, as Alertmanager sends it."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: Timestamp
    endsAt: str = ""
    generatorURL: str = ""
    fingerprint: str = Field(min_length=1, max_length=256)

    @property
    def starts_at(self) -> str:
        """The canonical startsAt: half of the episode key."""
        return self.startsAt.isoformat(timespec="microseconds").replace("+00:00", "Z")

    @property
    def ends_at(self) -> str | None:
        if not self.endsAt or self.endsAt.startswith(_ZERO_TIME_PREFIX):
            return None
        return self.endsAt


class NotificationIn(BaseModel):
    """One POST from Alertmanager: webhook payload version 4."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupKey: str = ""
    truncatedAlerts: int = Field(default=0, ge=0)
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    alerts: list[AlertIn] = Field(min_length=1)


NOTIFICATION_ADAPTER: TypeAdapter[NotificationIn] = TypeAdapter(NotificationIn)


def alert_context(alert: AlertIn) -> dict[str, Any]:
    """The ``alert`` object that templates and commands see."""
    return {
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "status": alert.status,
        "starts_at": alert.starts_at,
        "ends_at": alert.ends_at,
        "fingerprint": alert.fingerprint,
        "generator_url": alert.generatorURL,
    }


def notification_context(n: NotificationIn) -> dict[str, Any]:
    """The ``notification`` object that templates see."""
    return {
        "receiver": n.receiver,
        "status": n.status,
        "group_key": n.groupKey,
        "group_labels": dict(n.groupLabels),
        "common_labels": dict(n.commonLabels),
        "common_annotations": dict(n.commonAnnotations),
        "external_url": n.externalURL,
    }
