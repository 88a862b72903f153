"""Reflex unit tests (``*.reflextests.yml``): loading, validation with file:line
messages, and running them against a real config with the real action types."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from alertreflex.actions.base import Action, load_action_types, params_models
from alertreflex.config.loader import Config, load_config
from alertreflex.engine.reflextests import (
    ReflexTestFailure,
    ReflexTestFile,
    ReflexTestFileError,
    ReflexTestReport,
    load_reflex_tests,
    run_reflex_tests,
)
from tests.payloads import FIXTURES, alert, notification

CONFIG = """\
settings:
  secrets:
    pizza_token: {env: PIZZA_TOKEN_NOT_READ_OFFLINE}
time_intervals:
  - name: late-night
    time_intervals:
      - times: [{start_time: "20:00", end_time: "24:00"}, {start_time: "00:00", end_time: "06:00"}]
        location: Europe/Berlin
  - name: maintenance
    time_intervals:
      - weekdays: [sunday]
  - name: year-2000
    time_intervals:
      - years: ["2000"]
reflexes:
  - name: threaddump-orange-bucket
    team: warehouse
    match: ['alertname="BucketTooFull_ORANGE"']
    on_firing:
      - jvm_thread_dump: {main_class: "^DemoService", count: 2, interval: 1s}
  - name: debug-while-orange-bucket
    team: warehouse
    match: ['alertname="BucketTooFull_ORANGE"']
    on_firing:
      - log_level:
          url: "http://{{ alert.labels.instance }}/actuator/loggers"
          logger: com.example.orange
          level: DEBUG
          max_duration: 2h
    on_resolved:
      - name: say resolved
        exec: {command: ["echo", "{{ alert.labels.alertname }} resolved"]}
  - name: pizza-for-the-night-shift
    team: warehouse
    match: ['alertname="BucketTooFull_ORANGE"', 'severity="critical"']
    active_time_intervals: [late-night]
    mute_time_intervals: [maintenance]
    cooldown: 12h
    on_firing:
      - http:
          method: POST
          url: https://pizza.example.com/orders
          headers: {Authorization: "Bearer {{ secrets.pizza_token }}"}
          json: {pizza: margherita, because: "{{ alert.annotations.summary }}"}
  - name: shadow-restart
    team: warehouse
    match: ['alertname="WorkerStuck"']
    dry_run: true
    on_firing:
      - exec: {command: ["systemctl", "restart", "worker-{{ alert.labels.worker }}"]}
      - exec: {command: ["echo", "restarted"], timeout: 60s}
  - name: only-in-2000
    team: warehouse
    match: ['alertname="Y2K"']
    active_time_intervals: [year-2000]
    on_firing:
      - exec: {command: ["true"]}
  - name: page-payments
    team: payments
    match: ['alertname="BucketTooFull_ORANGE"']
    on_firing:
      - exec: {command: ["true"]}
