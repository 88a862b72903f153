"""MkDocs hooks for alertreflex's documentation (mkdocs.yml: ``hooks:``).

- Pages get their generated parts (configuration reference, action parameters, CLI
  help, HTTP API, metrics) from the code at build time: see alertreflex_docs.markers.
- Every registered action type must have its page, docs/actions/<type>.md; a missing
  one is a warning, which fails ``mkdocs build --strict``.
"""

from __future__ import annotations

import logging
from typing import Any

from alertreflex_docs import actions_ref, markers
from mkdocs.exceptions import PluginError

# Under "mkdocs" so that --strict counts these warnings.
log = logging.getLogger("mkdocs.hooks.alertreflex")


def on_files(files: Any, config: Any) -> Any:
    for name in actions_ref.action_types():
        if files.get_file_from_path(f"actions/{name}.md") is None:
            log.warning(
                "action type %r (entry point group alertreflex.actions) has no page: "
                "write docs/actions/%s.md",
                name,
                name,
            )
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    try:
        return markers.expand(markdown, page.file.src_uri)
    except markers.MarkerError as exc:
        raise PluginError(str(exc)) from exc
