"""The webhook payload model: what Alertmanager sends is accepted, nothing else."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from alertreflex.core.models import NOTIFICATION_ADAPTER, NotificationIn
from tests.payloads import alert, fixture, notification


def parsed(change: Callable[[dict[str, Any]], object]) -> NotificationIn:
    """The captured firing payload, changed, read as the webhook reads it."""
    payload = fixture("firing.json")
    change(payload)
    return NOTIFICATION_ADAPTER.validate_json(json.dumps(payload))


def refusal(change: Callable[[dict[str, Any]], object]) -> list[tuple[str, str]]:
    """(path, message) of each error of the changed payload."""
    with pytest.raises(ValidationError) as info:
        parsed(change)
    return [(".".join(map(str, e["loc"])), e["msg"]) for e in info.value.errors()]


def test_captured_payloads_are_accepted() -> None:
    """Real Alertmanager payloads, firing (zero endsAt) and resolved, still parse."""
    firing = parsed(lambda p: None)
    assert firing.alerts[0].ends_at is None
    resolved = NOTIFICATION_ADAPTER.validate_json(json.dumps(fixture("resolved.json")))
    assert resolved.alerts[0].ends_at == fixture("resolved.json")["alerts"][0]["endsAt"]


@pytest.mark.parametrize(
    "ends_at",
    ["x", "", "2026-11-25T03:24:50", "2026-11-25 03:24:50Z", "1700000000", "2026-13-01T00:00:00Z"],
)
def test_ends_at_must_be_an_rfc3339_timestamp(ends_at: str) -> None:
    """endsAt is checked like startsAt, and names itself."""
    errors = refusal(lambda p: p["alerts"][0].update(endsAt=ends_at))
    assert [path for path, _ in errors] == ["alerts.0.endsAt"]


def test_ends_at_keeps_what_alertmanager_sent() -> None:
    """Go's nanoseconds and an offset are valid, and the text is kept as sent."""
    text = "2026-11-25T05:30:00.123456789+02:00"
    assert parsed(lambda p: p["alerts"][0].update(endsAt=text)).alerts[0].ends_at == text


@pytest.mark.parametrize("starts_at", ["1700000000", "0001-01-01T00:00:00+01:00"])
def test_starts_at_that_is_not_a_time_is_refused(starts_at: str) -> None:
    """A number in a string and a time before year 1 in UTC are refused with a
    message, not taken for a time nor raised as a server error."""
    errors = refusal(lambda p: p["alerts"][0].update(startsAt=starts_at))
    assert [path for path, _ in errors] == ["alerts.0.startsAt"]


@pytest.mark.parametrize(
    ("where", "field", "message"),
    [
        (lambda p: p["alerts"][0], "labels", "empty label name"),
        (lambda p: p["alerts"][0], "annotations", "empty annotation name"),
        (lambda p: p, "commonLabels", "empty label name"),
        (lambda p: p, "groupLabels", "empty label name"),
        (lambda p: p, "commonAnnotations", "empty annotation name"),
    ],
)
def test_empty_names_are_refused(
    where: Callable[[dict[str, Any]], dict[str, Any]], field: str, message: str
) -> None:
    """An empty label or annotation name is an error naming the label set."""
    errors = refusal(lambda p: where(p)[field].update({"": "x"}))
    path = "alerts.0." + field if field in ("labels", "annotations") else field
    assert errors == [(path, message)]


def test_utf8_label_names_are_accepted() -> None:
    """Prometheus 3 and Alertmanager 0.28 allow any UTF-8 label name."""
    labels = {"alertname": "X", "team": "t", "service.name": "api", "équipe": "ü"}
    n = NOTIFICATION_ADAPTER.validate_json(json.dumps(notification(alert(labels))))
    assert n.alerts[0].labels == labels
