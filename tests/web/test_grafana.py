"""Grafana Alerting's webhook contact point, end to end on a real server.

No Grafana runs here: the payloads in tests/fixtures/grafana/ are built from
Grafana's documented webhook format (their README says from what). Grafana's payload
is Alertmanager's with ``"version": "1"`` and a few fields more; before, it was
refused with 400, which Grafana does not retry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

GRAFANA = Path(__file__).resolve().parents[1] / "fixtures" / "grafana"

CONFIG = """\
reflexes:
  - name: disk-note
    team: warehouse
    match: ['alertname="DiskAlmostFull"', 'grafana_folder="Warehouse"']
    on_firing:
      - exec:
          command:
            - echo
            - "{{ alert.labels.instance }} {{ alert.value_string }}"
            - "A={{ alert.query_values.A }}"
            - "{{ notification.title }} org {{ notification.org_id }}"
            - "{{ alert.panel_url }}"
    on_resolved:
      - exec: {command: [echo, "{{ notification.state }} A={{ alert.query_values.A }}"]}
"""


def grafana(name: str) -> dict[str, Any]:
    """A payload shaped as Grafana's documentation describes it (tests/fixtures/grafana)."""
    doc: dict[str, Any] = json.loads((GRAFANA / name).read_text())
    return doc


def test_grafana_notifications_run_reflexes_with_their_fields(make_server) -> None:  # type: ignore[no-untyped-def]
    """Grafana's firing payload is accepted (200, one run), a reflex matches its
    labels, and its step renders Grafana's fields (value_string, query_values, the title,
    org id and panel link); its resolved payload runs the resolved steps once."""
    srv = make_server(CONFIG)
    firing = grafana("firing.json")
    resp = srv.post(firing)
    assert resp.status_code == 200, resp.text
    assert resp.json()["runs_created"] == 1
    (run,) = srv.wait_runs(1, trigger="firing")
    alert = firing["alerts"][0]
    assert srv.run(run["id"])["steps"][0]["output"] == (
        f"db-1:9100 {alert['valueString']} A=93.25 {firing['title']} org 1 {alert['panelURL']}\n"
    )
    assert srv.post(firing).json()["duplicate"] is True  # Grafana repeats, too
    resolved = srv.post(grafana("resolved.json"))
    assert resolved.status_code == 200 and resolved.json()["runs_created"] == 1
    (done,) = srv.wait_runs(1, trigger="resolved")
    assert srv.run(done["id"])["steps"][0]["output"] == "ok A=71.5\n"
    assert srv.metric('alertreflex_notifications_total{status="invalid"}') == 0


def test_a_grafana_payload_that_is_not_valid_names_the_field(make_server) -> None:  # type: ignore[no-untyped-def]
    """Grafana's extra fields are checked like the others: a value that is not a
    number is a 400 naming it, and nothing is stored."""
    srv = make_server(CONFIG)
    bad = grafana("firing.json")
    bad["alerts"][0]["values"]["A"] = "93.25"
    resp = srv.post(bad)
    assert resp.status_code == 400
    assert "alerts[0].values.A" in resp.json()["error"]
    assert srv.runs() == []
