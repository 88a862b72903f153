"""The JSON API under /api/v1 against one real server process with a few finished runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from alertreflex.actions.base import load_action_types, params_models
from alertreflex.config.loader import load_config
from alertreflex.core.fingerprint import fingerprint
from alertreflex.engine.engine import Engine
from alertreflex.store.sqlite import SQLiteStore
from alertreflex.web.app import create_app
from tests.conftest import ServerProcess
from tests.payloads import alert, notification

API_CONFIG = """\
reflexes:
  - name: greet
    team: t
    match: ['alertname = "Greet"']
    on_firing:
      - name: say hello
        exec:
          command: ["echo", "hello {{ alert.labels.instance }} from {{ reflex.name }}"]
          timeout: 5s
      - name: complain
        exec: {command: ["sh", "-c", "echo to-stderr >&2"]}
  - name: broken
    team: t
    match: ['alertname = "Broken"']
    on_firing:
      - exec: {command: ["false"]}
"""

# Posted in this order, one notification each, so created_at increases along the list.
POSTED = [
    {"alertname": "Greet", "team": "t", "instance": "host-0"},
    {"alertname": "Broken", "team": "t", "instance": "host-1"},
    {"alertname": "Greet", "team": "t", "instance": "host-2"},
    {"alertname": "Greet", "team": "t", "instance": "host-3"},
]


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the whole module, holding the finished runs of POSTED."""
    d = tmp_path_factory.mktemp("api")
    (d / "alertreflex.yml").write_text(API_CONFIG)
    server = ServerProcess(d / "alertreflex.yml", d / "alertreflex.db", d / "server.log").start()
    try:
        for labels in POSTED:
            resp = server.post(notification(alert(labels)))
            assert resp.status_code == 200, resp.text
            assert resp.json()["runs_created"] == 1
        server.wait_runs(len(POSTED), states=("succeeded", "failed"))
        yield server
    finally:
        server.stop()


