"""Where alert data lands in a templated URL: the check behind ``alertreflex check``'s
warnings about unencoded values.

Alert data is untrusted. Put into a URL's path as it is, ``../admin`` climbs out of
``/api/items/`` and ``x?role=admin#`` starts a query; put into the query,
``x&admin=1`` adds a parameter. In the path only ``path_segment`` keeps a value in
its segment (Jinja2's ``urlencode`` leaves ``/`` alone); in the query ``urlencode``
does too. A value in the scheme and host part is not checked: it chooses the server
(``http://{{ alert.labels.instance }}/...``), which matchers must constrain.

URL parameters are found by name: a parameter called ``url`` or ending in ``_url``,
at any depth (``log_level``'s ``get.url``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

from jinja2 import nodes

from alertreflex.core.paths import Path
from alertreflex.core.templates import (
    PATH_SEGMENT,
    looks_templated,
    syntax_tree,
    template_strings,
)

# Template names whose values come from the alert, that is from whoever can send one.
_ALERT_DATA = frozenset({"alert", "notification"})
# Fields of those whose format the webhook validates: no '/', '?', '#' or '&' in them.
_VALIDATED = frozenset({"status", "starts_at", "ends_at"})
_PLACEHOLDER = "\0"  # stands for one expression; no URL delimiter
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
_PATH_ENCODERS = frozenset({PATH_SEGMENT})
_QUERY_ENCODERS = frozenset({PATH_SEGMENT, "urlencode"})


def _is_url_parameter(name: str | int) -> bool:
    return isinstance(name, str) and (name == "url" or name.endswith("_url"))


def url_warnings(params: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """(path, message) for each expression that puts alert data unencoded into the
    path or query of a URL parameter in ``params``."""
    for at, text in template_strings(params, path):
        if at and _is_url_parameter(at[-1]) and looks_templated(text):
            yield from ((at, message) for message in _unencoded(text))


@functools.lru_cache(maxsize=4096)
def _unencoded(text: str) -> tuple[str, ...]:
    ast = syntax_tree(text)
    if isinstance(ast, str):
        return ()  # a syntax error, reported where the template is compiled
    pieces: list[str] = []
    expressions: list[nodes.Expr] = []
    # Output nodes in document order, also those inside {% if %} and {% for %}:
    # an approximation of the rendered text that is good enough to place each part.
    for output in ast.find_all(nodes.Output):
        assert isinstance(output, nodes.Output)
        for child in output.nodes:
            if isinstance(child, nodes.TemplateData):
                pieces.append(child.data.replace(_PLACEHOLDER, ""))
            else:
                pieces.append(_PLACEHOLDER)
                expressions.append(child)
    parts = _url_parts("".join(pieces))
    found: list[str] = []
    for expr, part in zip(expressions, parts, strict=True):
        if part == "path":
            found.extend(_path_warning(e) for e in _raw_alert_data(expr, _PATH_ENCODERS))
        elif part == "query":
            found.extend(_query_warning(e) for e in _raw_alert_data(expr, _QUERY_ENCODERS))
    return tuple(found)


def _url_parts(shape: str) -> list[str]:
    """The part of the URL (``authority``, ``path``, ``query``, ``fragment``) of each
    placeholder in ``shape``, the URL's literal text with placeholders.

    Without a literal ``scheme://``, the text before the first ``/`` is taken for the
    scheme and host: ``{{ base_url }}/items/...`` is how a base URL is written.
    """
    start = m.end() if (m := _SCHEME.match(shape)) else 0
    parts = []
    part = "authority"
    for char in shape[start:]:
        if char == _PLACEHOLDER:
            parts.append(part)
        elif char == "#":
            part = "fragment"
        elif char == "?" and part != "fragment":
            part = "query"
        elif char == "/" and part == "authority":
            part = "path"
    return parts


def _raw_alert_data(expr: nodes.Expr, encoders: frozenset[str]) -> list[nodes.Expr]:
    """The sub-expressions of ``expr`` whose alert data reaches the output without one
    of ``encoders`` as their last filter."""
    if isinstance(expr, nodes.Filter) and expr.name in encoders:
        return []
    if isinstance(expr, nodes.Concat):
        return [raw for e in expr.nodes for raw in _raw_alert_data(e, encoders)]
    if isinstance(expr, nodes.CondExpr):
        branches = [expr.expr1] if expr.expr2 is None else [expr.expr1, expr.expr2]
        return [raw for e in branches for raw in _raw_alert_data(e, encoders)]
    if (
        isinstance(expr, nodes.Getattr)
        and isinstance(expr.node, nodes.Name)
        and expr.node.name in _ALERT_DATA
        and expr.attr in _VALIDATED
    ):
        return []
    names = [expr, *expr.find_all(nodes.Name)]
    uses_alert = any(isinstance(n, nodes.Name) and n.name in _ALERT_DATA for n in names)
    return [expr] if uses_alert else []


def _source(expr: nodes.Node) -> str | None:
    """The text of a simple expression (names, attributes, constant subscripts,
    filters with constant arguments), or None."""
    if isinstance(expr, nodes.Name):
        return expr.name
    if isinstance(expr, nodes.Getattr):
        inner = _source(expr.node)
        return None if inner is None else f"{inner}.{expr.attr}"
    if isinstance(expr, nodes.Getitem) and isinstance(expr.arg, nodes.Const):
        inner = _source(expr.node)
        return None if inner is None else f"{inner}[{expr.arg.value!r}]"
    if isinstance(expr, nodes.Filter) and expr.node is not None and not expr.kwargs:
        inner = _source(expr.node)
        consts = [a for a in expr.args if isinstance(a, nodes.Const)]
        if inner is None or len(consts) != len(expr.args):
            return None
        args = f"({', '.join(repr(a.value) for a in consts)})" if consts else ""
        return f"{inner} | {expr.name}{args}"
    return None


def _shown(expr: nodes.Expr, encoder: str) -> tuple[str, str]:
    """How to show ``expr`` in a message, and how to write it with ``encoder``."""
    source = _source(expr)
    if source is None:
        return "an expression", f"{{{{ ... | {encoder} }}}}"
    base = source
    if isinstance(expr, nodes.Filter) and expr.name == "urlencode" and expr.node is not None:
        base = _source(expr.node) or source  # the wrong encoder, replaced
    return f"{{{{ {source} }}}}", f"{{{{ {base} | {encoder} }}}}"


def _path_warning(expr: nodes.Expr) -> str:
    shown, fixed = _shown(expr, PATH_SEGMENT)
    urlencoded = isinstance(expr, nodes.Filter) and expr.name == "urlencode"
    why = (
        "urlencode leaves '/' alone"
        if urlencoded
        else "a value such as '../admin' or 'x?role=admin' leaves its segment"
    )
    return f"{shown} puts alert data into the URL's path unencoded ({why}): write {fixed}"


def _query_warning(expr: nodes.Expr) -> str:
    shown, fixed = _shown(expr, "urlencode")
    return (
        f"{shown} puts alert data into the URL's query unencoded (a value such as "
        f"'x&admin=1' adds a parameter): write {fixed}"
    )
