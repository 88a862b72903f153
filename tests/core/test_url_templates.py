"""Which templated URLs put alert data into a path or query unencoded."""

from __future__ import annotations

import pytest

from alertreflex.core.url_templates import url_warnings


def warnings_of(url: str, name: str = "url") -> list[str]:
    return [message for _, message in url_warnings({name: url})]


def test_label_in_path_without_the_filter_is_warned_about() -> None:
    """The issue's URL: the message shows the expression and how to write it."""
    assert warnings_of("http://host/api/items/{{ alert.labels.item }}") == [
        "{{ alert.labels.item }} puts alert data into the URL's path unencoded (a value "
        "such as '../admin' or 'x?role=admin' leaves its segment): write "
        "{{ alert.labels.item | path_segment }}"
    ]


@pytest.mark.parametrize(
    "url",
    [
        "http://host/api/items/{{ alert.labels.item | path_segment }}",
        "http://host/api/{{ alert.labels.item | lower | path_segment }}/x",
        "http://host/{{ alert.labels.a | path_segment }}/{{ alert.labels.b | path_segment }}",
        "http://host/runs/{{ run_id }}/{{ reflex.name }}/{{ trigger }}",
        "http://host/{{ alert.status }}/{{ alert.starts_at }}",
        "http://{{ alert.labels.instance }}/actuator/loggers",
        "http://host:{{ alert.labels.port }}/x",
        "http://host/x?q={{ alert.labels.q | urlencode }}&r={{ alert.labels.r | path_segment }}",
        "http://host/x#{{ alert.labels.anchor }}",
        "http://host/api/items/{{ alert.labels.item | path_segment ",  # a syntax error
    ],
)
def test_encoded_or_trusted_values_are_not_warned_about(url: str) -> None:
    """The filter as the last filter, config-owned or validated values, and alert data
    in the host, port or fragment: no warning."""
    assert warnings_of(url) == []


def test_urlencode_in_a_path_is_warned_about() -> None:
    """urlencode leaves '/' alone, so in a path it is replaced by path_segment."""
    assert warnings_of("http://host/items/{{ alert.labels.item | urlencode }}") == [
        "{{ alert.labels.item | urlencode }} puts alert data into the URL's path unencoded "
        "(urlencode leaves '/' alone): write {{ alert.labels.item | path_segment }}"
    ]


def test_label_in_query_without_urlencode_is_warned_about() -> None:
    """'x&admin=1' would add a parameter: the query wants urlencode."""
    assert warnings_of("http://host/search?q={{ alert.annotations.summary }}&n=1") == [
        "{{ alert.annotations.summary }} puts alert data into the URL's query unencoded "
        "(a value such as 'x&admin=1' adds a parameter): write "
        "{{ alert.annotations.summary | urlencode }}"
    ]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        # A base URL from a template: the path starts at the first literal '/'.
        ("{{ notification.external_url }}/api/{{ alert.fingerprint }}", "alert.fingerprint"),
        ("http://h/{{ notification.common_labels['job'] }}", "notification.common_labels['job']"),
        ("http://h/{{ alert.labels.a ~ '-' ~ alert.labels.b | path_segment }}", "alert.labels.a"),
        ("http://h/{% if alert.labels.a %}{{ alert.labels.a }}{% endif %}", "alert.labels.a"),
        ("http://h/{{ alert.labels.a | default('none') }}", "alert.labels.a | default('none')"),
    ],
)
def test_every_kind_of_alert_data_is_found(url: str, shown: str) -> None:
    """Annotations, notification data, concatenations, blocks and other filters."""
    found = warnings_of(url)
    assert len(found) == 1 and found[0].startswith(f"{{{{ {shown} }}}} puts alert data")


def test_url_parameters_are_found_by_name_at_any_depth() -> None:
    """``url``, ``*_url`` and nested ones (log_level's get.url) are URLs; others not."""
    params = {
        "get": {"url": "http://h/log/{{ alert.labels.logger }}"},
        "callback_url": "http://h/cb/{{ alert.labels.x }}",
        "command": ["curl", "http://h/{{ alert.labels.x }}"],
        "json": {"link": "http://h/{{ alert.labels.x }}"},
    }
    assert [path for path, _ in url_warnings(params, ("http",))] == [
        ("http", "get", "url"),
        ("http", "callback_url"),
    ]