"""

# Saturday 2026-11-28, 23:30 in Berlin: late-night, not the Sunday maintenance.
NIGHT = "2026-11-28T23:30:00+01:00"
NOON = "2026-11-28T12:00:00+01:00"
SUNDAY_NIGHT = "2026-11-29T23:30:00+01:00"

ORANGE = """\
      labels: {alertname: BucketTooFull_ORANGE, team: warehouse, severity: critical, instance: "10.0.0.1:8080"}
      annotations: {summary: full}"""


@pytest.fixture(scope="module")
def types() -> dict[str, type[Action[Any]]]:
    return load_action_types()


@pytest.fixture(scope="module")
def actions(types: dict[str, type[Action[Any]]]) -> dict[str, Action[Any]]:
    return {name: cls() for name, cls in types.items()}


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory, types: dict[str, type[Action[Any]]]) -> Config:
    path = tmp_path_factory.mktemp("cfg") / "alertreflex.yml"
    path.write_text(CONFIG)
    return load_config(path, params_models(types), read_secrets=False)


def write(tmp_path: Path, text: str, name: str = "orange.reflextests.yml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def run(cfg: Config, actions: dict[str, Action[Any]], *files: ReflexTestFile) -> ReflexTestReport:
    return run_reflex_tests(cfg, list(files), actions)


def failures(
    cfg: Config, actions: dict[str, Action[Any]], tmp_path: Path, text: str
) -> list[ReflexTestFailure]:
    report = run(cfg, actions, load_reflex_tests(write(tmp_path, text)))
    return report.failures


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def problems(path: Path, text: str | None = None, **kw: Any) -> list[str]:
    with pytest.raises(ReflexTestFileError) as info:
        load_reflex_tests(path, text, **kw)
    return [str(p) for p in info.value.problems]


# --------------------------------------------------------------------------- passing


PASSING = f"""\
tests:
  - name: a full orange bucket at night gets thread dumps, DEBUG and pizza
    alert:
{ORANGE}
    at: "{NIGHT}"
    triggers:
      - reflex: threaddump-orange-bucket
        steps:
          - jvm_thread_dump: {{main_class: "^DemoService", count: 2}}
      - reflex: debug-while-orange-bucket
        steps:
          - log_level: {{url: "http://10.0.0.1:8080/actuator/loggers", level: DEBUG}}
      - reflex: pizza-for-the-night-shift
        steps:
          - http: {{json: {{pizza: margherita, because: full}}}}
    not_triggers: [page-payments, shadow-restart]
    only: true
  - name: at noon no pizza
    alert:
{ORANGE}
    at: {NOON}
    triggers: [threaddump-orange-bucket, debug-while-orange-bucket]
    not_triggers: [pizza-for-the-night-shift]
    only: true
"""


def test_a_passing_file(cfg: Config, actions: dict[str, Action[Any]], tmp_path: Path) -> None:
    """Expectations that hold: no failures, every test counted as passed."""
    report = run(cfg, actions, load_reflex_tests(write(tmp_path, PASSING)))
    assert report.failures == []
    assert (report.passed, report.total) == (2, 2)
    assert [r.test for r in report.results] == [
        "a full orange bucket at night gets thread dumps, DEBUG and pizza",
        "at noon no pizza",
    ]


def test_text_is_used_instead_of_the_disk(
    cfg: Config, actions: dict[str, Action[Any]], tmp_path: Path
) -> None:
    """With text given the path is only a name: nothing is read from it."""
    path = tmp_path / "not" / "there.reflextests.yml"
    loaded = load_reflex_tests(path, PASSING)
    assert loaded.path == str(path)
    assert run(cfg, actions, loaded).failures == []


def test_step_params_are_compared_as_the_action_writes_them(
    cfg: Config, actions: dict[str, Action[Any]], tmp_path: Path
) -> None:
    """`1000ms` matches the rendered `1s`, `"2"` matches 2, `120m` matches `2h`."""
    text = f"""\
tests:
  - name: normalised
    alert:
{ORANGE}
    triggers:
      - reflex: threaddump-orange-bucket
        steps: [{{jvm_thread_dump: {{interval: 1000ms, count: "2"}}}}]
      - reflex: debug-while-orange-bucket
        steps: [{{log_level: {{max_duration: 120m}}}}]
"""
    assert failures(cfg, actions, tmp_path, text) == []


def test_secrets_render_redacted_offline(
    cfg: Config, actions: dict[str, Action[Any]], tmp_path: Path
) -> None:
    """Secrets are not read offline: a template sees <secret:NAME>, as output shows it."""
    text = f"""\
tests:
  - name: the token
    alert:
{ORANGE}
    at: "{NIGHT}"
    triggers:
      - reflex: pizza-for-the-night-shift
        steps:
          - http: {{headers: {{Authorization: "Bearer <secret:pizza_token>"}}}}
"""
    assert failures(cfg, actions, tmp_path, text) == []


def test_resolved_tests_the_resolved_steps(
    cfg: Config, actions: dict[str, Action[Any]], tmp_path: Path
) -> None:
    """status: resolved: the restore of log_level, then on_resolved, in order; a reflex
    without resolved steps does not trigger; time windows do not apply."""
    text = f"""\
