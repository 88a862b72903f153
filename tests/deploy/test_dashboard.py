"""The Grafana dashboard deploy/grafana/alertreflex.json.

First as a model Grafana 10/11 imports: its datasource input and variables, panel ids,
layout and targets. Then for real: an ``alertreflex serve`` handles notifications that
succeed, fail, skip (cooldown, dry_run, storm guard, breaker), wait for approval, repeat,
are invalid or overflow the queue, then reloads and syncs; a Prometheus scrapes it every
second; and every PromQL expression of the dashboard, with its variables filled in as
Grafana fills them, must parse and return data.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from alertreflex.demo.stack import Stack, wait_for
from alertreflex.engine.metrics import Metrics
from alertreflex.sync.metrics import SyncMetrics
from tests.conftest import ServerProcess
from tests.payloads import alert, fixture, notification
from tests.sync.conftest import Repo

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "deploy" / "grafana" / "alertreflex.json"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
PANEL_TYPES = {"timeseries", "stat", "table"}
GRID_WIDTH = 24

SCRAPE = 1.0
"""Prometheus' scrape interval in seconds; the Grafana datasource's "Scrape interval"
is set to the same, as the docs tell users to."""
MAX_DATA_POINTS = 1000
"""About a panel's width in pixels: Grafana's default for maxDataPoints."""
SYNC_TOKEN = "dashboard-sync-s3cret"
QUEUE_LIMIT = 20

CONFIG = """\
settings:
  max_queued_runs: {limit}
  sync:
    repo: {repo}
    ref: main
    rules_dir: {rules}
    reflexes_file: {teams}
    token_file: {token}
    cache_dir: {cache}
    run_tests: false
reflexes:
  - name: note-bucket
    team: warehouse
    match: ['alertname="BucketTooFull_ORANGE"']
    on_firing: [{{exec: {{command: ["echo", "{{{{ alert.labels.alertname }}}} fired"]}}}}]
    on_resolved: [{{exec: {{command: ["echo", "resolved"]}}}}]
  - name: always-fails
    team: ops
    match: ['alertname="Fails"']
    max_failures: 1
    on_firing: [{{exec: {{command: ["false"]}}}}]
  - name: cools-down
    team: ops
    match: ['alertname="Cools"']
    cooldown: 1h
    on_firing: [{{exec: {{command: ["true"]}}}}]
  - name: rehearses
    team: ops
    match: ['alertname="Rehearsed"']
    dry_run: true
    on_firing: [{{exec: {{command: ["true"]}}}}]
  - name: guarded
    team: ops
    match: ['alertname="Stormy"']
    storm_guard: {{max_runs: 1, window: 1h}}
    on_firing: [{{exec: {{command: ["true"]}}}}]
  - name: asks-first
    team: ops
    match: ['alertname="Risky"']
    approval: required
    on_firing: [{{exec: {{command: ["true"]}}}}]
  - name: flooded
    team: ops
    match: ['alertname="Flood"']
    on_firing: [{{exec: {{command: ["true"]}}}}]
"""

SYNCED_REFLEXES = """\
reflexes:
  - name: ops-synced
    match: ['alertname="Synced"']
    on_firing: [{exec: {command: ["true"]}}]
"""

# -- the dashboard model -----------------------------------------------------------------


def load_dashboard(path: Path = DASHBOARD) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def all_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, rows included, with the panels a collapsed row holds."""
    out: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


@dataclass
class Query:
    where: str  # panel title and refId, for messages
    expr: str
    instant: bool


def dashboard_queries(dashboard: dict[str, Any]) -> list[Query]:
    return [
        Query(
            f"panel {panel['title']!r} target {target['refId']}",
            target["expr"],
            bool(target.get("instant")) and not target.get("range"),
        )
        for panel in all_panels(dashboard)
        for target in panel.get("targets", [])
    ]


# -- Grafana's variable interpolation ------------------------------------------------------

# $name, ${name}, ${name:format}, [[name]]: Grafana's variable syntaxes.
VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)\]\]|\$(\w+)")
LABEL_VALUES = re.compile(r"^\s*label_values\((?:(?P<selector>.+),\s*)?(?P<label>\w+)\)\s*$")


class UnknownVariable(Exception):
    pass


