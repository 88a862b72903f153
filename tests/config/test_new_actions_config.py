"""Config of issue 3's parts: time_intervals and their references, the reversible
actions' undo steps, and the new action types' parameter checks at load."""

from __future__ import annotations

from pathlib import Path

from alertreflex.core.models import Trigger
from tests.config.test_loader import _load, _problems

LATE_NIGHT = """\
time_intervals:
  - name: late-night
    time_intervals:
      - times: [{start_time: "22:00", end_time: "24:00"}, {start_time: "00:00", end_time: "06:00"}]
        location: Europe/Berlin
"""


def test_time_intervals_are_referenced_by_name(tmp_path: Path) -> None:
    """A reflex's active_time_intervals resolve to the named definitions."""
    cfg = _load(
        tmp_path,
        LATE_NIGHT
        + """\
reflexes:
  - name: pizza
    team: warehouse
    match: []
    active_time_intervals: [late-night]
    on_firing: [{exec: {command: ["true"]}}]
""",
    )
    r = cfg.reflexes["pizza"]
    assert [t.name for t in r.active_time_intervals] == ["late-night"]


def test_unknown_and_duplicate_time_intervals_are_errors(tmp_path: Path) -> None:
    """An unknown name is reported at its place in the list, a duplicate definition
    names the first one, and a bad time says what is wrong with it."""
    problems = _problems(
        tmp_path,
        LATE_NIGHT
        + """\
  - name: late-night
    time_intervals: [{weekdays: [monday]}]
  - name: broken
    time_intervals: [{times: [{start_time: "25:00", end_time: "26:00"}]}]
reflexes:
  - name: pizza
    team: warehouse
    match: []
    active_time_intervals: [late-night, lunch]
    on_firing: [{exec: {command: ["true"]}}]
""",
    )
    assert any(
        ":6: time_intervals[1].name: time interval 'late-night' is not unique: also defined at "
        in p
        for p in problems
    ), problems
    assert any(
        "time_intervals[2].time_intervals[0].times[0]" in p and "25:00" in p for p in problems
    )
    assert any(
        ":14: reflexes[0].active_time_intervals[1]: unknown time interval 'lunch'" in p
        for p in problems
    ), problems


def test_reversible_steps_are_undone_before_on_resolved(tmp_path: Path) -> None:
    """log_level and am_silence steps get engine-made undo steps, last first, ahead of
    on_resolved; exec does not."""
    cfg = _load(
        tmp_path,
        """\
reflexes:
  - name: debug
    team: t
    match: []
    on_firing:
      - log_level: {url: "http://{{ alert.labels.instance }}/actuator/loggers", level: debug}
      - exec: {command: ["true"]}
      - am_silence: {url: "http://127.0.0.1:9093", duration: 10m}
    on_resolved:
      - exec: {command: ["echo", "resolved"]}
""",
    )
    r = cfg.reflexes["debug"]
    resolved = r.steps(Trigger.RESOLVED)
    assert [(s.action, s.undo_of) for s in resolved] == [
        ("am_silence", 2),
        ("log_level", 0),
        ("exec", None),
    ]
    assert [s.undo_of for s in r.steps(Trigger.RESTORE)] == [2, 0]
    assert resolved[0].name == "restore am_silence" and resolved[0].continue_on_error


def test_new_action_parameters_are_checked_at_load(tmp_path: Path) -> None:
    """Each new action type rejects what cannot work, naming the parameter."""
    problems = _problems(
        tmp_path,
        """\
reflexes:
  - name: bad
    team: t
    match: []
    on_firing:
      - log_level: {url: "http://x/actuator/loggers", level: LOUD}
      - log_level: {level: DEBUG}
      - jvm_thread_dump: {pid: 12, url: "http://x/actuator/threaddump"}
      - jvm_thread_dump: {pid: abc}
      - jvm_thread_dump: {main_class: "(", count: 50}
      - am_silence: {url: "http://am:9093", matchers: ['foo=~"(bar"']}
""",
    )
    text = "\n".join(problems)
    assert "on_firing[0].log_level.level: unknown level 'LOUD'" in text
    assert "on_firing[1].log_level: needs 'url' (Spring Boot actuator) or both" in text
    assert "on_firing[2].jvm_thread_dump: needs exactly one target" in text
    assert "on_firing[3].jvm_thread_dump.pid" in text and "'abc'" in text
    assert "on_firing[4].jvm_thread_dump.main_class: invalid regular expression" in text
    assert "on_firing[4].jvm_thread_dump.count" in text
    assert "on_firing[5].am_silence.matchers: matchers[0]" in text
