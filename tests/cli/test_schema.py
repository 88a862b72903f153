"""``alertreflex schema``: a valid JSON Schema that accepts the shipped configs and
refuses broken ones, as the loader does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel, ConfigDict

from alertreflex.actions.base import load_action_types, params_models
from alertreflex.config.jsonschema import config_json_schema
from alertreflex.config.loader import ConfigError, load_config
from alertreflex.config.yamlfile import load_yaml
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = [
    ROOT / "examples" / "alertreflex.yml",
    ROOT / "src" / "alertreflex" / "demo" / "files" / "alertreflex.yml",
]
TEAM_FILES = sorted((ROOT / "examples" / "ownership").rglob("*.reflexes.yml"))
PARAMS = params_models(load_action_types())

VALID_REFLEX = """\
  - name: ok
    team: t
    match: ['alertname="A"']
    on_firing: [{exec: {command: ["true"]}}]
"""


def schema_from_cli(*args: str) -> dict[str, Any]:
    out = run_cli("schema", *args)
    assert out.returncode == 0, out.stderr
    doc: dict[str, Any] = json.loads(out.stdout)
    return doc


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return schema_from_cli()


@pytest.fixture(scope="module")
def team_schema() -> dict[str, Any]:
    return schema_from_cli("--team-file")


def errors(schema: dict[str, Any], data: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(data)]


def yaml_data(text: str) -> Any:
    return load_yaml(text).data


def test_schema_is_valid_json_schema_2020_12_with_its_identity(
    schema: dict[str, Any], team_schema: dict[str, Any]
) -> None:
    """Both schemas pass the metaschema, and say what they are."""
    for doc in (schema, team_schema):
        jsonschema.Draft202012Validator.check_schema(doc)
        assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert doc["$id"].startswith("urn:alertreflex:schema:")
        assert doc["title"] and doc["description"]
    assert schema["$id"] != team_schema["$id"]


def test_output_file_holds_what_stdout_shows(schema: dict[str, Any], tmp_path: Path) -> None:
    """--output writes the same schema, and says where."""
    target = tmp_path / "alertreflex.schema.json"
    out = run_cli("schema", "--output", str(target))
    assert out.returncode == 0 and out.stdout == ""
    assert str(target) in out.stderr
    assert json.loads(target.read_text()) == schema
    bad = run_cli("schema", "--output", str(tmp_path / "no" / "such" / "dir.json"))
    assert bad.returncode == 1 and "cannot write" in bad.stderr


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_configs_validate(schema: dict[str, Any], path: Path) -> None:
    """The example configs are valid for editors too, under draft 2020-12 and under the
    draft-07 that some editors still use."""
    data = yaml_data(path.read_text())
    assert errors(schema, data) == []
    assert list(jsonschema.Draft7Validator(schema).iter_errors(data)) == []


def test_every_team_file_validates_against_the_team_schema(team_schema: dict[str, Any]) -> None:
    """Each team's reflex file under examples/ownership, where team may be left out."""
    assert len(TEAM_FILES) >= 2
    for path in TEAM_FILES:
        assert errors(team_schema, yaml_data(path.read_text())) == [], path


def test_team_schema_refuses_settings_and_the_config_schema_wants_a_team(
    schema: dict[str, Any], team_schema: dict[str, Any]
) -> None:
    """A team's file may not hold settings; alertreflex's own config names the team."""
    settings = yaml_data("settings: {max_concurrent_runs: 4}\n")
    assert errors(team_schema, settings)
    assert errors(schema, settings) == []
    no_team = yaml_data("reflexes:\n" + VALID_REFLEX.replace("    team: t\n", ""))
    assert errors(team_schema, no_team) == []
    assert any("'team' is a required property" in e for e in errors(schema, no_team))


def loader_accepts(text: str, tmp_path: Path) -> bool:
    path = tmp_path / "config.yml"
    path.write_text(text)
    try:
        load_config(path, PARAMS, read_secrets=False)
    except ConfigError:
        return False
    return True


ACCEPTED = {
    "durations as numbers of seconds": "reflexes:\n" + VALID_REFLEX + "    cooldown: 90\n",
    "sizes as text": "settings: {output_limit: 1MiB, max_body_size: 512KiB}\n",
    "empty settings": "settings:\n",
    "a step with a name": "reflexes:\n"
    + VALID_REFLEX.replace("[{exec:", "[{name: first, continue_on_error: true, exec:"),
    "every action type": """\
reflexes:
  - name: all
    team: t
    match: 'alertname="A"'
    delay: 1m
    on_firing:
      - exec: {command: ["true"], timeout: 5s}
      - http: {url: "https://api.example/{{ alert.labels.alertname }}", json: {a: [1]}}
      - log_level: {url: "http://svc/actuator/loggers", level: DEBUG, max_duration: 2h}
      - jvm_thread_dump: {pid: "{{ alert.labels.pid }}", count: 2}
      - am_silence: {url: "http://am:9093", duration: 30m}
""",
    "secrets from files and the environment": "settings:\n  secrets:\n"
    "    a: {file: /run/a}\n    b: {env: B}\n",
}