def interpolate(text: str, values: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        if name not in values:
            raise UnknownVariable(f"${name} is neither a dashboard variable nor a Grafana built-in")
        return values[name]

    return VARIABLE.sub(sub, text)


def duration(seconds: float) -> str:
    """A PromQL duration, as Grafana writes intervals."""
    ms = round(seconds * 1000)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def builtins(start: float, end: float, scrape: float) -> dict[str, str]:
    """$__interval, $__rate_interval and $__range for a panel showing start..end.

    Grafana's interval is the range over maxDataPoints, rounded and never below the
    datasource's scrape interval (for this test's short range it is the scrape
    interval); $__rate_interval is max($__interval + scrape interval, 4 * scrape
    interval); $__range is the range in whole seconds.
    """
    interval = max(scrape, (end - start) / MAX_DATA_POINTS)
    range_s = round(end - start)
    return {
        "__interval": duration(interval),
        "__interval_ms": str(round(interval * 1000)),
        "__rate_interval": duration(max(interval + scrape, 4 * scrape)),
        "__range": f"{range_s}s",
        "__range_s": str(range_s),
        "__range_ms": str(range_s * 1000),
    }


def regex_escape(value: str) -> str:
    """Grafana's Prometheus regex escaping: a backslash in the PromQL string literal
    before each regex metacharacter."""
    value = value.replace("\\", "\\\\\\\\")
    return re.sub(r"[$^*{}\[\]+?.()|]", lambda m: "\\\\" + m.group(0), value)


def variable_value(found: list[str], variable: dict[str, Any]) -> str:
    """What ``$name`` becomes when "All" is selected (or the first value of a
    single-value variable), as Grafana's Prometheus datasource formats it."""
    if not variable.get("multi") and not variable.get("includeAll"):
        return found[0].replace("\\", "\\\\").replace("'", "\\\\'")
    if variable.get("includeAll") and variable.get("allValue"):
        return str(variable["allValue"])
    escaped = [regex_escape(v) for v in found]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def variable_query(variable: dict[str, Any]) -> str:
    query = variable["query"]
    return str(query["query"] if isinstance(query, dict) else query)


# -- asking Prometheus ---------------------------------------------------------------------


@dataclass
class Prometheus:
    url: str

    def get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        resp = httpx.get(f"{self.url}{path}", params=params, timeout=10)
        body: dict[str, Any] = resp.json()  # errors (400, 422) come as JSON too
        return body

    def instant(self, expr: str) -> list[dict[str, Any]]:
        body = self.get("/api/v1/query", {"query": expr})
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def resolve_variables(
        self, dashboard: dict[str, Any], start: float, end: float
    ) -> dict[str, str]:
        """Fill every query variable as Grafana does with "All" selected: its
        label_values() asked of Prometheus, earlier variables substituted first."""
        values = builtins(start, end, SCRAPE)
        for variable in dashboard["templating"]["list"]:
            if variable["type"] == "datasource":
                continue
            name, query = variable["name"], variable_query(variable)
            m = LABEL_VALUES.match(query)
            assert variable["type"] == "query" and m, f"variable {name}: cannot evaluate {query!r}"
            params: dict[str, Any] = {"start": start, "end": end}
            if m["selector"]:
                params["match[]"] = interpolate(m["selector"], values)
            body = self.get(f"/api/v1/label/{m['label']}/values", params)
            assert body["status"] == "success", f"variable {name}: {query}: {body}"
            assert body["data"], f"variable {name}: {query} found no values"
            values[name] = variable_value(body["data"], variable)
        return values

    def check(self, query: Query, values: dict[str, str], start: float, end: float) -> str | None:
        """What is wrong with a panel's query, or None: it must parse and return at
        least one finite value over start..end, as the panel asks for it."""
        try:
            expr = interpolate(query.expr, values)
        except UnknownVariable as exc:
            return f"{query.where}: {exc}"
        if query.instant:
            body = self.get("/api/v1/query", {"query": expr, "time": end})
        else:
            step = values["__interval_ms"]
            params = {"query": expr, "start": start, "end": end, "step": int(step) / 1000}
            body = self.get("/api/v1/query_range", params)
        if body["status"] != "success":
            return f"{query.where}: {expr}\n  {body.get('errorType')}: {body.get('error')}"
        data = body["data"]
        result = data["result"]
        if data["resultType"] in ("scalar", "string"):
            points = [result]
        else:
            points = [p for s in result for p in ([s["value"]] if "value" in s else s["values"])]
        if not points:
            return f"{query.where}: {expr}\n  no data"
        if not any(math.isfinite(float(p[1])) for p in points):
            return f"{query.where}: {expr}\n  only NaN or infinite values"
        return None


# -- a real alertreflex that has seen some work, and a Prometheus scraping it --------------


@dataclass
class Scraped:
    prometheus: Prometheus
    server: ServerProcess
    start: float  # before the first scrape


def next_scrape(prom: Prometheus, after: float) -> float:
    """Wait for Prometheus to scrape alertreflex after ``after``; return when it did."""
    [sample] = wait_for(
        lambda: prom.instant(f"timestamp(alertreflex_build_info) > {after}"),
        15,
        "a scrape of alertreflex",
    )
    return float(sample["value"][1])


def exercise(srv: ServerProcess, prom: Prometheus) -> None:
    """Notifications, a reload and a sync that move every metric the dashboard shows."""

    def ok(resp: httpx.Response, code: int = 200) -> None:
        assert resp.status_code == code, resp.text

    def ops(alertname: str, n: int = 1) -> dict[str, Any]:
        return notification(
            *[alert({"alertname": alertname, "team": "ops", "n": str(i)}) for i in range(n)]
        )

    ok(srv.post(fixture("firing.json")))
    ok(srv.post(fixture("firing.json")))  # a repeat: a duplicate, no second run
    ok(srv.post(ops("Fails", 2)))  # fails, trips the breaker, the 2nd is skipped
    ok(srv.post(ops("Cools", 2)))  # the 2nd is skipped by the cooldown
    ok(srv.post(ops("Rehearsed")))  # dry_run
    ok(srv.post(ops("Stormy", 2)))  # trips the storm guard
    ok(srv.post(ops("Risky")))  # waits for approval
    ok(srv.post({"version": "4"}), 400)
    ok(srv.post(ops("Flood", QUEUE_LIMIT + 1)), 503)
    # A labelled series appears with its first value, which rate() cannot see: the
    # resolved run adds to a run duration histogram that Prometheus has seen before.
    wait_for(
        lambda: prom.instant('alertreflex_run_duration_seconds_count{reflex="note-bucket"}'),
        15,
        "Prometheus to see the first run's duration",
    )
    ok(srv.post(fixture("resolved.json")))
    ok(httpx.post(f"{srv.url}/-/reload", timeout=10))
    auth = {"Authorization": f"Bearer {SYNC_TOKEN}"}
    resp = httpx.post(f"{srv.url}/api/v1/sync?wait=1", headers=auth, timeout=60)
    ok(resp)
    assert resp.json()["result"] == "delivered", resp.text
    srv.wait_runs(9, states=("succeeded", "failed", "skipped"))


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scraped]:
    tmp = tmp_path_factory.mktemp("dashboard")
    repo = Repo(tmp / "repo")
    repo.write("teams/ops/ops.reflexes.yml", SYNCED_REFLEXES)
    repo.commit("ops: one reflex")
    config = tmp / "alertreflex.d"
    config.mkdir()
    teams = config / "teams.yml"
    teams.write_text("reflexes: []\n")  # until the sync delivers
    token = tmp / "sync-token"
    token.write_text(SYNC_TOKEN + "\n")
    (config / "alertreflex.yml").write_text(
        CONFIG.format(
            limit=QUEUE_LIMIT,
            repo=repo.path,
            rules=tmp / "rules",
            teams=teams,
            token=token,
            cache=tmp / "sync-cache",
        )
    )
    srv = ServerProcess(config, tmp / "alertreflex.db", tmp / "alertreflex.log")
    start = time.time()
    try:
        srv.start()
        with Stack(tmp / "stack") as stack:
            proc = stack.start_prometheus(
                rule_files=[],
                scrape_targets=[f"127.0.0.1:{srv.port}"],
                alertmanager_url=None,
                interval=duration(SCRAPE),
            )
            prom = Prometheus(proc.url)
            # Counters must move between scrapes for rate() to see it: one scrape first.
            next_scrape(prom, 0)
            exercise(srv, prom)
            # Two samples of every series after the last run, for rate() over them.
            next_scrape(prom, next_scrape(prom, time.time()))
            yield Scraped(prom, srv, start)
    finally:
        if srv.proc is not None:
            srv.stop()


