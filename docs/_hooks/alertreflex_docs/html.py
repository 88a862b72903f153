"""Small HTML helpers for the generated reference tables.

Generated tables are raw HTML blocks rather than Markdown tables: descriptions hold
``<`` (``alertreflex/<version>``) and ``|`` that Markdown would read as tags or cell
borders, and rows need ids so that pages can link to one setting and the
documentation-coverage test can find it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence

# ``code`` or ``code`` (reStructuredText style, as docstrings write it).
_CODE = re.compile(r"``(.+?)``|`([^`]+)`")


def text(value: str) -> str:
    """Escaped prose in which backtick spans become <code>."""
    out: list[str] = []
    pos = 0
    for m in _CODE.finditer(value):
        out.append(html.escape(value[pos : m.start()], quote=False))
        out.append(f"<code>{html.escape(m.group(1) or m.group(2), quote=False)}</code>")
        pos = m.end()
    out.append(html.escape(value[pos:], quote=False))
    return "".join(out)


def code(value: str) -> str:
    return f"<code>{html.escape(value, quote=False)}</code>"


def key(name: str, sep: str = ".") -> str:
    """A long key as code that wraps after ``sep`` (a dotted path's dots, a metric
    name's underscores) rather than mid-word."""
    parts = [html.escape(p, quote=False) for p in name.split(sep)]
    return "<code>" + f"{sep}<wbr>".join(parts) + "</code>"


def anchor_id(prefix: str, name: str) -> str:
    """A fragment-safe id: ``config-settings.secrets.NAME.file``."""
    cleaned = name.replace("[]", "").replace("<name>", "NAME")
    return prefix + "-" + re.sub(r"[^A-Za-z0-9_.-]", "-", cleaned)


def table(headers: Sequence[str], rows: Iterable[tuple[str | None, Sequence[str]]]) -> str:
    """A table; each row is (id or None, cells already in HTML).

    Surrounded by blank lines so that Markdown passes it through as one block.
    """
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for row_id, cells in rows:
        attr = f' id="{html.escape(row_id)}"' if row_id else ""
        body.append(f"<tr{attr}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (
        "\n\n<table>\n<thead><tr>"
        + head
        + "</tr></thead>\n<tbody>\n"
        + "\n".join(body)
        + "\n</tbody>\n</table>\n\n"
    )
