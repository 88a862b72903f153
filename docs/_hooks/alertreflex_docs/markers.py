"""Generated parts of pages: a page asks for one with a marker comment, replaced at
build time, so that nothing generated is committed and nothing can go stale.

    <!-- generated: config-reference settings -->
    <!-- generated: action-params exec -->
"""

from __future__ import annotations

import re
from collections.abc import Callable

from alertreflex.store import postgres_schema, sqlite_schema
from alertreflex_docs import actions_ref, api_ref, cli_ref, config_ref, metrics_ref

MARKER = re.compile(r"<!--\s*generated:\s*([a-z0-9-]+)((?:\s+[A-Za-z0-9_.-]+)*)\s*-->")


class MarkerError(ValueError):
    pass


def _schema_version() -> str:
    # The two stores number their schemas separately: an index SQLite lacked can
    # come without a PostgreSQL migration.
    sqlite, pg = sqlite_schema.SCHEMA_VERSION, postgres_schema.SCHEMA_VERSION
    return f"{sqlite} on SQLite, {pg} on PostgreSQL"


# name -> (number of arguments, renderer called with the page's path and them)
GENERATORS: dict[str, tuple[int, Callable[..., str]]] = {
    "config-reference": (1, lambda page, key: config_ref.section(key)),
    "step-keys": (0, lambda page: config_ref.step_keys()),
    "action-params": (1, lambda page, name: actions_ref.params_table(name)),
    "action-list": (0, actions_ref.action_list),
    "cli-reference": (0, lambda page: cli_ref.reference()),
    "http-api": (0, lambda page: api_ref.reference()),
    "metrics": (0, lambda page: metrics_ref.reference()),
    "store-schema-version": (0, lambda page: _schema_version()),
}


def expand(markdown: str, where: str) -> str:
    """``markdown`` with every marker replaced; a marker that names nothing known, or
    has the wrong number of arguments, is an error naming the page."""

    def replace(m: re.Match[str]) -> str:
        name, args = m.group(1), m.group(2).split()
        if name not in GENERATORS:
            raise MarkerError(
                f"{where}: unknown marker 'generated: {name}' "
                f"(known: {', '.join(sorted(GENERATORS))})"
            )
        count, render = GENERATORS[name]
        if len(args) != count:
            raise MarkerError(f"{where}: marker '{name}' takes {count} argument(s), got {args}")
        try:
            return render(where, *args)
        except (ValueError, KeyError) as exc:
            raise MarkerError(f"{where}: {exc}") from exc

    return MARKER.sub(replace, markdown)
