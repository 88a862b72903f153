"""The HTTP API reference: every path, method, parameter and response of the OpenAPI
document that ``GET /api/v1/openapi.json`` serves, and its schemas."""

from __future__ import annotations

import json
from typing import Any

from alertreflex.web.openapi import openapi_document
from alertreflex_docs import html

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_REF = "#/components/schemas/"


def operation_id(method: str, path: str) -> str:
    """``post-api-v1-runs-id-approve`` for POST /api/v1/runs/{id}/approve."""
    return html.anchor_id(method, path.replace("{", "").replace("}", "").strip("/"))


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def schema_text(schema: dict[str, Any]) -> str:
    """A schema in a few words of HTML, linking to named schemas."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix(_REF)
        return f'<a href="#schema-{name}">{html.text(name)}</a>'
    if "const" in schema:
        return html.code(json.dumps(schema["const"]))
    if "enum" in schema:
        return "one of " + ", ".join(html.code(str(v)) for v in schema["enum"])
    if "allOf" in schema:
        return " and ".join(schema_text(s) for s in schema["allOf"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " or ".join(schema_text(s) for s in schema[key])
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        return " or ".join(html.text(k) for k in kind)
    if kind == "array":
        return "array of " + schema_text(schema.get("items", {}))
    extra = schema.get("additionalProperties")
    if kind == "object" and isinstance(extra, dict) and "properties" not in schema:
        return "map of " + schema_text(extra)
    text = html.text(kind)
    if "format" in schema:
        text += f" ({html.text(schema['format'])})"
    return text


def _constraints(schema: dict[str, Any]) -> str:
    words = {
        "minimum": "minimum",
        "maximum": "maximum",
        "minLength": "at least {} characters",
        "maxLength": "at most {} characters",
        "minItems": "at least {} items",
        "default": "default",
    }
    parts = []
    for key, word in words.items():
        if key in schema:
            value = json.dumps(schema[key])
            parts.append(word.format(value) if "{}" in word else f"{word} {value}")
    return ", ".join(parts)


def properties_table(schema: dict[str, Any], id_prefix: str) -> str:
    required = set(schema.get("required", ()))
    rows = []
    for name, prop in schema.get("properties", {}).items():
        about = " ".join(x for x in (prop.get("description", ""), _constraints(prop)) if x)
        rows.append(
            (
                html.anchor_id(id_prefix, name) if id_prefix else None,
                [
                    html.code(name),
                    schema_text(prop),
                    "yes" if name in required else "",
                    html.text(about),
                ],
            )
        )
    return html.table(("Field", "Type", "Required", "Description"), rows)


def _body(content: dict[str, Any]) -> str:
    parts = []
    for media, spec in content.items():
        schema = spec.get("schema", {})
        parts.append(f"{html.code(media)}: {schema_text(schema)}")
    return "; ".join(parts)


def _operation(method: str, path: str, op: dict[str, Any]) -> str:
    out = [f"\n### `{method.upper()} {path}` {{#{operation_id(method, path)}}}\n\n"]
    out.append(f"<p>{html.text(op.get('summary', ''))}</p>\n\n")
    if op.get("security"):
        schemes = ", ".join(name for entry in op["security"] for name in entry)
        out.append(
            f"<p>Authentication: {html.text(schemes)} (its own token, not a user's).</p>\n\n"
        )
    params = op.get("parameters", [])
    if params:
        rows: list[tuple[str | None, list[str]]] = []
        for p in params:
            kind = schema_text(p.get("schema", {}))
            if limits := _constraints(p.get("schema", {})):
                kind += f"; {html.text(limits)}"
            rows.append(
                (
                    None,
                    [
                        html.code(p["name"]),
                        html.text(p["in"]),
                        "yes" if p.get("required") else "",
                        kind,
                    ],
                )
            )
        out.append("**Parameters**\n")
        out.append(html.table(("Name", "In", "Required", "Type"), rows))
    body = op.get("requestBody")
    if body:
        out.append(
            f"**Request body** ({'required' if body.get('required') else 'optional'}): "
            + _body(body.get("content", {}))
            + "\n\n"
        )
        for spec in body.get("content", {}).values():
            schema = spec.get("schema", {})
            if "properties" in schema:
                out.append(properties_table(schema, ""))
    responses = [
        (None, [html.code(code), html.text(r.get("description", "")), _body(r.get("content", {}))])
        for code, r in op.get("responses", {}).items()
    ]
    out.append("**Responses**\n")
    out.append(html.table(("Status", "Meaning", "Body"), responses))
    return "".join(out)


def reference() -> str:
    doc = openapi_document()
    out = [f"OpenAPI {doc['openapi']}, document version {html.code(doc['info']['version'])}.\n"]
    out.append("\n## Operations\n")
    out += [_operation(m, p, op) for m, p, op in operations(doc)]
    out.append("\n## Schemas\n")
    for name, schema in doc["components"]["schemas"].items():
        out.append(f"\n### `{name}` {{#schema-{name}}}\n\n")
        if schema.get("description"):
            out.append(f"<p>{html.text(schema['description'])}</p>\n\n")
        parts = schema.get("allOf", [schema])
        for part in parts:
            if "$ref" in part:
                out.append(f"<p>All the fields of {schema_text(part)}, and:</p>\n\n")
            elif "properties" in part:
                out.append(properties_table(part, f"schema-{name}"))
    return "".join(out)
