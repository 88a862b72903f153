"""The alerts shipped in deploy/prometheus: valid for the real promtool, unit-tested,
documented with a runbook section each, and built only from what a real alertreflex
exports (metric names and the label values it sets)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from markdown.extensions.toc import slugify  # type: ignore[import-untyped]
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ServerProcess
from tests.payloads import alert, notification

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alertreflex.rules.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "alertreflex.rules.test.yml"
RUNBOOK = ROOT / "docs" / "operations" / "alerts.md"
JOB = 'job="alertreflex"'  # the selector docs/operations/alerts.md tells users to adapt
TARGET_LABELS = {"job", "instance"}  # set by Prometheus, not by alertreflex
SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
MATCHER = re.compile(r'([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
METRIC = re.compile(r"\balertreflex_\w+")
TEMPLATE_EQ = re.compile(r'eq \$labels\.(\w+) "([^"]*)"')


def load_alerts() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    alerts = [rule for group in doc["groups"] for rule in group["rules"] if "alert" in rule]
    assert alerts, f"{RULES}: no alerting rule"
    return alerts


ALERTS = load_alerts()


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    path = shutil.which("promtool")
    assert path, "promtool (Debian package prometheus) must be installed"
    return subprocess.run(
        [path, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


# -- promtool ------------------------------------------------------------------------------


def test_promtool_checks_the_rules() -> None:
    """``promtool check rules`` accepts the file and counts every alert in it."""
    done = promtool("check", "rules", RULES.name, cwd=RULES.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in done.stdout, done.stdout


def test_promtool_unit_tests_pass() -> None:
    """``promtool test rules``: each alert fires on its test series with the expected
    labels and rendered annotations, and not on the look-alikes."""
    done = promtool("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout, done.stdout


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    """Each alert is tested both ways: some evaluation expects it to fire, some other
    expects it not to; an alert added without tests fails here."""
    suite = yaml.safe_load(RULE_TESTS.read_text())
    assert suite["rule_files"] == [RULES.name]
    fires: set[str] = set()
    quiet: set[str] = set()
    for case in suite["tests"]:
        for check in case.get("alert_rule_test", []):
            (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {a["alert"] for a in ALERTS}
    assert names - fires == set(), "alerts never expected to fire in the unit tests"
    assert names - quiet == set(), "alerts never expected to stay quiet in the unit tests"
    assert (fires | quiet) - names == set(), "unit tests of alerts the rules do not have"


# -- labels, annotations, runbooks ---------------------------------------------------------


def runbook_anchors() -> dict[str, str]:
    """Anchor -> heading of docs/operations/alerts.md, as MkDocs (Python-Markdown's
    toc extension) makes them."""
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", RUNBOOK.read_text(), flags=re.M)
    return {slugify(h, "-"): h for h in headings}


@pytest.mark.parametrize("rule", ALERTS, ids=lambda r: str(r["alert"]))
def test_alert_is_labelled_annotated_and_has_a_runbook_section(rule: dict[str, Any]) -> None:
    """A severity Alertmanager can route on; summary, description and runbook_url; the
    runbook_url's anchor is a section of docs/operations/alerts.md named after the alert."""
    name = rule["alert"]
    assert rule.get("labels", {}).get("severity") in {"critical", "warning", "info"}, name
    annotations = rule.get("annotations", {})
    for key in ("summary", "description", "runbook_url"):
        assert str(annotations.get(key, "")).strip(), f"{name}: no {key} annotation"
    base, _, anchor = annotations["runbook_url"].partition("#")
    assert base.startswith("https://"), f"{name}: runbook_url is not an https URL"
    assert base.endswith("/operations/alerts/"), f"{name}: runbook_url is not the alerts page"
    assert anchor == slugify(name, "-"), f"{name}: runbook_url anchor #{anchor}"
    assert runbook_anchors().get(anchor) == name, f"{RUNBOOK}: no section '{name}'"


def test_runbook_urls_share_one_base_and_every_section_is_an_alert() -> None:
    """One base for all (the docs say how to point it elsewhere), and no section of the
    runbook describes an alert the rules no longer have."""
    bases = {a["annotations"]["runbook_url"].partition("#")[0] for a in ALERTS}
    assert len(bases) == 1, bases
    alert_like = {h for h in runbook_anchors().values() if re.fullmatch(r"Alertreflex\w+", h)}
    assert alert_like == {a["alert"] for a in ALERTS}


@pytest.mark.parametrize("rule", ALERTS, ids=lambda r: str(r["alert"]))
def test_every_selector_names_the_job(rule: dict[str, Any]) -> None:
    """Every series selector carries job="alertreflex", the one thing users adapt: a
    selector without it would mix in other jobs' series."""
    selectors = SELECTOR.findall(rule["expr"])
    assert selectors, rule["expr"]
    for metric, matchers in selectors:
        assert JOB in matchers, f"{rule['alert']}: {metric}{{{matchers}}} lacks {JOB}"
    bare = METRIC.findall(SELECTOR.sub("", rule["expr"]))
    assert bare == [], f"{rule['alert']}: selectors without labels: {bare}"


# -- metric names and label values, from a real alertreflex --------------------------------

