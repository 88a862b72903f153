"""The YAML examples in the docs and the README are real: each one a reader may copy
is checked by the part that will read it.

- alertreflex configs (a top-level ``reflexes:``, ``settings:`` or ``time_intervals:``)
  load with the config loader, as ``alertreflex check`` does: schema, matchers,
  templates, and the secret and token files they name (stubs stand in for those, in
  a temporary directory, since ``/etc/alertreflex`` is not there in a test);
- lists of steps (``on_firing:``, or ``- http: ...`` items) load inside a reflex;
- Alertmanager snippets pass ``amtool check-config`` once completed with what they
  refer to (a root route, the receivers they name); Prometheus rule groups pass
  ``promtool check rules`` and Prometheus configs ``promtool check config
  --syntax-only``; every other YAML block at least parses.

A block that cannot be checked on purpose carries ``<!-- not-checked: REASON -->`` on
the line before its fence. Failures name the page and the line in it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import bcrypt
import pytest
import yaml

from alertreflex.actions.base import load_action_types, params_models
from alertreflex.config.loader import ConfigError, Problem, load_config
from alertreflex.config.yamlfile import YamlError, load_yaml
from alertreflex.core.templates import secrets_named

ROOT = Path(__file__).resolve().parents[2]
TYPES = params_models(load_action_types())

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+-]*)")
NOT_CHECKED = re.compile(r"^[ \t]*<!--[ \t]*not-checked:(?P<reason>.*?)-->[ \t]*$")
CONFIG_KEY = re.compile(r"^(reflexes|settings|time_intervals)[ \t]*:", re.MULTILINE)

# The reflex a list of steps is put in; its lines come before the block's own.
STUB_SECRET_ENV = "ALERTREFLEX_DOC_EXAMPLE_SECRET"
REFLEX_HEAD = (
    "reflexes:\n  - name: doc-example\n    team: docs\n    match: ['alertname=\"DocExample\"']\n"
)
ALERTMANAGER_KEYS = {"route", "receivers", "inhibit_rules", "templates"}
PROMETHEUS_KEYS = {"scrape_configs", "rule_files", "alerting", "remote_write", "remote_read"}


@dataclass(frozen=True)
class Block:
    page: str  # relative to the repository
    line: int  # the line of the opening fence
    text: str  # the content, without the fence's own indentation
    not_checked: str | None  # the reason given in a not-checked marker

    def __str__(self) -> str:
        return f"{self.page}:{self.line}"

    def at(self, line: int) -> str:
        """Where line ``line`` of the block's text is on its page."""
        return f"{self.page}:{self.line + max(line, 1)}"


def pages() -> list[Path]:
    return [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]


def yaml_blocks(page: Path) -> Iterator[Block]:
    lines = page.read_text(encoding="utf-8").splitlines()
    name = str(page.relative_to(ROOT))
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        indent, fence = m["indent"], m["fence"]
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        end = i + 1
        while end < len(lines) and closing.match(lines[end]) is None:
            end += 1
        if m["lang"] in ("yaml", "yml"):
            body = [
                ln[len(indent) :] if ln.startswith(indent) else ln.lstrip()
                for ln in lines[i + 1 : end]
            ]
            before = next((ln for ln in reversed(lines[:i]) if ln.strip()), "")
            marker = NOT_CHECKED.match(before)
            reason = marker["reason"].strip() if marker else None
            yield Block(name, i + 1, "\n".join(body) + "\n", reason)
        i = end + 1


BLOCKS = [b for page in pages() for b in yaml_blocks(page)]
CHECKED = [b for b in BLOCKS if b.not_checked is None]


def is_config(b: Block) -> bool:
    return CONFIG_KEY.search(b.text) is not None


