"""The documentation site: it builds with ``mkdocs build --strict``, and everything
alertreflex has (action types, settings, metrics, CLI commands, HTTP operations) is
documented in the pages it builds.

Coverage is checked against the built HTML, not against the hook that generates the
reference pages: a generated page counts only if it really holds the thing, with a
description. The expected names come from the code and the running server, each
found independently of the hook.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import shutil
import subprocess
import sys
import time
import typing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from importlib.metadata import entry_points
from pathlib import Path
from types import UnionType
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, Field

from alertreflex.actions.base import ENTRY_POINT_GROUP
from alertreflex.cli.main import build_parser
from alertreflex.config.schema import ReflexConfig, Settings
from alertreflex.core.timeintervals import NamedTimeInterval
from alertreflex.web.openapi import openapi_document
from tests.conftest import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
MKDOCS = Path(sys.executable).parent / "mkdocs"
# Material for MkDocs prints a banner about its future on every build; it says nothing
# about this site.
ENV = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
CLI_WIDTH = "100"  # the width docs/_hooks/alertreflex_docs/cli_ref.py renders help at


class _Tables(HTMLParser):
    """Rows with an id (the generated reference tables) and the text of their cells;
    the text of every <pre> block; the ids of headings."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[str]] = {}
        self.pre: list[str] = []
        self.headings: list[str] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._pre: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "tr" and found.get("id"):
            self._row = self.rows.setdefault(str(found["id"]), [])
        elif tag == "td" and self._row is not None:
            self._cell = []
        elif tag == "pre":
            self._pre = []
        elif re.fullmatch(r"h[1-6]", tag) and found.get("id"):
            self.headings.append(str(found["id"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._row is not None and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr":
            self._row = None
        elif tag == "pre" and self._pre is not None:
            self.pre.append("".join(self._pre))
            self._pre = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._pre is not None:
            self._pre.append(data)


@dataclass
class Page:
    text: str
    rows: dict[str, list[str]]
    pre: list[str]
    headings: list[str]


@dataclass
class Site:
    root: Path
    seconds: float

    def page(self, name: str) -> Page:
        """A built page by its path in the site, ``reference/config``."""
        text = (self.root / name / "index.html").read_text()
        parser = _Tables()
        parser.feed(text)
        return Page(text, parser.rows, parser.pre, parser.headings)

    def has_page(self, name: str) -> bool:
        return (self.root / name / "index.html").is_file()


def build(config: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MKDOCS), "build", "--strict", "--config-file", str(config), "--site-dir", str(out)],
        cwd=config.parent,
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    out = tmp_path_factory.mktemp("site")
    started = time.monotonic()
    proc = build(ROOT / "mkdocs.yml", out)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stderr}"
    return Site(out, time.monotonic() - started)


# -- what there is to document, found independently of the docs hook ---------------


def setting_paths(model: type[BaseModel], prefix: str) -> Iterator[str]:
    """Every key of ``model`` as YAML writes it, recursively: ``settings.sync.repo``,
    ``settings.auth.users[].name``, ``settings.secrets.<name>.file``."""
    for name, info in model.model_fields.items():
        path = prefix + (info.alias or name)
        yield path
        inner = _model_in(info.annotation)
        if inner is not None:
            yield from setting_paths(inner[0], path + inner[1])


def _model_in(annotation: Any) -> tuple[type[BaseModel], str] | None:
    if typing.get_origin(annotation) is typing.Annotated:
        return _model_in(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _model_in(options[0]) if len(options) == 1 else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, "."
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is list and _is_model(args[0]):
        return args[0], "[]."
    if typing.get_origin(annotation) is dict and _is_model(args[1]):
        return args[1], ".<name>."
    return None


def _is_model(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, BaseModel)


def anchor(prefix: str, path: str) -> str:
    """The id the reference tables give a key (see docs/_hooks/alertreflex_docs/html.py)."""
    cleaned = path.replace("[]", "").replace("<name>", "NAME")
    return prefix + "-" + re.sub(r"[^A-Za-z0-9_.-]", "-", cleaned)


_METRIC_CALL = re.compile(
    r"\b(Counter|Gauge|Histogram|Summary|Info|Enum)\(\s*\"([a-zA-Z_:][\w:]*)\""
)


def metrics_in_source() -> set[str]:
    """The exposed name of every metric constructed with a literal name in src/."""
    names = set()
    for path in (ROOT / "src").rglob("*.py"):
        for kind, name in _METRIC_CALL.findall(path.read_text()):
            if kind == "Counter":
                name = name.removesuffix("_total") + "_total"
            elif kind == "Info":
                name += "_info"
            names.add(name)
    return names


def metrics_exposed(metrics_text: str) -> set[str]:
    """The families a /metrics answer declares (``# TYPE name kind``), without the
    ``_created`` gauges prometheus_client adds beside counters and histograms (the
    metrics page documents those once, for all)."""
    names = {line.split()[2] for line in metrics_text.splitlines() if line.startswith("# TYPE ")}
    return {
        name
        for name in names
        if not (
            name.endswith("_created")
            and {name.removesuffix("_created") + "_total", name.removesuffix("_created")} & names
        )
    }


def undocumented(expected: Iterable[str], rows: dict[str, list[str]], prefix: str) -> list[str]:
    """The expected keys without a row in a generated table, or whose row has no
    description (the last cell)."""
    missing = []
    for key in expected:
        row = rows.get(anchor(prefix, key))
        if row is None:
            missing.append(f"{key}: not in the page")
        elif not row or row[-1] in ("", "—"):
            missing.append(f"{key}: no description")
    return missing


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.update(action.choices)
    return found


# -- the build -----------------------------------------------------------------------


def test_the_site_builds_with_strict(site: Site) -> None:
    """`mkdocs build --strict` succeeds (every link, anchor and nav entry resolves, every
    page is in the nav), quickly, and the pages the issue asks for exist."""
    assert site.seconds < 30, f"the docs build took {site.seconds:.1f}s"
    for page in (
        "quickstart",
        "concepts",
        "reference/config",
        "reference/cli",
        "reference/http-api",
        "reference/metrics",
        "operations/deploy",
        "operations/backup",
        "operations/upgrades",
        "replicas",
        "security",
        "comparison",
    ):
        assert site.has_page(page), page
    assert (site.root / "index.html").is_file()
    # Nothing of the build machinery is published.
    assert not list(site.root.rglob("*.py")), list(site.root.rglob("*.py"))


def test_a_registered_action_type_without_a_page_fails_the_build(tmp_path: Path) -> None:
    """The docs hook refuses a build in which a registered action type has no page."""
    shutil.copytree(ROOT / "docs", tmp_path / "docs", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    (tmp_path / "docs" / "actions" / "am_silence.md").unlink()
    proc = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert proc.returncode != 0
    assert "action type 'am_silence'" in proc.stderr, proc.stderr
    assert "write docs/actions/am_silence.md" in proc.stderr


# -- coverage --------------------------------------------------------------------------


def action_problems(site: Site, types: dict[str, type[BaseModel]]) -> list[str]:
    """What is missing from the pages of these action types (name -> Params model)."""
    problems = []
    for name, params in types.items():
        if not site.has_page(f"actions/{name}"):
            problems.append(f"{name}: no page docs/actions/{name}.md")
            continue
        page = site.page(f"actions/{name}")
        for section in ("parameters", "what-the-step-records", "examples"):
            if section not in page.headings:
                problems.append(f"{name}: no section '{section}'")
        problems += [
            f"{name}: {p}" for p in undocumented(setting_paths(params, ""), page.rows, "param")
        ]
    return problems


def test_every_action_type_has_its_page(site: Site) -> None:
    """Each action type registered under the entry-point group has a page with its
    parameters (each one described), what a step records, and examples."""
    types = {ep.name: ep.load().Params for ep in entry_points(group=ENTRY_POINT_GROUP)}
    assert types.keys() >= {"exec", "http", "log_level", "jvm_thread_dump", "am_silence"}
    problems = action_problems(site, types)
    assert not problems, "\n".join(problems)


def test_every_setting_is_documented(site: Site) -> None:
    """Every key of `settings:`, recursively, has its row, with a description, in the
    configuration reference; so do the keys of reflexes and time intervals."""
    page = site.page("reference/config")
    expected = list(setting_paths(Settings, "settings."))
    assert "settings.sync.token_file" in expected  # the walk does reach nested models
    problems = undocumented(expected, page.rows, "config")
    problems += undocumented(setting_paths(ReflexConfig, "reflexes[]."), page.rows, "config")
    intervals = list(setting_paths(NamedTimeInterval, "time_intervals[]."))
    assert "time_intervals[].time_intervals[].weekdays" in intervals  # nested models too
    problems += undocumented(intervals, page.rows, "config")
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def metrics_text(tmp_path_factory: pytest.TempPathFactory) -> str:
    """What a real server's /metrics declares."""
    d = tmp_path_factory.mktemp("metrics")
    (d / "alertreflex.yml").write_text(
        "reflexes:\n"
        "  - name: echo\n"
        "    team: warehouse\n"
        "    match: ['alertname = \"X\"']\n"
        "    on_firing: [{exec: {command: [echo, hi]}}]\n"
    )
    srv = ServerProcess(d / "alertreflex.yml", d / "alertreflex.db", d / "server.log").start()
    try:
        return httpx.get(f"{srv.url}/metrics", timeout=10).text
    finally:
        srv.stop()


def test_every_metric_is_documented(site: Site, metrics_text: str) -> None:
    """Every metric a running server exports (the standard process_* and python_*
    ones included), and every metric constructed anywhere in src/ (the sync's, which
    `sync --watch` exports too), has its row with help text."""
    exposed = metrics_exposed(metrics_text)
    assert "alertreflex_runs_total" in exposed and "alertreflex_sync_runs_total" in exposed
    # The standard collectors' series are documented like alertreflex's own.
    assert {"process_resident_memory_bytes", "python_info"} <= exposed
    in_source = metrics_in_source()
    assert "alertreflex_build_info" in in_source and "alertreflex_runs_total" in in_source
    page = site.page("reference/metrics")
    problems = undocumented(sorted(exposed | in_source), page.rows, "metric")
    assert not problems, "\n".join(problems)


def test_the_coverage_checks_report_what_is_undocumented(site: Site, metrics_text: str) -> None:
    """The checks above would fail for a new metric, setting or action type nobody
    documented: fed one, they name it."""
    # Compared with the same check on what exists, so that only the addition counts.
    metrics = site.page("reference/metrics")
    new_metric = "alertreflex_fake_undocumented_total"
    before = undocumented(metrics_exposed(metrics_text), metrics.rows, "metric")
    after = undocumented(
        metrics_exposed(metrics_text + f"# TYPE {new_metric} counter\n"), metrics.rows, "metric"
    )
    assert set(after) - set(before) == {f"{new_metric}: not in the page"}

    class NewSettings(Settings):
        fake_setting: int = Field(default=1, description="Not in the built site.")

    config = site.page("reference/config")
    before = undocumented(setting_paths(Settings, "settings."), config.rows, "config")
    expected = list(setting_paths(NewSettings, "settings."))
    after = undocumented(expected, config.rows, "config")
    assert set(after) - set(before) == {"settings.fake_setting: not in the page"}
    # A row without a description is not documented either.
    rows = {**config.rows, anchor("config", "settings.fake_setting"): ["x", "integer", "1", "—"]}
    after = undocumented(expected, rows, "config")
    assert set(after) - set(before) == {"settings.fake_setting: no description"}

    class FakeParams(BaseModel):
        target: str = Field(description="Where.")

    assert action_problems(site, {"fake_action": FakeParams}) == [
        "fake_action: no page docs/actions/fake_action.md"
    ]


def test_every_cli_subcommand_is_in_the_cli_reference(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI reference holds the real `--help` of `alertreflex` and of every
    subcommand, verbatim, under a heading of its own."""
    monkeypatch.setenv("COLUMNS", CLI_WIDTH)
    page = site.page("reference/cli")
    blocks = [html.unescape(b).strip() for b in page.pre]
    root = build_parser()
    assert root.format_help().strip() in blocks
    commands = subcommands(root)
    assert {"serve", "check", "runs", "migrate", "sync", "demo"} <= commands.keys()
    problems = []
    for name, parser in commands.items():
        if name not in page.headings:
            problems.append(f"{name}: no section")
        if parser.format_help().strip() not in blocks:
            problems.append(f"{name}: its --help is not on the page")
    assert not problems, "\n".join(problems)


def test_every_http_operation_is_in_the_api_reference(site: Site) -> None:
    """Every path and method of the OpenAPI document has its section, with each of
    its parameters and response codes."""
    page = site.page("reference/http-api")
    sections = re.split(r"<h3 ", page.text)
    problems = []
    for path, item in openapi_document()["paths"].items():
        for method, op in item.items():
            op_id = (
                method + "-" + re.sub(r"[^A-Za-z0-9_.-]", "-", re.sub(r"[{}]", "", path).strip("/"))
            )
            section = next((s for s in sections if s.startswith(f'id="{op_id}"')), None)
            if section is None:
                problems.append(f"{method.upper()} {path}: no section")
                continue
            text = html.unescape(re.sub(r"<[^>]+>", "", section))
            for param in op.get("parameters", []):
                if param["name"] not in text:
                    problems.append(f"{method.upper()} {path}: parameter {param['name']}")
            for code in op.get("responses", {}):
                if code not in text:
                    problems.append(f"{method.upper()} {path}: response {code}")
    assert not problems, "\n".join(problems)
