"""The configuration reference: every key of the config file, from ``ConfigFile``."""

from __future__ import annotations

from collections.abc import Iterable

from alertreflex.config.schema import STEP_KEYS, ConfigFile
from alertreflex_docs import html
from alertreflex_docs.models import FieldDoc, fields, nested_model

HEADERS = ("Key", "Type", "Default", "Description")
# The steps of a reflex are validated by the action's own model (the loader applies
# it), so the schema only knows them as mappings: the reference says what they are.
_STEP_LISTS = {"reflexes[].on_firing", "reflexes[].on_resolved"}


def field_rows(docs: Iterable[FieldDoc], id_prefix: str) -> str:
    rows = []
    for doc in docs:
        kind = html.text(doc.type)
        if doc.path in _STEP_LISTS:
            kind = 'list of <a href="#steps">steps</a>'
        default = {"required": "<em>required</em>", "": "—"}.get(doc.default) or html.code(
            doc.default
        )
        rows.append(
            (
                html.anchor_id(id_prefix, doc.path),
                [html.key(doc.path), kind, default, html.text(doc.description)],
            )
        )
    return html.table(HEADERS, rows)


def section(key: str) -> str:
    """The table of one top-level key (``settings``, ``reflexes``, ``time_intervals``)."""
    info = ConfigFile.model_fields[key]
    nested = nested_model(info.annotation)
    if nested is None:
        raise ValueError(f"config-reference: {key} holds no model")
    model, suffix = nested
    return field_rows(fields(model, key + suffix), "config")


def step_keys() -> str:
    """The keys every step may have besides its one action key."""
    known = {
        "name": "Shown in runs and logs instead of the action's own description.",
        "continue_on_error": "When true, a failed step does not stop the run.",
    }
    missing = STEP_KEYS - known.keys()
    if missing:
        raise ValueError(f"config-reference: step keys without a description: {sorted(missing)}")
    rows = [
        (html.anchor_id("config-step", key), [html.code(key), html.text(known[key])])
        for key in sorted(STEP_KEYS)
    ]
    return html.table(("Key", "Description"), rows)
