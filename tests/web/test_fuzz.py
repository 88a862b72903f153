"""Property-based: malformed payloads at /webhook get 4xx, never 5xx, and the
service stays up."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.payloads import fixture

CONFIG = """\
reflexes:
  - name: r
    team: warehouse
    match: []
    dry_run: true
    on_firing: [{exec: {command: ["echo", "{{ alert.labels.alertname }}"]}}]
"""

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = [
    "version",
    "status",
    "receiver",
    "alerts",
    "groupLabels",
    "commonLabels",
    "externalURL",
    "groupKey",
    "truncatedAlerts",
]
ALERT_FIELDS = [
    "status",
    "labels",
    "annotations",
    "startsAt",
    "endsAt",
    "fingerprint",
    "generatorURL",
]


@st.composite
def mutated_payloads(draw: st.DrawFn) -> bytes:
    """A real payload with one part replaced, removed or garbled."""
    payload: dict[str, Any] = fixture("firing.json")
    kind = draw(st.sampled_from(["top", "alert", "bytes", "labels"]))
    if kind == "top":
        key = draw(st.sampled_from(FIELDS))
        if draw(st.booleans()):
            payload.pop(key)
        else:
            payload[key] = draw(json_values)
    elif kind == "alert":
        key = draw(st.sampled_from(ALERT_FIELDS))
        payload["alerts"][0][key] = draw(json_values)
    elif kind == "labels":
        payload["alerts"][0]["labels"] = draw(json_values)
    else:
        raw = json.dumps(payload).encode()
        cut = draw(st.integers(0, len(raw)))
        return raw[:cut] + draw(st.binary(max_size=20))
    return json.dumps(payload).encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from tests.conftest import ServerProcess

    d = tmp_path_factory.mktemp("fuzz")
    (d / "c.yml").write_text(CONFIG)
    srv = ServerProcess(d / "c.yml", d / "db.sqlite", d / "log").start()
    yield srv
    srv.stop()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=mutated_payloads())
def test_malformed_payloads_get_4xx(server, body: bytes) -> None:  # type: ignore[no-untyped-def]
    """Whatever the body, the answer is 200 (if still valid) or 4xx, never 5xx."""
    resp = httpx.post(f"{server.url}/webhook", content=body, timeout=10)
    assert resp.status_code in (200, 400), (resp.status_code, resp.text, body[:300])
    if resp.status_code == 400:
        assert resp.json()["error"].startswith("invalid Alertmanager payload")


@settings(max_examples=100, deadline=None)
@given(body=st.binary(max_size=2000))
def test_random_bytes_get_400(server, body: bytes) -> None:  # type: ignore[no-untyped-def]
    """Random bytes are a 400, and the service keeps answering."""
    resp = httpx.post(f"{server.url}/webhook", content=body, timeout=10)
    assert resp.status_code == 400


def test_deep_nesting_and_huge_numbers(server) -> None:  # type: ignore[no-untyped-def]
    """Pathological JSON is a 400, not a crash."""
    for body in [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"version": 1e999999}',
        b'{"truncatedAlerts": 123456789012345678901234567890}',
        b"\xff\xfe",
    ]:
        resp = httpx.post(f"{server.url}/webhook", content=body, timeout=10)
        assert resp.status_code == 400, (body[:50], resp.text)
    assert httpx.get(f"{server.url}/-/healthy", timeout=5).status_code == 200
    assert server.proc.poll() is None
