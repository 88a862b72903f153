"""Alertmanager webhook payloads for tests, shaped like the captured fixtures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from alertreflex.core.fingerprint import fingerprint

# Captured from a real Prometheus and Alertmanager; the suite carries its own copies.
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "alertmanager"


def fixture(name: str) -> dict[str, Any]:
    """A real payload captured from Prometheus and Alertmanager (tests/fixtures)."""
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def alert(
    labels: dict[str, str],
    *,
    status: str = "firing",
    starts_at: str = "2026-11-25T03:24:50.701Z",
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": labels,
        "annotations": annotations or {"summary": "test alert"},
        "startsAt": starts_at,
        "endsAt": "2026-11-25T03:30:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://127.0.0.1:19090/graph",
        "fingerprint": fingerprint(labels),
    }


def notification(*alerts: dict[str, Any], status: str | None = None) -> dict[str, Any]:
    common = dict(alerts[0]["labels"]) if alerts else {}
    for a in alerts[1:]:
        common = {k: v for k, v in common.items() if a["labels"].get(k) == v}
    return {
        "receiver": "alertreflex",
        "status": status
        or ("firing" if any(a["status"] == "firing" for a in alerts) else "resolved"),
        "alerts": list(alerts),
        "groupLabels": {"alertname": common.get("alertname", "")},
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:19093",
        "version": "4",
        "groupKey": '{}:{alertname="x"}',
        "truncatedAlerts": 0,
    }