def step_fragment(b: Block) -> str | None:
    """The block as a reflex file if it is a list of steps (or on_firing/on_resolved),
    with the secrets its templates name declared (as the operator's config would)."""
    try:
        data = yaml.safe_load(b.text)
    except yaml.YAMLError:
        return None
    head = REFLEX_HEAD
    named = sorted({name for _, name in secrets_named(data)})
    if named:
        declared = "".join(f"    {n}: {{env: {STUB_SECRET_ENV}}}\n" for n in named)
        head = "settings:\n  secrets:\n" + declared + REFLEX_HEAD
    if isinstance(data, dict) and data and set(data) <= {"on_firing", "on_resolved"}:
        return head + textwrap.indent(b.text, "    ")
    if (
        isinstance(data, list)
        and data
        and all(isinstance(s, dict) and set(s) & set(TYPES) for s in data)
    ):
        return head + "    on_firing:\n" + textwrap.indent(textwrap.dedent(b.text), "      ")
    return None


CONFIGS = [b for b in CHECKED if is_config(b)]
FRAGMENTS = [b for b in CHECKED if not is_config(b) and step_fragment(b) is not None]
OTHERS = [b for b in CHECKED if not is_config(b) and step_fragment(b) is None]


def ids(blocks: list[Block]) -> list[str]:
    return [str(b) for b in blocks]


def _file_settings(data: Any, path: tuple[str | int, ...]) -> Iterator[tuple[Any, ...]]:
    """(path, key, file name) of every setting under ``data`` that names a file."""
    items = data.items() if isinstance(data, dict) else enumerate(data)
    for key, value in items:
        if isinstance(value, dict | list):
            yield from _file_settings(value, (*path, key))
        elif (
            isinstance(key, str)
            and (key == "file" or key.endswith("_file"))
            and isinstance(value, str)
        ):
            yield (*path, key), key, value


