"""Sandboxed templates: strict about names, inert for alert data."""

from __future__ import annotations

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