tests:
  - name: resolved
    alert:
{ORANGE}
      status: resolved
    at: {NOON}
    triggers:
      - reflex: debug-while-orange-bucket
        steps:
          - name: restore log_level
            log_level: {{level: DEBUG}}
          - exec: {{command: [echo, BucketTooFull_ORANGE resolved]}}
    not_triggers: [threaddump-orange-bucket]
    only: true
  - name: a resolved reflex without resolved steps
    alert:
{ORANGE}
      status: resolved
    triggers: [threaddump-orange-bucket]
"""
    found = failures(cfg, actions, tmp_path, text)
    assert [f.message for f in found] == [
        "reflex 'threaddump-orange-bucket' did not trigger: it matches but has no resolved "
        "steps, so no run is created"
    ]


def test_a_dry_run_reflex_is_tested_for_what_it_will_do(
    cfg: Config, actions: dict[str, Action[Any]], tmp_path: Path
) -> None:
    """dry_run reflexes trigger in tests: the test is of what it does once switched on.
    Labels written as YAML numbers are label text, as in Prometheus."""
    text = """\
tests:
  - name: shadow
    alert:
      labels: {alertname: WorkerStuck, team: warehouse, worker: 7}
    triggers:
      - reflex: shadow-restart
        steps:
          - exec: {command: [systemctl, restart, worker-7]}
          - exec: {timeout: 1m}
"""
    assert failures(cfg, actions, tmp_path, text) == []


# --------------------------------------------------------------------------- failures


def test_missing_trigger_outside_the_time_window(
    cfg: Config, actions: dict[str, Action[Any]], tmp_path: Path
) -> None:
    """At noon the pizza reflex matches but its active interval does not hold."""
    text = f"""\
tests:
  - name: pizza at noon
    alert:
{ORANGE}
    at: "{NOON}"
    triggers:
      - pizza-for-the-night-shift
"""
    path = write(tmp_path, text)
    (f,) = run(cfg, actions, load_reflex_tests(path)).failures
    assert f == ReflexTestFailure(
        str(path),
        line_of(text, "- pizza-for"),
        "pizza at noon",
        "reflex 'pizza-for-the-night-shift' did not trigger: outside active_time_intervals "
        f"(late-night) at {NOON}",
    )
    assert str(f) == f"{path}:{f.line}: test 'pizza at noon': {f.message}"


def test_missing_trigger_inside_a_mute_interval(
    cfg: Config, actions: dict[str, Action[Any]], tmp_path: Path
) -> None:
    """Sunday night: late-night holds, but so does the maintenance mute interval."""
    text = f"""\
tests:
  - name: sunday
    alert:
{ORANGE}
    at: "{SUNDAY_NIGHT}"
    triggers: [pizza-for-the-night-shift]
"""
    (f,) = failures(cfg, actions, tmp_path, text)
    assert f.message == (
        "reflex 'pizza-for-the-night-shift' did not trigger: inside mute_time_intervals "
        f"(maintenance) at {SUNDAY_NIGHT}"
    )


def test_without_at_the_failure_says_it_was_now(
    cfg: Config, actions: dict[str, Action[Any]], tmp_path: Path
) -> None:
    """A test without `at` runs at the current time, and a window failure says so."""
    text = """\
tests:
  - name: y2k
    alert:
      labels: {alertname: Y2K, team: warehouse}
    triggers: [only-in-2000]
"""
    (f,) = failures(cfg, actions, tmp_path, text)
    assert f.message.startswith(
        "reflex 'only-in-2000' did not trigger: outside active_time_intervals (year-2000) at "
    )
    assert f.message.endswith("(the test sets no 'at', so that is the current time)")


def test_missing_trigger_of_another_team(
    cfg: Config, actions: dict[str, Action[Any]], tmp_path: Path
) -> None:
    """An alert of team payments never reaches warehouse's reflexes; the failure says
    which team the alert has. A missing team label is said too."""
    text = """\
tests:
  - name: payments alert
    alert:
      labels: {alertname: BucketTooFull_ORANGE, team: payments}
    triggers: [threaddump-orange-bucket]
  - name: no team
    alert:
      labels: {alertname: BucketTooFull_ORANGE}
    triggers: [threaddump-orange-bucket]