CONFIG = """\
settings:
  max_concurrent_runs: 1
  max_queued_runs: 1
  max_body_size: 2KiB
  webhook_auth: {{bearer_token_file: "{token}"}}
  storm_guard: {{max_runs: 3, window: 1h}}
reflexes:
  - name: works
    team: t
    match: ['alertname = "Works"']
    on_firing: [{{exec: {{command: ["true"]}}}}]
  - name: fails
    team: t
    match: ['alertname = "Fails"']
    on_firing: [{{exec: {{command: ["false"]}}}}]
    max_failures: 1
    storm_guard: {{max_runs: 1, window: 1h}}
  - name: hangs
    team: t
    match: ['alertname = "Hangs"']
    on_firing: [{{exec: {{command: ["sleep", "30"], timeout: 1s}}}}]
"""
# Label values the fixture below cannot produce cheaply (a store that fails takes a
# broken database); the metric's help must name them instead.
NOT_EXERCISED = {("alertreflex_notifications_total", "status", "store_error")}
SERIES_SUFFIXES = {
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
}
TOKEN = "s3cret-token"


@dataclass(repr=False)  # pytest prints fixtures in failures: keep it short
class Scrape:
    """One /metrics answer: queryable names, the label values of each series, and
    each family's help text."""

    names: set[str]
    values: dict[tuple[str, str], set[str]]
    help: dict[str, str]

    def __repr__(self) -> str:
        return f"<scrape of {len(self.names)} series names>"


def parse_scrape(text: str) -> Scrape:
    names: set[str] = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.M):
        # A labelled family with no child yet has its TYPE line and no sample.
        names.update(name + suffix for suffix in SERIES_SUFFIXES.get(kind, ("",)))
    values: dict[tuple[str, str], set[str]] = {}
    help_of: dict[str, str] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            help_of[sample.name] = family.documentation
            for label, value in sample.labels.items():
                values.setdefault((sample.name, label), set()).add(value)
        help_of.setdefault(family.name, family.documentation)
        help_of.setdefault(family.name + "_total", family.documentation)
    return Scrape(names, values, help_of)


def post(srv: ServerProcess, body: bytes, token: str | None = TOKEN) -> int:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.post(f"{srv.url}/webhook", content=body, headers=headers, timeout=10).status_code


def firing(alertname: str, n: int = 0) -> bytes:
    labels = {"alertname": alertname, "team": "t", "n": str(n)}
    return json.dumps(notification(alert(labels))).encode()


@pytest.fixture(scope="module")
def scrape(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scrape]:
    """A real ``alertreflex serve`` that went through what the alerts watch for: each
    kind of rejected notification, a full queue, runs that succeed, fail and time
    out, a circuit breaker and storm guards (per reflex and global) tripping."""
    tmp = tmp_path_factory.mktemp("rules-metrics")
    (tmp / "token").write_text(TOKEN)
    (tmp / "alertreflex.yml").write_text(CONFIG.format(token=tmp / "token"))
    srv = ServerProcess(tmp / "alertreflex.yml", tmp / "alertreflex.db", tmp / "server.log")
    try:
        srv.start()
        assert post(srv, firing("Works"), token=None) == 401
        assert post(srv, b'{"version": "4"}') == 400
        assert post(srv, b" " * 4096) == 413
        assert post(srv, firing("Works")) == 200
        srv.wait_runs(1, states=("succeeded",), reflex="works")
        assert post(srv, firing("Fails")) == 200
        srv.wait_runs(1, states=("failed",), reflex="fails")
        assert post(srv, firing("Hangs")) == 200  # the third firing run: global guard
        assert post(srv, firing("Works", 1)) == 503, srv.log()  # one run unfinished: full
        srv.wait_runs(1, states=("timed_out",), reflex="hangs")
        deadline = time.monotonic() + 10
        while 'kind="breaker"' not in (text := httpx.get(f"{srv.url}/metrics").text):
            assert time.monotonic() < deadline, f"no breaker in /metrics:\n{text}"
            time.sleep(0.05)
        yield parse_scrape(text)
    finally:
        if srv.proc is not None:
            srv.stop()


def test_alerts_use_only_exported_metrics(scrape: Scrape) -> None:
    """Every alertreflex_* name in an expression or a template query is one that a real
    alertreflex serves on /metrics (a renamed metric fails here, not in production)."""
    for rule in ALERTS:
        used = set(METRIC.findall(rule["expr"]))
        for text in rule["annotations"].values():
            used |= set(METRIC.findall(text))
        assert used - scrape.names == set(), f"{rule['alert']}: not exported"


def test_alerts_match_label_values_alertreflex_sets(scrape: Scrape) -> None:
    """Each label value a selector or a template compares with is one alertreflex
    really sets: seen on the scrape above, or, for the few the scrape cannot show,
    named in the metric's help. A typo would make an alert that never fires."""
    for rule in ALERTS:
        # (where the label may be, label, value): a matcher names its metric, a
        # template's $labels come from any metric of the expression.
        checks: list[tuple[set[str], str, str]] = []
        for metric, matchers in SELECTOR.findall(rule["expr"]):
            for label, op, value in MATCHER.findall(matchers):
                if label in TARGET_LABELS or op not in ("=", "=~"):
                    continue
                assert re.fullmatch(r"\w+(\|\w+)*", value), f"{label}{op}{value!r}: not a list"
                checks += [({metric}, label, v) for v in value.split("|")]
        for text in rule["annotations"].values():
            for label, value in TEMPLATE_EQ.findall(text):
                checks.append((set(METRIC.findall(rule["expr"])), label, value))
        for metrics, label, value in checks:
            seen = set().union(*(scrape.values.get((m, label), set()) for m in metrics))
            documented = any(
                (m, label, value) in NOT_EXERCISED
                and re.search(rf"\b{value}\b", scrape.help.get(m, ""))
                for m in metrics
            )
            assert value in seen or documented, (
                f"{rule['alert']}: {sorted(metrics)} {label}={value!r}: alertreflex never "
                f"sets it; seen: {sorted(seen)}"
            )
