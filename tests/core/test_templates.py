"""Sandboxed templates: strict about names, inert for alert data."""

from __future__ import annotations

import re

import pytest

from alertreflex.core.templates import TemplateError, TemplateTree

CTX = {
    "alert": {"labels": {"pid": "42", "evil": "{{ 7*7 }}"}},
    "notification": {},
    "reflex": {"name": "r", "team": "t"},
    "run_id": "id",
    "trigger": "firing",
    "secrets": {},
}


def test_renders_nested_structures() -> None:
    """Strings anywhere in lists and mappings are rendered; other values are kept."""
    tree = TemplateTree(
        {
            "command": ["jcmd", "{{ alert.labels.pid }}"],
            "n": 3,
            "json": {"who": "{{ reflex.name }}", "ok": True},
        }
    )
    assert tree.render(CTX) == {"command": ["jcmd", "42"], "n": 3, "json": {"who": "r", "ok": True}}


def test_alert_data_is_not_evaluated() -> None:
    """A label that looks like a template stays literal text."""
    assert TemplateTree("{{ alert.labels.evil }}").render(CTX) == "{{ 7*7 }}"


def test_unknown_name_fails_at_load() -> None:
    """A misspelt top-level name is an error when the config loads."""
    with pytest.raises(TemplateError, match=r"command\[1\]: unknown template variable\(s\) alrt"):
        TemplateTree({"command": ["x", "{{ alrt.labels.pid }}"]})


def test_missing_attribute_fails_at_render_naming_the_parameter() -> None:
    """A label the alert lacks is an error naming the parameter, not an empty string."""
    tree = TemplateTree({"url": "http://{{ alert.labels.instance }}/"})
    with pytest.raises(TemplateError, match="url: 'dict object' has no attribute 'instance'"):
        tree.render(CTX)


def test_sandbox_blocks_attribute_escapes() -> None:
    """Reaching Python internals from a template is refused by the sandbox."""
    tree = TemplateTree("{{ alert.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(TemplateError):
        tree.render(CTX)


def test_syntax_error_is_reported() -> None:
    """Broken template syntax fails at load with Jinja's reason."""
    with pytest.raises(TemplateError, match="template syntax error"):
        TemplateTree("{{ alert.labels.pid }")


def test_loop_variables_are_not_unknown_names() -> None:
    """Names bound inside the template (for, set) are not reported as unknown."""
    tree = TemplateTree("{% for k, v in alert.labels|dictsort %}{{ k }}={{ v }};{% endfor %}")
    assert tree.render(CTX) == "evil={{ 7*7 }};pid=42;"


HOSTILE_SEGMENTS = [
    ("../../admin", "..%2F..%2Fadmin"),
    ("x/../../../secret", "x%2F..%2F..%2F..%2Fsecret"),
    ("x?role=admin#", "x%3Frole%3Dadmin%23"),
    ("%2e%2e", "%252e%252e"),
    ("ünï/cødé", "%C3%BCn%C3%AF%2Fc%C3%B8d%C3%A9"),
    ("a b;c", "a%20b%3Bc"),
    ("Az09-._~", "Az09-._~"),
]


@pytest.mark.parametrize(("value", "encoded"), HOSTILE_SEGMENTS)
def test_path_segment_keeps_a_value_in_one_segment(value: str, encoded: str) -> None:
    """path_segment encodes all but RFC 3986's unreserved characters, '/' and '%' too."""
    tree = TemplateTree("http://h/api/items/{{ alert.labels.item | path_segment }}")
    ctx = {**CTX, "alert": {"labels": {"item": value}}}
    assert tree.render(ctx) == f"http://h/api/items/{encoded}"


@pytest.mark.parametrize("value", ["", ".", ".."])
def test_path_segment_refuses_values_that_change_the_path(value: str) -> None:
    """'', '.' and '..' (whose %2E form servers decode) cannot be one segment: the
    step fails with a message naming the parameter and the value, nothing is sent."""
    tree = TemplateTree({"url": "http://h/api/items/{{ alert.labels.item | path_segment }}"})
    ctx = {**CTX, "alert": {"labels": {"item": value}}}
    with pytest.raises(TemplateError, match=rf"^url: path_segment: '{re.escape(value)}' cannot"):
        tree.render(ctx)


def test_unknown_filter_fails_at_load() -> None:
    """A misspelt filter (path_segmnet) is an error when the config loads, not a crash
    of the check nor a failure at the first run."""
    with pytest.raises(
        TemplateError, match=r"^url: template error: No filter named 'path_segmnet'"
    ):
        TemplateTree({"url": "http://h/{{ alert.labels.item | path_segmnet }}"})
