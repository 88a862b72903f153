"""Loading and validating config files: every problem named by file, line and path."""

from __future__ import annotations

from pathlib import Path

import pytest

from alertreflex.actions.base import load_action_types, params_models
from alertreflex.config.loader import ConfigError, load_config

TYPES = params_models(load_action_types())

VALID = """\
reflexes:
  - name: dump
    team: warehouse
    match:
      - alertname = "BucketTooFull_ORANGE"
      - severity =~ "warning|critical"
    on_firing:
      - exec: {command: ["jcmd", "{{ alert.labels.pid }}", "Thread.print"], timeout: 30s}
    on_resolved:
      - http: {method: POST, url: "http://{{ alert.labels.instance }}/x", json: {a: 1}}
    cooldown: 10m
    resolve_delay: 5s
"""


def _load(tmp_path: Path, text: str, name: str = "c.yml"):  # type: ignore[no-untyped-def]
    f = tmp_path / name
    f.write_text(text)
    return load_config(f, TYPES)


def _problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text)
    return [str(p) for p in info.value.problems]


def test_valid_config_loads(tmp_path: Path) -> None:
    """The issue's example loads with durations, matchers and steps in place."""
    cfg = _load(tmp_path, VALID)
    r = cfg.reflexes["dump"]
    assert r.cooldown == 600 and r.resolve_delay == 5 and r.max_concurrent == 1
    assert str(r.matchers[0]).startswith("alertname=")
    assert r.on_firing[0].action == "exec" and r.on_resolved[0].action == "http"
    assert cfg.index.match(
        {"alertname": "BucketTooFull_ORANGE", "severity": "critical", "team": "warehouse"}
    ) == [r]


def test_ownership_limits_matching(tmp_path: Path) -> None:
    """A reflex never matches an alert of another team, nor one without a team."""
    cfg = _load(tmp_path, VALID)
    labels = {"alertname": "BucketTooFull_ORANGE", "severity": "critical"}
    assert cfg.index.match({**labels, "team": "other"}) == []
    assert cfg.index.match(labels) == []


def test_braces_matcher_string(tmp_path: Path) -> None:
    """match may be one string in Alertmanager's braces form."""
    cfg = _load(
        tmp_path,
        VALID.replace(
            '    match:\n      - alertname = "BucketTooFull_ORANGE"\n      - severity =~ "warning|critical"\n',
            '    match: \'{alertname="BucketTooFull_ORANGE", severity=~"warning|critical"}\'\n',
        ),
    )
    assert len(cfg.reflexes["dump"].matchers) == 2


