"""The config's JSON Schema (draft 2020-12), for YAML editors and other tools.

It is generated from the pydantic models of :mod:`alertreflex.config.schema`, with
what those models cannot say by themselves added here:

* Steps: the models only know "a mapping"; the loader then applies the action type's
  own ``Params``. Here each step is one of ``{<type>: <its Params>, name,
  continue_on_error}`` for every action type given, plugins included.
* Durations and sizes: the loader also takes seconds as a number and sizes as text
  (``64KiB``), and a duration's default is shown as a duration (``30s``).
* The rules between fields that the models check in validators (a secret has one
  source, a reflex has steps, ...).

The schema accepts every config the loader accepts in the documented forms, so that
an editor shows no false errors; it is looser where a check needs more than the
file's structure (matcher and template syntax, names unique across files, time
interval references, an action's own rules between its parameters).
Only keywords that draft-07 validators read the same way are used, since several
editors still validate with draft-07.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any, Final

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema

from alertreflex import __version__
from alertreflex.config import schema as config_schema
from alertreflex.config.schema import (
    STEP_KEYS,
    AuthUser,
    ConfigFile,
    ReflexConfig,
    SecretRef,
    Settings,
    WebhookAuth,
)
from alertreflex.core.durations import format_duration
from alertreflex.core.types import Duration

DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"

DURATION_PATTERN: Final[str] = TypeAdapter(Duration).json_schema()["pattern"]
SIZE_PATTERN: Final = r"^\s*\d+\s*(B|KB|KiB|MB|MiB|GB|GiB)?\s*$"

# pydantic emits these constraint names as they are when a validator wraps the type
# (ByteSize); JSON Schema spells them differently.
_CONSTRAINTS: Final = {
    "ge": "minimum",
    "gt": "exclusiveMinimum",
    "le": "maximum",
    "lt": "exclusiveMaximum",
}

# What the step keys beside the action mean; must cover config.schema.STEP_KEYS.
_STEP_PROPERTIES: Final[dict[str, JsonSchemaValue]] = {
    "name": {
        "type": "string",
        "description": "The step's name, shown in runs and logs; default: the action type.",
    },
    "continue_on_error": {
        "type": "boolean",
        "default": False,
        "description": "Go on with the next step when this one fails; by default a "
        "failed step ends the run.",
    },
}


def _nonempty(field: str) -> JsonSchemaValue:
    return {"required": [field], "properties": {field: {"type": "string", "minLength": 1}}}


def _steps(field: str) -> JsonSchemaValue:
    return {"required": [field], "properties": {field: {"type": "array", "minItems": 1}}}


# The models' cross-field validators, as schema keywords. Each holds only when the
# loader's check does; a value left null is treated as absent, as pydantic does.
_RULES: Final[dict[type[BaseModel], JsonSchemaValue]] = {
    SecretRef: {
        "oneOf": [
            {"required": ["file"], "properties": {"file": {"type": "string"}}},
            {"required": ["env"], "properties": {"env": {"type": "string"}}},
        ]
    },
    WebhookAuth: {
        "not": {
            "required": ["bearer_token_file", "basic_auth"],
            "properties": {
                "bearer_token_file": {"type": "string", "minLength": 1},
                "basic_auth": {"type": "object"},
            },
        }
    },
    AuthUser: {"anyOf": [_nonempty("password_hash_file"), _nonempty("token_file")]},
    ReflexConfig: {"anyOf": [_steps("on_firing"), _steps("on_resolved")]},
}

# Descriptions for models that have no docstring of their own.
_DESCRIPTIONS: Final[dict[type[BaseModel], str]] = {
    Settings: "Server-wide settings; in one file of the config only.",
    ReflexConfig: "A named, team-owned rule: which alerts (matchers), what to do on "
    "firing and on resolved, and its safety policy.",
}


class _Generator(GenerateJsonSchema):
    """pydantic's generator, with the input forms the loader accepts and no
    per-property titles (they only repeat the key)."""

    def function_before_schema(
        self, schema: core_schema.BeforeValidatorFunctionSchema
    ) -> JsonSchemaValue:
        if schema["function"].get("function") is config_schema._to_bytes:
            return {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": SIZE_PATTERN}]}
        return super().function_before_schema(schema)

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def config_json_schema(
    action_params: Mapping[str, type[BaseModel]], *, team_file: bool = False
) -> JsonSchemaValue:
    """The JSON Schema of one config file.

    ``action_params`` maps each action type to its parameter model (as for
    ``load_config``). With ``team_file`` it is the schema of a team's file in a
    repository that ``alertreflex sync`` reads: no ``settings``, and a reflex's
    ``team`` may be left out (the directory names it).
    """
    params = dict(sorted(action_params.items()))
    models: list[type[BaseModel]] = list(
        dict.fromkeys([ConfigFile, *_RULES, *_DESCRIPTIONS, *params.values()])
    )
    refs, top = models_json_schema(
        [(m, "validation") for m in models],
        ref_template="#/$defs/{model}",
        schema_generator=_Generator,
    )
    defs: dict[str, JsonSchemaValue] = top.get("$defs", {})

    def def_name(model: type[BaseModel]) -> str:
        return str(refs[(model, "validation")]["$ref"]).removeprefix("#/$defs/")

    for model, rule in _RULES.items():
        defs[def_name(model)].update(copy.deepcopy(rule))
    for model, text in _DESCRIPTIONS.items():
        defs[def_name(model)].setdefault("description", text)

    reflex = defs[def_name(ReflexConfig)]
    step_ref = _add_steps(defs, {name: def_name(model) for name, model in params.items()})
    for key, when in (("on_firing", "the alert fires"), ("on_resolved", "it resolves")):
        reflex["properties"][key]["items"] = {"$ref": step_ref}
        reflex["properties"][key]["description"] = f"Steps run in order when {when}."

    root = defs.pop(def_name(ConfigFile))
    root.pop("title", None)
    kind = "team-file" if team_file else "config"
    if team_file:
        del root["properties"]["settings"]
        reflex["required"] = [r for r in reflex["required"] if r != "team"]
        reflex["properties"]["team"]["description"] = (
            "Owning team; in a team's file it defaults to the team of the file's "
            "directory, and naming another team is an error."
        )
        title = "alertreflex team file"
        what = "A team's file of reflexes and time intervals, as alertreflex sync reads it"
    else:
        title = "alertreflex configuration"
        what = "One file of alertreflex's configuration (a config directory merges several)"
    schema: JsonSchemaValue = {
        "$schema": DIALECT,
        "$id": f"urn:alertreflex:schema:{kind}:{__version__}",
        "title": title,
        "description": f"{what}. Generated by alertreflex {__version__} "
        "(alertreflex schema); alertreflex check validates what a schema cannot.",
        **root,
        "$defs": dict(sorted(defs.items())),
    }
    _walk(schema, _fix)
    return schema


def _add_steps(defs: dict[str, JsonSchemaValue], params: Mapping[str, str]) -> str:
    """One ``$defs`` entry per action type's step, and ``Step``, one of them."""
    if set(_STEP_PROPERTIES) != STEP_KEYS:
        raise RuntimeError(
            f"step keys {sorted(STEP_KEYS)} and their schema {sorted(_STEP_PROPERTIES)} differ"
        )
    choices: list[JsonSchemaValue] = []
    for action, model_def in params.items():
        name = f"step.{action}"
        defs[name] = {
            "type": "object",
            "title": f"{action} step",
            "description": f"A step of action type {action}: its parameters under the "
            f"key {action}.",
            "properties": {action: {"$ref": f"#/$defs/{model_def}"}, **_STEP_PROPERTIES},
            "required": [action],
            "additionalProperties": False,
        }
        choices.append({"$ref": f"#/$defs/{name}"})
    defs["Step"] = {
        "description": "One action: a mapping with exactly one action type as key "
        f"({', '.join(params) or 'none are installed'}), its parameters as value.",
        # No action type installed: no step can be valid.
        **({"oneOf": choices} if choices else {"not": {}}),
    }
    return "#/$defs/Step"