"""
    found = failures(cfg, actions, tmp_path, text)
    assert [(f.test, f.message) for f in found] == [
        (
            "payments alert",
            "reflex 'threaddump-orange-bucket' did not trigger: other team: the alert has "
            'team="payments", the reflex belongs to team "warehouse"',
        ),
        (
            "no team",
            "reflex 'threaddump-orange-bucket' did not trigger: other team: the alert has "
            'no team label, the reflex belongs to team "warehouse"',
        ),
    ]


def test_missing_trigger_of_a_failing_matcher(
    cfg: Config, actions: dict[str, Action[Any]], tmp_path: Path
) -> None:
    """The failing matcher is named with the alert's actual value."""
    text = f"""\
tests:
  - name: only a warning
    alert:
      labels: {{alertname: BucketTooFull_ORANGE, team: warehouse, severity: warning}}
    at: "{NIGHT}"
    triggers: [pizza-for-the-night-shift]
"""
    (f,) = failures(cfg, actions, tmp_path, text)
    assert f.message == (
        "reflex 'pizza-for-the-night-shift' did not trigger: not matched: "
        'severity="critical" fails, the alert has severity="warning"'
    )


def test_unexpected_trigger(cfg: Config, actions: dict[str, Action[Any]], tmp_path: Path) -> None:
    """A reflex in not_triggers that triggers fails at its own line, saying why it ran."""
    text = f"""\
tests:
  - name: no pizza please
    alert:
{ORANGE}
    at: "{NIGHT}"
    not_triggers:
      - threaddump-orange-bucket
      - pizza-for-the-night-shift
"""
    found = failures(cfg, actions, tmp_path, text)
    assert [(f.line, f.message) for f in found] == [
        (
            line_of(text, "- threaddump"),
            "reflex 'threaddump-orange-bucket' triggered, but is in not_triggers: it matches "
            "(team 'warehouse': alertname=\"BucketTooFull_ORANGE\"), no time window",
        ),
        (
            line_of(text, "- pizza"),
            "reflex 'pizza-for-the-night-shift' triggered, but is in not_triggers: it matches "
            '(team \'warehouse\': alertname="BucketTooFull_ORANGE", severity="critical"), '
            f"its time window lets it run at {NIGHT}",
        ),
    ]


def test_only_fails_on_any_other_trigger(
    cfg: Config, actions: dict[str, Action[Any]], tmp_path: Path
) -> None:
    """With only: true every triggered reflex must be listed; the failure is at `only`."""
    text = f"""\
tests:
  - name: just the dump
    alert:
{ORANGE}
    at: "{NOON}"
    triggers: [threaddump-orange-bucket]
    only: true
"""
    (f,) = failures(cfg, actions, tmp_path, text)
    assert f.line == line_of(text, "only: true")
    assert f.message.startswith(
        "reflex 'debug-while-orange-bucket' triggered, and only: true allows only the listed "
        "triggers: it matches (team 'warehouse'"
    )


def test_only_with_no_triggers_means_nothing_triggers(
    cfg: Config, actions: dict[str, Action[Any]], tmp_path: Path
) -> None:
    """`only: true` alone: the alert must trigger nothing."""
    text = """\
tests:
  - name: nothing for unknown alerts
    alert:
      labels: {alertname: Other, team: warehouse}
    only: true
  - name: but this one does
    alert:
      labels: {alertname: Y2K, team: warehouse}
    at: 2000-06-01T00:00:00Z
    only: true
"""
    found = failures(cfg, actions, tmp_path, text)
    assert [(f.test, f.message.split(":")[0]) for f in found] == [
        ("but this one does", "reflex 'only-in-2000' triggered, and only")
    ]


def test_step_param_mismatch(cfg: Config, actions: dict[str, Action[Any]], tmp_path: Path) -> None:
    """A step whose params differ fails at the step's line, with each difference."""
    text = f"""\
tests:
  - name: three dumps
    alert:
{ORANGE}
    triggers:
      - reflex: threaddump-orange-bucket
        steps:
          - jvm_thread_dump: {{main_class: "^Demo", count: 3, nosuch: 1}}
"""
    (f,) = failures(cfg, actions, tmp_path, text)
    assert f.line == line_of(text, "nosuch")
    assert f.message == (
        "reflex 'threaddump-orange-bucket': steps[0] jvm_thread_dump: firing step 0 "
        '(jvm_thread_dump) has main_class = "^DemoService", expected "^Demo"; count = 2, '
        "expected 3; no parameter nosuch (it has: container, count, headers, interval, jcmd, "
        "main_class, pid, retries, timeout, url, verify_tls)"
    )