# -- the tests -----------------------------------------------------------------------------


def test_dashboard_is_a_well_formed_grafana_model() -> None:
    """The datasource is an import input used through a variable by every panel and
    variable; panel ids are unique, panels tile a 24-column grid without overlapping,
    and every target has a unique refId and an expression."""
    d = load_dashboard()
    assert d["uid"] == "alertreflex" and d["title"]
    assert isinstance(d["schemaVersion"], int) and d["schemaVersion"] >= 36
    assert [i["name"] for i in d["__inputs"]] == ["DS_PROMETHEUS"]
    assert d["__inputs"][0]["type"] == "datasource"
    assert d["__inputs"][0]["pluginId"] == "prometheus"

    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert list(variables) == ["datasource", "job", "instance"]
    ds = variables["datasource"]
    assert ds["type"] == "datasource" and ds["query"] == "prometheus"
    assert ds["current"]["value"] == "${DS_PROMETHEUS}"
    for name in ("job", "instance"):
        assert variables[name]["type"] == "query"
        assert variables[name]["datasource"] == DATASOURCE
        assert LABEL_VALUES.match(variable_query(variables[name])), name
        assert variables[name]["includeAll"] and variables[name]["multi"]

    panels = all_panels(d)
    ids = [p["id"] for p in panels]
    assert all(isinstance(i, int) for i in ids)
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {sorted(ids)}"
    required = {r["id"] for r in d["__requires"] if r["type"] == "panel"}
    taken: dict[tuple[int, int], str] = {}
    for p in panels:
        grid = p["gridPos"]
        assert all(isinstance(grid[k], int) for k in "hwxy"), p["title"]
        assert grid["h"] > 0 and grid["w"] > 0 and grid["x"] >= 0 and grid["y"] >= 0
        assert grid["x"] + grid["w"] <= GRID_WIDTH, f"{p['title']!r} is wider than the grid"
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in taken, f"{p['title']!r} overlaps {taken[x, y]!r}"
                taken[x, y] = p["title"]
        if p["type"] == "row":
            assert "targets" not in p
            continue
        assert p["type"] in PANEL_TYPES and p["type"] in required, p["type"]
        assert p["title"] and p["description"], p
        assert p["datasource"] == DATASOURCE, p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert refs and len(refs) == len(set(refs)), f"{p['title']!r}: refIds {refs}"
        for t in p["targets"]:
            assert t["datasource"] == DATASOURCE, p["title"]
            assert isinstance(t["expr"], str) and t["expr"].strip(), p["title"]