def with_stub_files(text: str, stubs: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """``text`` with each file its settings name replaced by a stub holding a plausible
    value (a bcrypt hash for password hashes, a distinct long token otherwise), on the
    same line so that line numbers stay right; environment secrets get a value too."""
    try:
        doc = load_yaml(text)
    except YamlError:
        return text  # the loader reports it
    settings = doc.data.get("settings") if isinstance(doc.data, dict) else None
    if not isinstance(settings, dict):
        return text
    stubs.mkdir(exist_ok=True)
    lines = text.split("\n")
    for n, (path, key, name) in enumerate(_file_settings(settings, ("settings",))):
        stub = stubs / f"{n}-{PurePosixPath(name).name}"
        if key == "password_hash_file":
            content = bcrypt.hashpw(b"doc example", bcrypt.gensalt(rounds=4)).decode()
        else:
            content = f"doc-example-token-{n:03d}-0123456789abcdef"
        stub.write_text(content + "\n", encoding="utf-8")
        k = doc.line_of(path) - 1
        assert name in lines[k], f"{name!r} is not on line {k + 1} of the example"
        lines[k] = lines[k].replace(name, str(stub), 1)
    for ref in (settings.get("secrets") or {}).values():
        env = ref.get("env") if isinstance(ref, dict) else None
        if isinstance(env, str) and env not in os.environ:
            monkeypatch.setenv(env, "doc-example-secret")
    return "\n".join(lines)


def load_or_fail(b: Block, text: str, offset: int, tmp_path: Path) -> None:
    """Load ``text`` (the block, after ``offset`` lines of wrapping) as a config."""
    f = tmp_path / "example.yml"
    f.write_text(text, encoding="utf-8")
    try:
        cfg = load_config(f, TYPES)
    except ConfigError as exc:
        problems = exc.problems
    else:
        assert cfg.reflexes or not re.search(r"^reflexes[ \t]*:", text, re.MULTILINE)
        return
    pytest.fail(
        f"the example at {b} is not a valid alertreflex config:\n"
        + "\n".join(_located(b, p, offset) for p in problems),
        pytrace=False,
    )


def _located(b: Block, p: Problem, offset: int) -> str:
    where = b.at(p.line - offset) if p.line > 0 else str(b)
    return f"  {where}: {p.path}: {p.message}" if p.path else f"  {where}: {p.message}"


@pytest.mark.parametrize("block", CONFIGS, ids=ids(CONFIGS))
def test_config_example_loads(
    block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_or_fail(block, with_stub_files(block.text, tmp_path / "stubs", monkeypatch), 0, tmp_path)


@pytest.mark.parametrize("block", FRAGMENTS, ids=ids(FRAGMENTS))
def test_steps_example_loads_in_a_reflex(
    block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STUB_SECRET_ENV, "a-stub-secret-value")
    text = step_fragment(block)
    assert text is not None
    load_or_fail(block, text, text.count("\n") - block.text.count("\n"), tmp_path)


def _parse_or_fail(b: Block) -> Any:
    try:
        return yaml.safe_load(b.text)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        problem = f"{b.at(line)}: the example is not valid YAML: {exc.problem}"
    pytest.fail(problem, pytrace=False)


def _receivers_named(route: Any) -> Iterator[str]:
    if isinstance(route, dict):
        if isinstance(route.get("receiver"), str):
            yield route["receiver"]
        for child in route.get("routes") or []:
            yield from _receivers_named(child)


def completed_alertmanager_config(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` plus what amtool needs and a snippet leaves out: a root route with a
    receiver, and a bare receiver for each name the routes use but do not define."""
    out = dict(data)
    receivers = list(out.get("receivers") or [])
    route = dict(out.get("route") or {})
    if "receiver" not in route:
        route["receiver"] = receivers[0]["name"] if receivers else "doc-example-default"
    defined = {r.get("name") for r in receivers if isinstance(r, dict)}
    for name in dict.fromkeys(_receivers_named(route)):
        if name not in defined:
            receivers.append({"name": name})
    out["route"], out["receivers"] = route, receivers
    return out


def _tool_or_fail(b: Block, argv: list[str], checked: str) -> None:
    """Run ``argv`` on a file holding ``checked``; fail with the tool's words if it objects."""
    if shutil.which(argv[0]) is None:
        pytest.fail(
            f"{argv[0]} is not installed (apt-get install prometheus prometheus-alertmanager); "
            f"the example at {b} needs it",
            pytrace=False,
        )
    f = Path(argv[-1])
    f.write_text(checked, encoding="utf-8")
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        pytest.fail(
            f"the example at {b} fails `{' '.join(argv[:-1])}`:\n{r.stdout}{r.stderr}",
            pytrace=False,
        )


@pytest.mark.parametrize("block", OTHERS, ids=ids(OTHERS))
def test_other_yaml_example_is_valid(block: Block, tmp_path: Path) -> None:
    data = _parse_or_fail(block)
    keys = set(data) if isinstance(data, dict) else set()
    f = str(tmp_path / "example.yml")
    # Blank lines first, so that the line numbers promtool gives are the page's.
    on_its_lines = "\n" * block.line + block.text
    if "groups" in keys:
        _tool_or_fail(block, ["promtool", "check", "rules", f], on_its_lines)
    elif keys & PROMETHEUS_KEYS:
        _tool_or_fail(block, ["promtool", "check", "config", "--syntax-only", f], on_its_lines)
    elif keys & ALERTMANAGER_KEYS:
        completed = yaml.safe_dump(completed_alertmanager_config(data), sort_keys=False)
        _tool_or_fail(
            block,
            ["amtool", "check-config", f],
            f"# {block}, completed with a root route and the receivers it names\n{completed}",
        )


def test_the_examples_are_found() -> None:
    """The extraction sees the examples (a change of fence style would otherwise turn
    this whole file into a no-op), and every not-checked marker says why and sits on a
    YAML block."""
    assert len(CONFIGS) >= 10, ids(CONFIGS)
    assert "docs/configuration.md" in {b.page for b in CONFIGS}
    assert FRAGMENTS and OTHERS
    for b in BLOCKS:
        assert b.not_checked != "", f"{b}: a not-checked marker needs a reason"
    markers = [
        f"{page.relative_to(ROOT)}:{n}"
        for page in pages()
        for n, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1)
        if NOT_CHECKED.match(line)
    ]
    assert len(markers) == len(BLOCKS) - len(CHECKED), (
        f"not-checked markers {markers} must each come right before a ```yaml fence"
    )