def test_step_missing_and_out_of_order(
    cfg: Config, actions: dict[str, Action[Any]], tmp_path: Path
) -> None:
    """Listed steps must appear in order; a step of an action the reflex lacks, or an
    unknown action type, is named with what the reflex has."""
    text = """\
tests:
  - name: reversed
    alert:
      labels: {alertname: WorkerStuck, team: warehouse, worker: "1"}
    triggers:
      - reflex: shadow-restart
        steps:
          - exec: {command: [echo, restarted]}
          - exec: {command: [systemctl, restart, worker-1]}
  - name: no http
    alert:
      labels: {alertname: WorkerStuck, team: warehouse, worker: "1"}
    triggers:
      - reflex: shadow-restart
        steps: [http: {}]
  - name: typo
    alert:
      labels: {alertname: WorkerStuck, team: warehouse, worker: "1"}
    triggers:
      - reflex: shadow-restart
        steps: [{exek: {}}]
"""
    found = failures(cfg, actions, tmp_path, text)
    assert [f.message for f in found] == [
        "reflex 'shadow-restart': steps[1] exec: no exec step after step 1; firing "
        "steps: 0. exec (exec), 1. exec (exec)",
        "reflex 'shadow-restart': steps[0] http: no http step; firing steps: 0. exec (exec), "
        "1. exec (exec)",
        "reflex 'shadow-restart': steps[0] exek: unknown action type; known: am_silence, "
        "exec, http, jvm_thread_dump, log_level",
    ]


def test_a_step_that_does_not_render_fails_a_listed_trigger(
    cfg: Config, actions: dict[str, Action[Any]], tmp_path: Path
) -> None:
    """A triggered reflex whose step cannot render (no summary annotation) fails its
    test even without `steps`: its run would fail."""
    text = f"""\
tests:
  - name: no summary
    alert:
      labels: {{alertname: BucketTooFull_ORANGE, team: warehouse, severity: critical}}
    at: "{NIGHT}"
    triggers: [pizza-for-the-night-shift]
"""
    (f,) = failures(cfg, actions, tmp_path, text)
    assert f.message == (
        "reflex 'pizza-for-the-night-shift': firing step 0 (http) does not render: "
        "json.because: 'dict object' has no attribute 'summary'"
    )


def test_unknown_reflex_names(cfg: Config, actions: dict[str, Action[Any]], tmp_path: Path) -> None:
    """A name that is no reflex fails with the closest name and the known ones."""
    text = f"""\
tests:
  - name: typos
    alert:
{ORANGE}
    triggers: [threaddump-orange-buket]
    not_triggers: [zzz]
"""
    found = failures(cfg, actions, tmp_path, text)
    known = (
        "known: debug-while-orange-bucket, only-in-2000, page-payments, "
        "pizza-for-the-night-shift, shadow-restart, threaddump-orange-bucket"
    )
    assert [(f.line, f.message) for f in found] == [
        (
            line_of(text, "triggers: [th"),
            "no reflex named 'threaddump-orange-buket'; did you mean "
            f"'threaddump-orange-bucket'? {known}",
        ),
        (line_of(text, "zzz"), f"no reflex named 'zzz'; {known}"),
    ]


# --------------------------------------------------------------------------- payloads


def test_payload_file_relative_to_the_test_file(
    cfg: Config, actions: dict[str, Action[Any]], tmp_path: Path
) -> None:
    """`payload: FILE` is a captured Alertmanager payload next to the test file."""
    (tmp_path / "payloads").mkdir()
    (tmp_path / "payloads" / "firing.json").write_bytes((FIXTURES / "firing.json").read_bytes())
    text = """\
tests:
  - name: the captured payload
    payload: payloads/firing.json
    triggers: [threaddump-orange-bucket]
    not_triggers: [pizza-for-the-night-shift]
"""
    report = run(cfg, actions, load_reflex_tests(write(tmp_path, text)))
    assert report.failures == []
    assert report.passed == 1


