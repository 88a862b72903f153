"""Action types, as registered under the ``alertreflex.actions`` entry-point group,
and the parameter table of each, from its ``Params`` model."""

from __future__ import annotations

import posixpath
from typing import Any

from alertreflex.actions.base import Action, load_action_types
from alertreflex_docs import html
from alertreflex_docs.models import fields

HEADERS = ("Parameter", "Type", "Default", "Description")


def action_types() -> dict[str, type[Action[Any]]]:
    """Every registered action type, built-in or plugin, by name."""
    return dict(sorted(load_action_types().items()))


def params_table(type_name: str) -> str:
    types = action_types()
    if type_name not in types:
        raise ValueError(
            f"action-params: no action type {type_name!r} is registered "
            f"(registered: {', '.join(types)})"
        )
    rows = []
    for doc in fields(types[type_name].Params):
        default = {"required": "<em>required</em>", "": "—"}.get(doc.default) or html.code(
            doc.default
        )
        rows.append(
            (
                html.anchor_id("param", doc.path),
                [html.key(doc.path), html.text(doc.type), default, html.text(doc.description)],
            )
        )
    reversible = types[type_name].Params.reversible
    note = (
        "\n\nThis action is **reversible**: the engine undoes its firing step when the "
        "alert resolves (see [Reversible steps](index.md#reversible-steps)).\n"
        if reversible
        else ""
    )
    return html.table(HEADERS, rows) + note


def action_list(page: str) -> str:
    """One line per registered action type, linking to its page from ``page`` (the
    path of the page within docs/)."""
    lines = []
    for name, cls in action_types().items():
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        target = posixpath.relpath(f"actions/{name}.md", posixpath.dirname(page) or ".")
        lines.append(f"- [`{name}`]({target}): {doc}")
    return "\n".join(lines) + "\n"