def exported_series() -> set[str]:
    """The series names alertreflex can export: its metrics and the sync's, each
    with the suffixes its type gets in the exposition format."""
    registry = CollectorRegistry()
    Metrics(registry)
    SyncMetrics(registry)
    suffixes = {
        "counter": ("_total", "_created"),
        "gauge": ("",),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "info": ("_info",),
    }
    return {f.name + s for f in registry.collect() for s in suffixes[f.type]}


def test_every_metric_on_the_dashboard_is_exported() -> None:
    """Names the metrics alertreflex really has (with their exposition suffixes), so a
    typo or a renamed metric is reported by name, not only as an empty panel; and
    every expression uses only the dashboard's variables and Grafana's built-ins."""
    d = load_dashboard()
    exported = exported_series()
    names = {v["name"]: "x" for v in d["templating"]["list"]} | builtins(0, 3600, SCRAPE)
    for q in dashboard_queries(d):
        unknown = set(re.findall(r"\balertreflex_\w+", q.expr)) - exported
        assert not unknown, f"{q.where}: not exported by alertreflex: {sorted(unknown)}"
        interpolate(q.expr, names)


def test_every_query_parses_and_returns_data(scraped: Scraped) -> None:
    """Each expression of each panel, its variables filled in as Grafana does, is
    asked of Prometheus as the panel asks (a range query, or an instant one at the
    end of the range): it parses and returns at least one finite value."""
    d = load_dashboard()
    end = time.time()
    prom = scraped.prometheus
    values = prom.resolve_variables(d, scraped.start, end)
    assert values["instance"] == f"127\\\\.0\\\\.0\\\\.1:{scraped.server.port}"
    queries = dashboard_queries(d)
    assert len(queries) >= 30
    problems = [p for q in queries if (p := prom.check(q, values, scraped.start, end))]
    assert not problems, f"{len(problems)} of {len(queries)} queries fail:\n" + "\n".join(problems)


def test_the_check_reports_a_wrong_query(scraped: Scraped) -> None:
    """The check above can fail: a misspelled metric returns no data, a syntax error
    does not parse, a quantile of nothing is NaN, and an unknown variable is named."""
    prom = scraped.prometheus
    end = time.time()
    values = builtins(scraped.start, end, SCRAPE)

    def check(expr: str) -> str:
        problem = prom.check(Query("test", expr, False), values, scraped.start, end)
        assert problem is not None, expr
        return problem

    assert check("sum(rate(alertreflex_notification_total[$__rate_interval]))").endswith("no data")
    assert "bad_data" in check("sum by (status (alertreflex_notifications_total)")
    assert check(
        "histogram_quantile(0.5, sum by (le) (0 * alertreflex_run_duration_seconds_bucket))"
    ).endswith("only NaN or infinite values")
    assert check('alertreflex_runs_total{job=~"$job"}').endswith(
        "$job is neither a dashboard variable nor a Grafana built-in"
    )
