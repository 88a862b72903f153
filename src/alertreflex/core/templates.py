"""Sandboxed Jinja2 templates in step parameters.

Every string in a step's parameters may be a template. Alert data is untrusted: it is
only ever *substituted* into a template, never compiled as one, so a label value of
``{{ 7*7 }}`` stays that literal text. The environment is Jinja2's immutable sandbox
with ``StrictUndefined``: a misspelt variable fails at load time (unknown top-level
name) or at render time (unknown attribute), never as a silent empty string.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from alertreflex.core.paths import Path, format_path

# The names a template may use; documented in docs/configuration.md.
CONTEXT_NAMES = frozenset({"alert", "notification", "reflex", "run_id", "trigger", "secrets"})

# The filter that makes a value one URL path segment; url_templates checks for it.
PATH_SEGMENT = "path_segment"
# Segments that are not data: "." and ".." are dot segments (and RFC 3986 makes "%2E"
# the same character, so servers decode it), "" makes "/items/" of "/items/{id}".
_NOT_A_SEGMENT = frozenset({"", ".", ".."})


def path_segment(value: Any) -> str:
    """``value`` as exactly one URL path segment: everything but RFC 3986's
    unreserved characters (letters, digits, ``-._~``) is percent-encoded as UTF-8,
    so ``/``, ``?``, ``#`` and ``%`` cannot end the segment or the path."""
    text = str(value)
    if text in _NOT_A_SEGMENT:
        raise jinja2.TemplateRuntimeError(
            f"{PATH_SEGMENT}: {text!r} cannot be a path segment: it would change the path"
        )
    return quote(text, safe="")


_ENV = ImmutableSandboxedEnvironment(
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
)
_ENV.filters[PATH_SEGMENT] = path_segment


class TemplateError(ValueError):
    """A template that does not compile, uses an unknown name, or fails to render.

    ``path`` locates the parameter (``("command", 1)``), ``reason`` says what is wrong.
    """

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{format_path(path)}: {reason}" if path else reason)


@functools.lru_cache(maxsize=8192)
def syntax_tree(text: str) -> nodes.Template | str:
    """``text``'s syntax tree, or its syntax error message."""
    try:
        return _ENV.parse(text)
    except jinja2.TemplateSyntaxError as exc:
        return f"template syntax error: {exc.message}"


@functools.lru_cache(maxsize=8192)
def _undeclared(text: str) -> frozenset[str] | str:
    """The names ``text`` uses from outside, or why it cannot be compiled."""
    ast = syntax_tree(text)
    if isinstance(ast, str):
        return ast
    try:
        return frozenset(meta.find_undeclared_variables(ast))
    except jinja2.TemplateAssertionError as exc:  # a filter or test that does not exist
        return f"template error: {exc.message}"


def template_strings(value: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """(path, text) for every string in a tree of mappings and lists."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from template_strings(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from template_strings(item, (*path, i))


def names_used(value: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """(path, name) for every outside name the templates in ``value`` use."""
    for at, text in template_strings(value, path):
        if "{{" in text or "{%" in text:
            found = _undeclared(text)
            if not isinstance(found, str):
                yield from ((at, name) for name in sorted(found))


@functools.lru_cache(maxsize=8192)
def _secrets_named(text: str) -> tuple[str, ...]:
    """The secrets ``text`` names literally (``secrets.x``, ``secrets['x']``)."""
    ast = syntax_tree(text)
    if isinstance(ast, str):
        return ()  # reported as a syntax error where the template is checked
    found: set[str] = set()
    for node in ast.find_all(nodes.Getattr):
        assert isinstance(node, nodes.Getattr)
        if isinstance(node.node, nodes.Name) and node.node.name == "secrets":
            found.add(node.attr)
    for item in ast.find_all(nodes.Getitem):
        assert isinstance(item, nodes.Getitem)
        is_secrets = isinstance(item.node, nodes.Name) and item.node.name == "secrets"
        if is_secrets and isinstance(item.arg, nodes.Const) and isinstance(item.arg.value, str):
            found.add(item.arg.value)
    return tuple(sorted(found))


def secrets_named(value: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """(path, secret) for every secret the templates in ``value`` name literally, so
    that a misspelt one is a config error rather than a failed run."""
    for at, text in template_strings(value, path):
        if "secrets" in text and looks_templated(text):
            yield from ((at, name) for name in _secrets_named(text))


@functools.lru_cache(maxsize=8192)
def _template(text: str) -> jinja2.Template:
    return _ENV.from_string(text)


@dataclass(frozen=True)
class _Compiled:
    """A checked template, compiled on first use.

    Loading 10,000 reflexes compiled 10,000 templates up front (17 s here); checking
    them is a quarter of that, and identical texts share one compiled template.
    """

    source: str

    def render(self, context: Mapping[str, Any]) -> str:
        return _template(self.source).render(context)


def looks_templated(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text


def compile_string(text: str, path: Path = ()) -> str | _Compiled:
    """Check ``text`` if it contains template syntax; plain strings stay strings."""
    if not looks_templated(text):
        return text
    names = _undeclared(text)
    if isinstance(names, str):
        raise TemplateError(path, names)
    unknown = names - CONTEXT_NAMES
    if unknown:
        raise TemplateError(
            path,
            f"unknown template variable(s) {', '.join(sorted(unknown))}; "
            f"available: {', '.join(sorted(CONTEXT_NAMES))}",
        )
    return _Compiled(text)


class TemplateTree:
    """A parameter structure (dicts, lists, scalars) with its strings precompiled."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self._tree = self._compile(raw, ())

    @classmethod
    def _compile(cls, value: Any, path: Path) -> Any:
        if isinstance(value, str):
            return compile_string(value, path)
        if isinstance(value, Mapping):
            return {k: cls._compile(v, (*path, str(k))) for k, v in value.items()}
        if isinstance(value, list):
            return [cls._compile(v, (*path, i)) for i, v in enumerate(value)]
        return value

    def render(self, context: Mapping[str, Any]) -> Any:
        """Render every template; raise TemplateError naming the parameter that failed."""
        return self._render(self._tree, context, ())

    @classmethod
    def _render(cls, node: Any, context: Mapping[str, Any], path: Path) -> Any:
        if isinstance(node, _Compiled):
            try:
                return node.render(context)
            except jinja2.UndefinedError as exc:
                raise TemplateError(path, exc.message or "undefined value") from None
            except jinja2.TemplateError as exc:
                raise TemplateError(path, str(exc)) from None
            except Exception as exc:  # e.g. a ZeroDivisionError inside the template
                raise TemplateError(path, f"{type(exc).__name__}: {exc}") from None
        if isinstance(node, dict):
            return {k: cls._render(v, context, (*path, k)) for k, v in node.items()}
        if isinstance(node, list):
            return [cls._render(v, context, (*path, i)) for i, v in enumerate(node)]
        return node