def _fix(node: dict[str, Any]) -> None:
    for wrong, right in _CONSTRAINTS.items():
        if wrong in node:
            node[right] = node.pop(wrong)
    if node.get("pattern") == DURATION_PATTERN and node.get("type") == "string":
        # Also seconds as a number, as the loader takes them.
        del node["type"], node["pattern"]
        node["anyOf"] = [
            {"type": "string", "pattern": DURATION_PATTERN},
            {"type": "number", "minimum": 0},
        ]
    if _is_duration(node) and isinstance(node.get("default"), int | float):
        node["default"] = format_duration(float(node["default"]))


def _is_duration(node: dict[str, Any]) -> bool:
    return any(
        isinstance(s, dict) and (s.get("pattern") == DURATION_PATTERN or _is_duration(s))
        for s in node.get("anyOf", ())
    )


# Keywords whose value is a schema, a list of schemas, or a mapping of names to schemas.
_ONE: Final = ("items", "additionalProperties", "not", "contains", "propertyNames")
_LIST: Final = ("anyOf", "oneOf", "allOf", "prefixItems")
_MAP: Final = ("properties", "$defs", "patternProperties", "dependentSchemas")


def _walk(node: Any, visit: Callable[[dict[str, Any]], None]) -> None:
    """Call ``visit`` on every subschema, inner ones first. Only schema positions are
    visited: a property named ``ge`` or ``pattern`` is never taken for a keyword."""
    if not isinstance(node, dict):
        return
    for key in _ONE:
        _walk(node.get(key), visit)
    for key in _LIST:
        for sub in node.get(key, ()):
            _walk(sub, visit)
    for key in _MAP:
        for sub in node.get(key, {}).values():
            _walk(sub, visit)
    visit(node)
