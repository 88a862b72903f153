"""The Alertmanager webhook payload and the vocabulary of runs.

Pure data: nothing here does I/O. Payload fields keep Alertmanager's camelCase names
so that validation errors name the field as the sender wrote it.

Two senders speak this payload: Alertmanager (``"version": "4"``) and Grafana
Alerting's webhook contact point (``"version": "1"``), whose payload is
Alertmanager's with a few fields more (documented in Grafana's "Configure the
webhook notifier for Alerting"): ``orgId``, ``title``, ``state`` and ``message`` on
the notification; ``values``, ``valueString``, ``dashboardURL``, ``panelURL``,
``silenceURL`` and ``imageURL`` on each alert. Both are taken, and Grafana's fields
reach templates (``alert_context``, ``notification_context``).
"""

from __future__ import annotations

import enum
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter
from pydantic_core import PydanticCustomError

# Alertmanager writes the zero time for "no end" in firing alerts.
_ZERO_TIME_PREFIX = "0001-01-01"
_ZERO_TIME = "0001-01-01T00:00:00Z"
# RFC 3339's date-time as Alertmanager writes it (Go's RFC3339Nano). Pydantic alone
# would also take "1700000000" or "2026-11-25 03:24:50Z" for a time.
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)")


def _rfc3339(value: Any) -> Any:
    if not isinstance(value, str):
        return value  # refused by the strict datetime validation that follows
    if not _RFC3339.fullmatch(value):
        raise PydanticCustomError(
            "datetime_parsing", "not an RFC 3339 timestamp (2026-11-25T03:24:50.701Z)"
        )
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:  # the right shape, but a 13th month
        raise PydanticCustomError(
            "datetime_parsing", "invalid timestamp: {reason}", {"reason": str(exc)}
        ) from None


def _canonical_time(value: datetime) -> datetime:
    if value.tzinfo is None:  # a datetime given as such (a reflex test's YAML)
        raise PydanticCustomError("timezone_aware", "timestamp must carry a time zone (RFC 3339)")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # "0001-01-01T00:00:00+01:00" is before year 1 in UTC
        raise PydanticCustomError("datetime_parsing", "timestamp out of range") from None


Timestamp = Annotated[datetime, BeforeValidator(_rfc3339), AfterValidator(_canonical_time)]


def _timestamp_text(value: str) -> str:
    """``value`` unchanged, once it is known to be a timestamp like startsAt's."""
    if value != _ZERO_TIME:  # the zero time is every firing alert's endsAt
        _canonical_time(_rfc3339(value))
    return value


def _names(kind: str) -> AfterValidator:
    """Refuses the empty name in a label set. Prometheus and Alertmanager take any
    other UTF-8 name (Prometheus 3's UTF-8 names), and JSON strings are UTF-8."""
    message = f"empty {kind} name"

    def check(value: dict[str, str]) -> dict[str, str]:
        if "" in value:
            raise PydanticCustomError("name_empty", message)
        return value

    return AfterValidator(check)


Labels = Annotated[dict[str, str], _names("label")]
Annotations = Annotated[dict[str, str], _names("annotation")]


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
    labels: Labels
    annotations: Annotations = Field(default_factory=dict)
    startsAt: Timestamp
    # Kept as sent (the zero time included) for ends_at, but checked like startsAt.
    endsAt: Annotated[str, AfterValidator(_timestamp_text)] = ""
    generatorURL: str = ""
    fingerprint: str = Field(min_length=1, max_length=256)
    # Grafana Alerting's: the query results by ref id (null when there are none), the
    # same as text (deprecated by Grafana, still sent), and links into Grafana.
    values: dict[str, float] | None = Field(
        default=None, description="Grafana: the values of the rule's queries, by ref id"
    )
    valueString: str = Field(default="", description="Grafana: the values as text")
    dashboardURL: str = Field(default="", description="Grafana: the rule's dashboard")
    panelURL: str = Field(default="", description="Grafana: the rule's panel")
    silenceURL: str = Field(default="", description="Grafana: where to silence the alert")
    imageURL: str = Field(default="", description="Grafana: a screenshot of the panel")

    @property
    def from_grafana(self) -> bool:
        """Whether it carries Grafana's fields (Grafana always sends its own)."""
        return not _GRAFANA_ALERT_FIELDS.isdisjoint(self.model_fields_set)

    @property
    def starts_at(self) -> str:
        """The canonical startsAt: half of the episode key."""
        return self.startsAt.isoformat(timespec="microseconds").replace("+00:00", "Z")

    @property
    def ends_at(self) -> str | None:
        if not self.endsAt or self.endsAt.startswith(_ZERO_TIME_PREFIX):
            return None
        return self.endsAt


_GRAFANA_ALERT_FIELDS = frozenset(
    {"values", "valueString", "dashboardURL", "panelURL", "silenceURL", "imageURL"}
)


class NotificationIn(BaseModel):
    """One POST from Alertmanager (webhook payload version 4), or from Grafana
    Alerting's webhook contact point (version 1: Alertmanager's, with more fields)."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    version: Literal["4", "1"] = Field(description='"4": Alertmanager; "1": Grafana Alerting')
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupKey: str = ""
    truncatedAlerts: int = Field(default=0, ge=0)
    groupLabels: Labels = Field(default_factory=dict)
    commonLabels: Labels = Field(default_factory=dict)
    commonAnnotations: Annotations = Field(default_factory=dict)
    externalURL: str = ""
    alerts: list[AlertIn] = Field(min_length=1)
    # Grafana Alerting's (its documentation says it will deprecate the last three).
    orgId: int | None = Field(default=None, description="Grafana: the organization's id")
    title: str = Field(default="", description="Grafana: the notification's title")
    state: str = Field(default="", description='Grafana: "alerting" or "ok"')
    message: str = Field(default="", description="Grafana: the notification as text")

    @property
    def from_grafana(self) -> bool:
        return self.version == "1"


NOTIFICATION_ADAPTER: TypeAdapter[NotificationIn] = TypeAdapter(NotificationIn)


def alert_context(alert: AlertIn) -> dict[str, Any]:
    """The ``alert`` object that templates and commands see. Grafana's fields are
    there only for Grafana's alerts: a template that uses one on an Alertmanager
    alert fails, as for any missing attribute, unless it gives a ``default``."""
    ctx: dict[str, Any] = {
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "status": alert.status,
        "starts_at": alert.starts_at,
        "ends_at": alert.ends_at,
        "fingerprint": alert.fingerprint,
        "generator_url": alert.generatorURL,
    }
    if alert.from_grafana:
        ctx.update(
            # Not "values": in a template, alert.values is the mapping's own method.
            query_values=dict(alert.values or {}),
            value_string=alert.valueString,
            dashboard_url=alert.dashboardURL,
            panel_url=alert.panelURL,
            silence_url=alert.silenceURL,
            image_url=alert.imageURL,
        )
    return ctx


def notification_context(n: NotificationIn) -> dict[str, Any]:
    """The ``notification`` object that templates see; Grafana's fields only for
    Grafana's notifications."""
    ctx: dict[str, Any] = {
        "receiver": n.receiver,
        "status": n.status,
        "group_key": n.groupKey,
        "group_labels": dict(n.groupLabels),
        "common_labels": dict(n.commonLabels),
        "common_annotations": dict(n.commonAnnotations),
        "external_url": n.externalURL,
    }
    if n.from_grafana:
        ctx.update(org_id=n.orgId, title=n.title, state=n.state, message=n.message)
    return ctx