BROKEN = [
    ("reflexes: [\n  - name: x\n", "c.yml:2: invalid YAML"),
    (
        "reflexes:\n  - name: Bad Name\n    team: t\n    match: []\n    on_firing: [{exec: {command: ['true']}}]\n",
        "c.yml:2: reflexes[0].name: String should match pattern",
    ),
    (
        "reflexes:\n  - name: x\n    match: []\n    on_firing: [{exec: {command: ['true']}}]\n",
        "c.yml:2: reflexes[0].team: required field is missing",
    ),
    (
        "reflexes:\n  - name: x\n    team: t\n    match: ['alertname ~ \"a\"']\n    on_firing: [{exec: {command: ['true']}}]\n",
        "c.yml:4: reflexes[0].match[0]:",
    ),
    (
        "reflexes:\n  - name: x\n    team: t\n    match: ['a =~ \"(\"']\n    on_firing: [{exec: {command: ['true']}}]\n",
        "c.yml:4: reflexes[0].match[0]:",
    ),
    (
        "reflexes:\n  - name: x\n    team: t\n    match: []\n    on_firing:\n      - exec: {command: ['true']}\n      - nope: {}\n",
        "c.yml:7: reflexes[0].on_firing[1].nope: unknown action type 'nope'",
    ),
    (
        "reflexes:\n  - name: x\n    team: t\n    match: []\n    on_firing:\n      - exec: {command: ['true'], timeout: 5 minutes}\n",
        "c.yml:6: reflexes[0].on_firing[0].exec.timeout: invalid duration",
    ),
    (
        "reflexes:\n  - name: x\n    team: t\n    match: []\n    on_firing:\n      - exec: {command: ['{{ alert.labels.pid }']}\n",
        "c.yml:6: reflexes[0].on_firing[0].exec.command[0]: template syntax error",
    ),
    (
        "reflexes:\n  - name: x\n    team: t\n    match: []\n    on_firing:\n      - exec: {command: ['{{ alertt.labels.pid }}']}\n",
        "unknown template variable(s) alertt",
    ),
    (
        "reflexes:\n  - name: x\n    team: t\n    match: []\n    on_firing:\n      - http: {url: 'http://x', json: {}, body: 'y'}\n",
        "reflexes[0].on_firing[0].http",
    ),
    (
        "reflexes:\n  - name: x\n    team: t\n    match: []\n    on_firing:\n      - exec: {command: ['true']}\n        http: {url: 'http://x'}\n",
        "c.yml:6: reflexes[0].on_firing[0]: a step needs exactly one action, found several",
    ),
    (
        "reflexes:\n  - name: x\n    team: t\n    match: []\n",
        "c.yml:2: reflexes[0]: a reflex needs on_firing or on_resolved steps",
    ),
    (
        "reflexes:\n  - name: x\n    team: t\n    match: ['team=\"u\"']\n    on_firing: [{exec: {command: ['true']}}]\n",
        "can never match: reflex of team 't'",
    ),
    (
        "reflexes:\n  - name: x\n    team: t\n    match: []\n    on_firing: [{exec: {command: ['true']}}]\n    colldown: 5m\n",
        "c.yml:6: reflexes[0].colldown: unknown field",
    ),
    ("settings:\n  max_concurrent_runs: 0\n", "c.yml:2: settings.max_concurrent_runs:"),
    ("settings:\n  output_limit: lots\n", "c.yml:2: settings.output_limit: invalid size"),
    ("reflexes:\n  - name: x\n    name: y\n", "c.yml:3: duplicate key 'name' (first at line 2)"),
    (
        "settings:\n  webhook_auth: {bearer_token_file: /nonexistent/token}\n",
        "settings.webhook_auth.bearer_token_file: cannot read /nonexistent/token",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BROKEN)
def test_broken_config_is_reported(tmp_path: Path, text: str, expected: str) -> None:
    """Each broken config is rejected with a message naming file, line and path."""
    problems = _problems(tmp_path, text)
    assert any(expected in p for p in problems), problems


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    """Two reflexes with one problem each: both problems are listed."""
    text = (
        "reflexes:\n  - name: a\n    team: t\n    match: ['x=~\"[\"']\n"
        "    on_firing: [{exec: {command: ['true']}}]\n"
        "  - name: b\n    team: t\n    match: []\n    on_firing: [{exec: {command: []}}]\n"
    )
    problems = _problems(tmp_path, text)
    assert len(problems) == 2
    assert problems[0].startswith(f"{tmp_path / 'c.yml'}:4: reflexes[0].match[0]")
    assert problems[1].startswith(f"{tmp_path / 'c.yml'}:9: reflexes[1].on_firing[0].exec.command")


def test_directory_merges_files_and_rejects_duplicate_names(tmp_path: Path) -> None:
    """A directory's files are merged; a reflex name used twice names both files."""
    (tmp_path / "a.yml").write_text(VALID)
    (tmp_path / "b.yaml").write_text(VALID.replace("name: dump", "name: other"))
    (tmp_path / "notes.txt").write_text("ignored")
    cfg = load_config(tmp_path, TYPES)
    assert set(cfg.reflexes) == {"dump", "other"}
    (tmp_path / "c.yml").write_text(VALID)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, TYPES)
    msg = str(info.value)
    assert "c.yml:2: reflexes[0].name: duplicate reflex name 'dump'" in msg
    assert "a.yml:2" in msg


def test_settings_in_two_files_is_an_error(tmp_path: Path) -> None:
    """Settings belong in one file of a directory."""
    (tmp_path / "a.yml").write_text("settings: {max_concurrent_runs: 2}\n")
    (tmp_path / "b.yml").write_text("settings: {max_concurrent_runs: 3}\n")
    with pytest.raises(ConfigError, match="settings are already defined in"):
        load_config(tmp_path, TYPES)


def test_missing_path_and_empty_file(tmp_path: Path) -> None:
    """A missing path is an error; an empty file is an empty, valid config."""
    with pytest.raises(ConfigError, match="no such file or directory"):
        load_config(tmp_path / "missing.yml", TYPES)
    (tmp_path / "empty.yml").write_text("")
    assert load_config(tmp_path / "empty.yml", TYPES).reflexes == {}