def get(srv: ServerProcess, path: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{srv.url}{path}", params=params, timeout=10)


def test_runs_newest_first(srv: ServerProcess) -> None:
    """Without filters all runs come back, newest first."""
    runs = get(srv, "/api/v1/runs").json()["runs"]
    assert [r["fingerprint"] for r in runs] == [fingerprint(x) for x in reversed(POSTED)]
    created = [r["created_at"] for r in runs]
    assert created == sorted(created, reverse=True)
    assert "steps" not in runs[0] and "alert" not in runs[0]  # summaries only


def test_runs_filter_by_reflex(srv: ServerProcess) -> None:
    """?reflex= returns only that reflex's runs, still newest first."""
    runs = get(srv, "/api/v1/runs", reflex="greet").json()["runs"]
    assert [r["fingerprint"] for r in runs] == [
        fingerprint(x) for x in reversed(POSTED) if x["alertname"] == "Greet"
    ]
    assert {r["reflex"] for r in runs} == {"greet"}
    assert get(srv, "/api/v1/runs", reflex="no-such-reflex").json() == {"runs": []}


def test_runs_filter_by_state(srv: ServerProcess) -> None:
    """?state= returns only runs in that state; it combines with ?reflex=."""
    failed = get(srv, "/api/v1/runs", state="failed").json()["runs"]
    assert [(r["reflex"], r["state"]) for r in failed] == [("broken", "failed")]
    assert failed[0]["reason"] == "step 0 (exec): exit 1"
    ok = get(srv, "/api/v1/runs", state="succeeded").json()["runs"]
    assert len(ok) == 3 and {r["reflex"] for r in ok} == {"greet"}
    assert get(srv, "/api/v1/runs", reflex="greet", state="failed").json() == {"runs": []}
    assert get(srv, "/api/v1/runs", state="queued").json() == {"runs": []}


def test_runs_limit(srv: ServerProcess) -> None:
    """?limit=N returns the N newest runs; 1 and 1000 are the accepted bounds."""
    one = get(srv, "/api/v1/runs", limit=1).json()["runs"]
    assert [r["fingerprint"] for r in one] == [fingerprint(POSTED[-1])]
    two = get(srv, "/api/v1/runs", limit=2, reflex="greet").json()["runs"]
    assert [r["fingerprint"] for r in two] == [fingerprint(POSTED[3]), fingerprint(POSTED[2])]
    assert len(get(srv, "/api/v1/runs", limit=1000).json()["runs"]) == len(POSTED)


@pytest.mark.parametrize("limit", ["0", "1001", "x", "-1", "1.5", ""])
def test_runs_bad_limit_is_400(srv: ServerProcess, limit: str) -> None:
    """A limit that is not a whole number in 1..1000 is a 400 whose message names limit."""
    resp = get(srv, "/api/v1/runs", limit=limit)
    assert resp.status_code == 400, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert body["status"] == "error"
    assert body["error"].startswith("limit:"), body


def test_runs_unknown_state_is_400(srv: ServerProcess) -> None:
    """An unknown state is a 400 that names the parameter and the valid states."""
    resp = get(srv, "/api/v1/runs", state="exploded")
    assert resp.status_code == 400
    body = resp.json()
    assert body["status"] == "error" and body["error"].startswith("state:")
    for state in ("queued", "running", "succeeded", "failed", "interrupted"):
        assert state in body["error"]


def test_run_detail(srv: ServerProcess) -> None:
    """One run in full: steps with rendered params, output, timings, and the alert."""
    (summary,) = get(srv, "/api/v1/runs", reflex="greet", limit=1).json()["runs"]
    resp = get(srv, f"/api/v1/runs/{summary['id']}")
    assert resp.status_code == 200
    run = resp.json()
    assert {k: run[k] for k in summary} == summary  # the summary is a subset of the detail
    assert run["state"] == "succeeded" and run["trigger"] == "firing" and run["attempts"] == 1
    assert run["alert"]["labels"] == POSTED[3]
    assert run["alert"]["fingerprint"] == fingerprint(POSTED[3])
    assert run["notification"]["receiver"] == "alertreflex"

    hello, complain = run["steps"]
    assert (hello["index"], hello["name"], hello["action"]) == (0, "say hello", "exec")
    assert hello["params"]["command"] == ["echo", "hello host-3 from greet"]
    assert hello["params"]["timeout"] == "5s"
    assert hello["outcome"] == "succeeded" and hello["exit_code"] == 0
    assert hello["output"] == "hello host-3 from greet\n"
    assert (complain["index"], complain["name"]) == (1, "complain")
    assert complain["output"] == "" and complain["details"]["stderr"] == "to-stderr\n"

    assert run["created_at"] <= run["started_at"] <= hello["started_at"]
    assert hello["started_at"] <= hello["finished_at"] <= complain["started_at"]
    assert complain["started_at"] <= complain["finished_at"] <= run["finished_at"]


def test_failed_run_detail_names_the_failure(srv: ServerProcess) -> None:
    """A failed run's step records the exit code and the run's reason names the step."""
    (summary,) = get(srv, "/api/v1/runs", reflex="broken").json()["runs"]
    run = get(srv, f"/api/v1/runs/{summary['id']}").json()
    (step,) = run["steps"]
    assert step["outcome"] == "failed" and step["exit_code"] == 1
    assert step["params"]["command"] == ["false"]
    assert run["reason"].startswith("step 0 (exec):")


def test_unknown_run_is_404_json(srv: ServerProcess) -> None:
    """An unknown run id is a 404 with the JSON error shape naming the id."""
    resp = get(srv, "/api/v1/runs/no-such-run")
    assert resp.status_code == 404
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert body["status"] == "error"
    assert "no-such-run" in body["error"]


def test_reflexes_lists_the_config(srv: ServerProcess) -> None:
    """/api/v1/reflexes lists the running config's reflexes with their steps."""
    reflexes = {r["name"]: r for r in get(srv, "/api/v1/reflexes").json()["reflexes"]}
    assert set(reflexes) == {"greet", "broken"}
    assert reflexes["greet"]["match"] == ['alertname="Greet"']
    assert [s["name"] for s in reflexes["greet"]["on_firing"]] == ["say hello", "complain"]
    assert [s["name"] for s in reflexes["broken"]["on_firing"]] == ["exec"]
    assert reflexes["greet"]["source"].startswith(f"{srv.config}:")


def test_openapi_is_valid_openapi_3_1(srv: ServerProcess) -> None:
    """/api/v1/openapi.json validates as an OpenAPI 3.1 document."""
    validator = pytest.importorskip("openapi_spec_validator")
    resp = get(srv, "/api/v1/openapi.json")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("application/json")
    doc = resp.json()
    assert doc["openapi"].startswith("3.1.")
    validator.OpenAPIV31SpecValidator(doc).validate()


def test_openapi_structure(srv: ServerProcess) -> None:
    """The document has info, paths and resolvable component references."""
    doc = get(srv, "/api/v1/openapi.json").json()
    assert doc["info"]["title"] == "alertreflex" and doc["info"]["version"]
    schemas = doc["components"]["schemas"]
    refs = set(component_refs(doc))
    assert {"Error", "Notification", "RunSummary", "Run"} <= refs
    assert refs <= set(schemas), refs - set(schemas)
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert op.get("summary"), f"{method.upper()} {path} has no summary"
            assert op["responses"], f"{method.upper()} {path} documents no response"


def component_refs(node: Any) -> Iterator[str]:
    """Names of the component schemas that ``node`` references, recursively."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                assert value.startswith("#/components/schemas/"), value
                yield value.rsplit("/", 1)[1]
            else:
                yield from component_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from component_refs(item)


def served_routes(tmp_path: Path) -> set[tuple[str, str]]:
    """(method, path) of every route the real app registers under /api/v1 and /webhook."""
    (tmp_path / "c.yml").write_text(API_CONFIG)
    types = load_action_types()
    cfg = load_config(tmp_path / "c.yml", params_models(types))
    engine = Engine(cfg, SQLiteStore(tmp_path / "unused.db"), {n: c() for n, c in types.items()})

    async def reload() -> None:
        return None

    app = create_app(engine, reload)
    out = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if route.method != "HEAD" and (path.startswith("/api/v1/") or path == "/webhook"):
            out.add((route.method.lower(), path))
    return out


def documented_routes(srv: ServerProcess) -> set[tuple[str, str]]:
    doc = get(srv, "/api/v1/openapi.json").json()
    return {(m, p) for p, item in doc["paths"].items() for m in item}


def test_openapi_documents_every_route(srv: ServerProcess, tmp_path: Path) -> None:
    """Every route served under /api/v1 and /webhook is in the document."""
    routes = served_routes(tmp_path)
    assert ("post", "/webhook") in routes and ("get", "/api/v1/runs/{id}") in routes
    assert routes - documented_routes(srv) == set(), "served but not documented"


def test_openapi_documents_only_served_routes(srv: ServerProcess, tmp_path: Path) -> None:
    """Every documented path and method is served, and the server answers its GETs."""
    documented = documented_routes(srv)
    assert {("post", "/webhook"), ("get", "/api/v1/runs"), ("get", "/api/v1/runs/{id}")} <= (
        documented
    )
    assert documented - served_routes(tmp_path) == set(), "documented but not served"
    for method, path in documented:
        if method == "get" and "{" not in path:
            assert get(srv, path).status_code == 200, path