def test_payload_read_through_the_given_reader(
    cfg: Config, actions: dict[str, Action[Any]], tmp_path: Path
) -> None:
    """With `read`, payload files come from it (as sync reads them from a commit),
    named relative to the test file's path, `..` resolved."""
    files = {"teams/shared/firing.json": (FIXTURES / "firing.json").read_bytes()}
    asked: list[str] = []

    def read(name: str) -> bytes:
        asked.append(name)
        return files[name]

    text = """\
tests:
  - name: from the commit
    payload: ../shared/firing.json
    triggers: [threaddump-orange-bucket]
"""
    loaded = load_reflex_tests(Path("teams/warehouse/x.reflextests.yml"), text, read=read)
    assert asked == ["teams/shared/firing.json"]
    assert run(cfg, actions, loaded).failures == []
    assert problems(
        Path("teams/warehouse/y.reflextests.yml"), text.replace("shared", "s"), read=read
    ) == [
        "teams/warehouse/y.reflextests.yml:3: tests[0].payload: cannot read payload file "
        "teams/s/firing.json: no such file"
    ]


def test_inline_payload_with_several_alerts(
    cfg: Config, actions: dict[str, Action[Any]], tmp_path: Path
) -> None:
    """An inline payload may hold several alerts: a reflex triggers if one of them
    triggers it; fingerprints may be left out. Failures name the alert."""
    payload = notification(
        alert({"alertname": "BucketTooFull_ORANGE", "team": "warehouse", "severity": "warning"}),
        alert({"alertname": "WorkerStuck", "team": "warehouse", "worker": "3"}),
    )
    for a in payload["alerts"]:
        del a["fingerprint"]
    text = f"""\
tests:
  - name: a group
    payload: {json.dumps(payload)}
    at: "{NIGHT}"
    triggers: [threaddump-orange-bucket, shadow-restart]
  - name: no pizza in the group
    payload: {json.dumps(payload)}
    at: "{NIGHT}"
    triggers: [pizza-for-the-night-shift]
"""
    (f,) = failures(cfg, actions, tmp_path, text)
    assert f.test == "no pizza in the group"
    assert f.message == (
        "reflex 'pizza-for-the-night-shift' did not trigger: alert {alertname=\"BucketTooFull_ORANGE\", "
        'severity="warning", team="warehouse"}: not matched: severity="critical" fails, the alert '
        'has severity="warning"; alert {alertname="WorkerStuck", team="warehouse", worker="3"}: '
        'not matched: alertname="BucketTooFull_ORANGE" fails, the alert has '
        'alertname="WorkerStuck"; severity="critical" fails, the alert has no severity label'
    )


# --------------------------------------------------------------------------- invalid files