def test_secrets_and_webhook_token_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Secrets come from files or the environment; the webhook token from a file."""
    (tmp_path / "token").write_text("s3cret-token\n")
    monkeypatch.setenv("PIZZA_KEY", "pizza-key-123")
    cfg = _load(
        tmp_path,
        f"""\
settings:
  webhook_auth: {{bearer_token_file: {tmp_path / "token"}}}
  secrets:
    pizza: {{env: PIZZA_KEY}}
    token: {{file: {tmp_path / "token"}}}
""",
    )
    assert cfg.webhook_credentials == ("bearer", "s3cret-token")
    assert cfg.secrets == {"pizza": "pizza-key-123", "token": "s3cret-token"}


def test_an_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    """A few hundred bytes of YAML aliases must not expand into a billion values."""
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcdefg", "bcdefgh", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 10) + "]")
    f = tmp_path / "bomb.yml"
    f.write_text("\n".join([*lines, "reflexes: *h", ""]))
    with pytest.raises(ConfigError, match=r"more than 200000 values \(after expanding aliases\)"):
        load_config(f, TYPES)


def test_a_secret_a_template_names_must_exist(tmp_path: Path) -> None:
    """A misspelt secret is a config error at its line, not a run failing at 3 a.m.;
    secrets named through a variable cannot be checked and are left to run time."""
    (tmp_path / "token").write_text("s3cret-token\n")
    problems = _problems(
        tmp_path,
        f"""\
settings:
  secrets:
    pizza: {{file: {tmp_path / "token"}}}
reflexes:
  - name: r
    team: t
    match: ['alertname = "A"']
    on_firing:
      - http:
          url: "https://pizza.example/{{{{ secrets.pizza }}}}"
          headers: {{X-Key: "{{{{ secrets.piza }}}}", X-Other: "{{{{ secrets['nope'] }}}}"}}
          json: {{k: "{{{{ secrets[alert.labels.which] }}}}"}}
""",
    )
    f = tmp_path / "c.yml"
    assert problems == [
        f"{f}:11: reflexes[0].on_firing[0].http.headers.X-Key: unknown secret 'piza';"
        " settings.secrets has pizza",
        f"{f}:11: reflexes[0].on_firing[0].http.headers.X-Other: unknown secret 'nope';"
        " settings.secrets has pizza",
    ]


URL_IN_PATH = """\
reflexes:
  - name: items
    team: t
    match: ['alertname="ItemStuck"']
    on_firing:
      - http:
          method: DELETE
          url: "http://api.example/api/items/{{ alert.labels.item }}"
      - http: {url: "http://api.example/api/items/{{ alert.labels.item | path_segment }}"}
      - log_level:
          level: DEBUG
          get: {url: "http://{{ alert.labels.instance }}/log?logger={{ alert.labels.logger }}"}
          set: {url: "http://{{ alert.labels.instance }}/log", method: PUT}
"""


def test_alert_data_in_a_url_path_is_a_warning_with_file_line_and_path(tmp_path: Path) -> None:
    """An unencoded label in a URL's path or query loads, with one warning each naming
    file, line and parameter; the host part and the filtered step give none."""
    cfg = _load(tmp_path, URL_IN_PATH)
    assert [r.name for r in cfg.reflexes.values()] == ["items"]
    f = tmp_path / "c.yml"
    assert [str(w) for w in cfg.warnings] == [
        f"{f}:8: reflexes[0].on_firing[0].http.url: warning: {{{{ alert.labels.item }}}} puts "
        "alert data into the URL's path unencoded (a value such as '../admin' or "
        "'x?role=admin' leaves its segment): write {{ alert.labels.item | path_segment }}",
        f"{f}:12: reflexes[0].on_firing[2].log_level.get.url: warning: "
        "{{ alert.labels.logger }} puts alert data into the URL's query unencoded (a value "
        "such as 'x&admin=1' adds a parameter): write {{ alert.labels.logger | urlencode }}",
    ]


def test_an_invalid_config_still_reports_its_warnings(tmp_path: Path) -> None:
    """ConfigError carries the warnings too, so check can show everything at once."""
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, URL_IN_PATH + "    cooldown: soon\n")
    assert [p.path for p in info.value.problems] == ["reflexes[0].cooldown"]
    assert [w.path for w in info.value.warnings] == [
        "reflexes[0].on_firing[0].http.url",
        "reflexes[0].on_firing[2].log_level.get.url",
    ]
