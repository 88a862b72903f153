"""The webhook payload model: what Alertmanager sends is accepted, nothing else."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from alertreflex.core.models import (
    NOTIFICATION_ADAPTER,
    NotificationIn,
    alert_context,
    notification_context,
)
from alertreflex.core.templates import TemplateError, TemplateTree
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


# --- Grafana Alerting's webhook contact point ------------------------------------
# No Grafana runs here: tests/fixtures/grafana/ holds payloads built from Grafana's
# documented webhook format (see its README).

GRAFANA = Path(__file__).resolve().parents[1] / "fixtures" / "grafana"


def grafana(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((GRAFANA / name).read_text())
    return doc


def test_grafana_payloads_are_accepted_with_their_fields() -> None:
    """Grafana's version "1" payload parses: its times (nanoseconds, an offset) become
    the episode key like Alertmanager's, and its extra fields are kept."""
    n = NOTIFICATION_ADAPTER.validate_json(json.dumps(grafana("firing.json")))
    (a,) = n.alerts
    assert n.version == "1" and n.orgId == 1 and n.state == "alerting"
    assert a.starts_at == "2026-11-25T03:24:50.123456Z"
    assert a.ends_at is None  # Grafana's zero endsAt, as Alertmanager's
    assert a.values == {"A": 93.25, "B": 1.0}
    assert a.valueString.startswith("[ var='A'")
    resolved = NOTIFICATION_ADAPTER.validate_json(json.dumps(grafana("resolved.json")))
    assert resolved.state == "ok" and resolved.alerts[0].ends_at is not None


def test_grafana_fields_reach_the_template_context() -> None:
    """Grafana's fields are in the context under the context's own naming; an
    Alertmanager alert's context has none of them, so a template that uses one
    there fails unless it gives a default."""
    n = NOTIFICATION_ADAPTER.validate_json(json.dumps(grafana("firing.json")))
    alert_ctx, notif_ctx = alert_context(n.alerts[0]), notification_context(n)
    assert alert_ctx["query_values"] == {"A": 93.25, "B": 1.0}
    # Named so that a template can reach it: alert.values would be the dict's method.
    assert TemplateTree("{{ alert.query_values.A }}").render({"alert": alert_ctx}) == "93.25"
    assert alert_ctx["value_string"] == n.alerts[0].valueString
    assert alert_ctx["dashboard_url"].startswith("http://grafana.example:3000/d/warehouse-disks")
    assert alert_ctx["panel_url"].endswith("viewPanel=4")
    assert alert_ctx["silence_url"].startswith("http://grafana.example:3000/alerting/silence")
    assert alert_ctx["image_url"] == ""
    assert notif_ctx["org_id"] == 1
    assert notif_ctx["title"].startswith("[FIRING:1] DiskAlmostFull")
    assert notif_ctx["state"] == "alerting" and notif_ctx["message"].startswith("**Firing**")
    am = NOTIFICATION_ADAPTER.validate_json(json.dumps(fixture("firing.json")))
    assert "value_string" not in alert_context(am.alerts[0])
    assert "title" not in notification_context(am)
    shared = TemplateTree("{{ alert.value_string | default('none') }}")
    assert shared.render({"alert": alert_context(am.alerts[0])}) == "none"
    assert shared.render({"alert": alert_ctx}) == n.alerts[0].valueString
    with pytest.raises(TemplateError, match="value_string"):
        TemplateTree("{{ alert.value_string }}").render({"alert": alert_context(am.alerts[0])})


def test_grafana_values_may_be_null_and_must_be_numbers() -> None:
    """An alert without query values (``null``, as Go writes an empty map) is
    accepted; a value that is not a number is refused, naming the field."""
    doc = grafana("firing.json")
    doc["alerts"][0]["values"] = None
    n = NOTIFICATION_ADAPTER.validate_json(json.dumps(doc))
    assert alert_context(n.alerts[0])["query_values"] == {}
    doc["alerts"][0]["values"] = {"A": "93"}
    with pytest.raises(ValidationError) as info:
        NOTIFICATION_ADAPTER.validate_json(json.dumps(doc))
    assert [e["loc"] for e in info.value.errors()] == [("alerts", 0, "values", "A")]


def test_other_versions_are_still_refused() -> None:
    """Only Alertmanager's "4" and Grafana's "1" are payloads alertreflex knows."""
    errors = refusal(lambda p: p.update(version="2"))
    assert errors == [("version", "Input should be '4' or '1'")]