def test_invalid_file_lists_every_problem_with_file_and_line(tmp_path: Path) -> None:
    """Schema errors, contradictions and unreadable payloads of every test, sorted by
    line, as file:line: path: message."""
    text = """\
tests:
  - name: one
    alert:
      labels: {alertname: X, team: warehouse}
      stauts: firing
    triggers: [a]
  - name: one
    payload: missing.json
    triggers:
      - reflex: a
        steps:
          - {exec: {}, http: {}}
          - 42
          - {exec: [x]}
    not_triggers: [a]
  - name: checks nothing
    alert: {labels: {team: t}}
  - name: both
    alert: {labels: {team: t}}
    payload: {alerts: []}
    triggers: [a]
  - name: naive time
    alert: {labels: {team: t}}
    at: 2026-11-28T12:00:00
    triggers: [a]
  - name: bad inline payload
    payload:
      alerts:
        - labels: {team: t}
          startsAt: 2026-11-28T12:00:00Z
    triggers: [a]
"""
    path = write(tmp_path, text, "bad.reflextests.yml")
    f = str(path)
    assert problems(path) == [
        f"{f}:5: tests[0].alert.stauts: unknown field",
        f"{f}:7: tests[1].name: test name 'one' is not unique: also at line 2",
        f"{f}:8: tests[1].payload: cannot read payload file {tmp_path}/missing.json: "
        "No such file or directory",
        f"{f}:12: tests[1].triggers[0].steps[0]: a step is {{ACTION: {{param: value, ...}}}}, "
        "optionally with 'name'; found exec, http",
        f"{f}:13: tests[1].triggers[0].steps[1]: a step is {{ACTION: {{param: value, ...}}}}, "
        "optionally with 'name'",
        f"{f}:14: tests[1].triggers[0].steps[2].exec: expected parameters: a mapping "
        "(may be empty)",
        f"{f}:15: tests[1].not_triggers[0]: reflex 'a' is already listed in triggers[0] (line 10)",
        f"{f}:16: tests[2]: the test checks nothing: give triggers, not_triggers, or only: "
        "true (with no triggers: the alert must trigger no reflex)",
        f"{f}:18: tests[3]: a test needs exactly one of 'alert' or 'payload'",
        f"{f}:24: tests[4].at: Input should have timezone info",
        f"{f}:29: tests[5].payload.alerts[0].status: required field is missing",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tests: [\n", [":2: invalid YAML: "]),
        ("- a\n", [":1: expected a mapping with a 'tests' list"]),
        ("tests: []\n", [":1: tests: List should have at least 1 item after validation"]),
        ("test: []\n", [":1: tests: required field is missing", ":1: test: unknown field"]),
        ("tests:\n  - 42\n", [":2: tests[0]: Input should be a valid dictionary"]),
        (
            "tests:\n  - name: x\n    alert: {labels: {team: [t]}}\n    only: true\n",
            [":3: tests[0].alert.labels.team: Input should be a valid string"],
        ),
    ],
)
def test_invalid_file_shapes(tmp_path: Path, text: str, expected: list[str]) -> None:
    """Each mistake is reported at its line."""
    path = write(tmp_path, text)
    found = problems(path)
    assert len(found) == len(expected), found
    for problem, start in zip(found, expected, strict=True):
        assert problem.startswith(f"{path}{start}"), problem


def test_unreadable_file(tmp_path: Path) -> None:
    """A missing file is a ReflexTestFileError naming it, not an OSError."""
    path = tmp_path / "nope.reflextests.yml"
    assert problems(path) == [f"{path}: cannot read: No such file or directory"]


def test_invalid_payload_file(tmp_path: Path) -> None:
    """A payload file that is no JSON, or no Alertmanager payload, names the file and
    the path inside it."""
    (tmp_path / "text.json").write_text("not json")
    (tmp_path / "bad.json").write_text(json.dumps({"alerts": [{"labels": {"a": 1}}]}))
    text = """\
tests:
  - name: text
    payload: text.json
    only: true
  - name: bad
    payload: bad.json
    only: true
"""
    path = write(tmp_path, text)
    found = problems(path)
    assert found[0].startswith(
        f"{path}:3: tests[0].payload: payload file {tmp_path}/text.json is not JSON: Expecting value"
    )
    what = f"{path}:6: tests[1].payload: {tmp_path}/bad.json: not an Alertmanager webhook payload"
    assert found[1:] == [
        f"{what}: alerts[0].status: required field is missing",
        f"{what}: alerts[0].labels.a: Input should be a valid string",
        f"{what}: alerts[0].startsAt: required field is missing",
        f"{what}: alerts[0].fingerprint: required field is missing",
    ]


def test_error_message_lists_every_problem(tmp_path: Path) -> None:
    """str() of the error is one file:line: path: message line per problem (what sync
    shows)."""
    path = write(tmp_path, "tests:\n  - name: a\n    only: true\n  - name: a\n    only: true\n")
    with pytest.raises(ReflexTestFileError) as info:
        load_reflex_tests(path)
    assert str(info.value).splitlines() == [
        f"{path}:2: tests[0]: a test needs exactly one of 'alert' or 'payload'",
        f"{path}:4: tests[1].name: test name 'a' is not unique: also at line 2",
        f"{path}:4: tests[1]: a test needs exactly one of 'alert' or 'payload'",
    ]
