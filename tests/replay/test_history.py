"""Cutting history into episodes, on crafted samples and notifications (the real
Prometheus and the real export are in the other files of this directory)."""

from __future__ import annotations

import json

from alertreflex.replay.history import episodes_from_notifications, episodes_from_samples
from tests.payloads import alert, notification

T0 = 1_700_000_000.0


def _key(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted({"alertname": "A", "team": "t", **labels}.items()))


def test_each_alert_is_cut_by_its_own_evaluation_interval() -> None:
    """One rule group evaluates every 15 s, another every minute: the slower alert's
    samples a minute apart are one episode, not one per sample; a silence of more
    than two of its own intervals ends it."""
    fast = [T0 + 15 * i for i in range(40)]
    slow = [T0 + 60 * i for i in range(10)] + [T0 + 60 * 9 + 181 + 60 * i for i in range(3)]
    eps = episodes_from_samples(
        {_key(g="fast"): fast, _key(g="slow"): slow}, start=T0 - 3600, end=T0 + 7200
    )
    assert sorted((dict(e.labels)["g"], e.start, e.end) for e in eps) == [
        ("fast", T0, T0 + 15 * 39 + 15),
        ("slow", T0, T0 + 60 * 9 + 60),
        ("slow", T0 + 60 * 9 + 181, T0 + 60 * 9 + 181 + 120 + 60),
    ]


def test_an_alert_begun_before_the_range_is_the_one_sampled_at_its_start() -> None:
    """Sampled within an interval of the range's start: it was firing already. First
    sampled 90 s in (an interval and a half of 60 s is the limit): it began inside."""
    at_start = [T0 + 30 + 60 * i for i in range(5)]
    later = [T0 + 91 + 60 * i for i in range(5)]
    eps = episodes_from_samples(
        {_key(i="a"): at_start, _key(i="b"): later}, start=T0, end=T0 + 3600
    )
    assert [(dict(e.labels)["i"], e.begun_before) for e in eps] == [("a", True), ("b", False)]


def test_a_repeat_of_a_notification_sent_before_the_range_is_not_a_new_firing() -> None:
    """Alertmanager repeats a firing notification every repeat_interval: the first one
    in the range of an alert that started hours before it says the alert fired before
    the range (no firing run); its resolution is still in the range."""
    old = alert({"alertname": "A", "team": "t"}, starts_at="2023-11-14T18:00:00Z")  # T0 - 4h13m
    new = alert({"alertname": "B", "team": "t"}, starts_at="2023-11-14T22:14:00Z")
    old_resolved = alert(old["labels"], status="resolved", starts_at="2023-11-14T18:00:00Z")
    lines = [
        json.dumps({"received_at": T0 + 60, "body": notification(old, new)}),
        json.dumps({"received_at": T0 + 600, "body": notification(old_resolved, new)}),
    ]
    eps, lo, hi = episodes_from_notifications(lines, "x", start=T0, end=T0 + 3600)
    by_name = {e.labels["alertname"]: e for e in eps}
    assert (by_name["A"].begun_before, by_name["A"].end) == (True, T0 + 600)
    assert (by_name["B"].begun_before, by_name["B"].start, by_name["B"].end) == (
        False,
        T0 + 60,
        None,
    )
    assert (lo, hi) == (T0, T0 + 3600)