@pytest.mark.parametrize("text", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_forms_the_loader_accepts_are_valid(
    schema: dict[str, Any], text: str, tmp_path: Path
) -> None:
    """The schema shows no false error on a config the loader takes."""
    assert loader_accepts(text, tmp_path)
    assert errors(schema, yaml_data(text)) == []


REFUSED = {
    "unknown top-level key": ("reflex: []\n", "'reflex' was unexpected"),
    "misspelt setting": ("settings: {colldown: 5m}\n", "settings"),
    "misspelt reflex key": (
        "reflexes:\n" + VALID_REFLEX + "    colldown: 5m\n",
        "'colldown' was unexpected",
    ),
    "number as text": (
        "reflexes:\n" + VALID_REFLEX + "    max_concurrent: many\n",
        "'many' is not of type 'integer'",
    ),
    "duration in words": ("reflexes:\n" + VALID_REFLEX + "    cooldown: 5 minutes\n", "cooldown"),
    "reflexes not a list": ("reflexes: {name: x}\n", "is not of type 'array'"),
    "bad reflex name": ("reflexes:\n" + VALID_REFLEX.replace("name: ok", "name: Ok!"), "name"),
    "unknown action type": (
        "reflexes:\n" + VALID_REFLEX.replace("exec: {command", "teleport: {command"),
        "on_firing[0]",
    ),
    "two actions in one step": (
        "reflexes:\n" + VALID_REFLEX.replace("]}}]", ']}, http: {url: "http://x"}}]'),
        "on_firing[0]",
    ),
    "unknown action parameter": (
        "reflexes:\n" + VALID_REFLEX.replace("command:", "comand:"),
        "on_firing[0]",
    ),
    "no steps": (
        "reflexes:\n" + VALID_REFLEX.replace('    on_firing: [{exec: {command: ["true"]}}]\n', ""),
        "$.reflexes[0]",
    ),
    "secret with two sources": (
        "settings: {secrets: {a: {file: /run/a, env: A}}}\n",
        "settings",
    ),
    "webhook auth both ways": (
        "settings: {webhook_auth: {bearer_token_file: /t, "
        "basic_auth: {username: u, password_file: /p}}}\n",
        "settings",
    ),
    "size in furlongs": ("settings: {output_limit: 3 furlongs}\n", "settings"),
}


@pytest.mark.parametrize(("text", "where"), REFUSED.values(), ids=REFUSED.keys())
def test_broken_configs_are_refused_like_the_loader_does(
    schema: dict[str, Any], text: str, where: str, tmp_path: Path
) -> None:
    """Each broken config is refused by the loader and by the schema, at that place."""
    assert not loader_accepts(text, tmp_path)
    found = errors(schema, yaml_data(text))
    assert found, text
    assert any(where in e for e in found), found


class TeleportParams(BaseModel):
    """A third-party action type's parameters."""

    model_config = ConfigDict(extra="forbid")
    to: str


def test_steps_are_the_union_of_the_action_types_given() -> None:
    """Every installed action type has its step; a plugin's type is described from its
    own parameter model, the same way."""
    schema = config_json_schema({**PARAMS, "teleport": TeleportParams})
    jsonschema.Draft202012Validator.check_schema(schema)
    steps = {ref["$ref"] for ref in schema["$defs"]["Step"]["oneOf"]}
    assert steps == {f"#/$defs/step.{name}" for name in [*PARAMS, "teleport"]}
    assert set(PARAMS) >= {"exec", "http", "log_level", "jvm_thread_dump", "am_silence"}

    def config(step: str) -> Any:
        return yaml_data("reflexes:\n" + VALID_REFLEX.replace('{exec: {command: ["true"]}}', step))

    assert errors(schema, config("{teleport: {to: mars}}")) == []
    assert errors(schema, config("{teleport: {}}"))
    assert errors(config_json_schema(PARAMS), config("{teleport: {to: mars}}"))


def subschemas(node: Any, path: str = "$") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from subschemas(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from subschemas(value, f"{path}[{i}]")


def test_every_default_is_valid_for_its_own_field(schema: dict[str, Any]) -> None:
    """Defaults are shown as they are written (durations as 30s, not 30.0): an editor
    that fills one in gets a valid value."""
    validator = jsonschema.Draft202012Validator(schema)
    checked = 0
    for path, node in subschemas(schema["$defs"]):
        if ".properties." in path and "default" in node and isinstance(node, dict):
            sub = {k: v for k, v in node.items() if k != "default"}
            problems = list(validator.evolve(schema=sub).iter_errors(node["default"]))
            assert problems == [], (path, node["default"], problems)
            checked += 1
    assert checked > 30
    grace = schema["$defs"]["Settings"]["properties"]["shutdown_grace"]
    assert grace["default"] == "30s"
