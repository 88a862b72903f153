"""Prometheus 1.x rules to 2.x YAML, checked with the real tools: ``promtool check
rules`` accepts every converted file, and a real Prometheus 2.x parses each
original 1.x expression (newlines and comments included) to the same query as
the converted one (``/api/v1/format_query``) and loads the converted files with
the expected names, durations, labels and annotations (``/api/v1/rules``)."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from alertreflex.demo.stack import Stack, wait_for
from alertreflex.sync.rules1x import (
    ConvertedRules,
    RuleSyntaxError,
    convert_rules_1x,
    default_group_name,
)

DATA = Path(__file__).parent / "data" / "rules1x"
BIN = Path(sys.executable).parent / "alertreflex"
PROMTOOL = shutil.which("promtool")


@dataclass(frozen=True)
class Rule:
    """What one 1.x rule must become. ``source`` is its expression exactly as the
    1.x file has it (newlines, comments): Prometheus parses both it and ``expr``."""

    name: str
    source: str
    expr: str
    record: bool = False
    for_: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)

    def as_2x(self) -> dict[str, Any]:
        rule: dict[str, Any] = {"record" if self.record else "alert": self.name, "expr": self.expr}
        if self.for_:
            rule["for"] = self.for_
        if self.labels:
            rule["labels"] = self.labels
        if self.annotations:
            rule["annotations"] = self.annotations
        return rule


INFRA_PAGE = {"severity": "page", "team": "infra"}
EXPECTED: dict[str, list[Rule]] = {
    "issue.rules": [
        Rule(
            "BucketTooFull_ORANGE",
            "(max(service_scs_ops_orange_bucket_gauge_max)) > 0",
            "(max(service_scs_ops_orange_bucket_gauge_max)) > 0",
            for_="5m",
            labels={"team": "warehouse"},
            annotations={"summary": "this is bad, probably", "description": "do something"},
        ),
        Rule(
            "job:http_inprogress_requests:sum",
            "sum(http_inprogress_requests) by (job)",
            "sum(http_inprogress_requests) by (job)",
            record=True,
        ),
        Rule(
            "job:x:rate5m",
            "rate(x[5m])   # recording rule with labels",
            "rate(x[5m])",
            record=True,
            labels={"env": "prod"},
        ),
    ],
    "node.rules": [
        Rule(
            "InstanceDown",
            'up{job="node"} == 0',
            'up{job="node"} == 0',
            for_="5m",
            labels=INFRA_PAGE,
            annotations={
                "summary": "Instance {{ $labels.instance }} down",
                "description": "{{ $labels.instance }} of job {{ $labels.job }} has been down "
                "for more than 5 minutes.",
            },
        ),
        Rule(
            "NodeDiskWillFillIn4Hours",
            'predict_linear(node_filesystem_free{fstype!~"tmpfs|rootfs", mountpoint!="/run"}'
            "[1h], 4 * 3600) < 0\n"
            "    and on(instance, device) node_filesystem_free / node_filesystem_size < 0.4"
            "   # only when 60% used",
            'predict_linear(node_filesystem_free{fstype!~"tmpfs|rootfs", mountpoint!="/run"}'
            "[1h], 4 * 3600) < 0 and on(instance, device) node_filesystem_free / "
            "node_filesystem_size < 0.4",
            for_="10m",
            labels={"severity": "warning", "team": "infra"},
            annotations={
                "summary": "Disk {{ $labels.device }} on {{ $labels.instance }} fills up within 4h",
                "description": "{{ $labels.mountpoint }} is predicted to be full in 4 hours "
                "(free: {{ $value | humanize }}).",
                "runbook": "https://wiki.example.com/runbooks/disk-full#node",
            },
        ),
        Rule(
            "NodeHighCPU",
            "100 - (\n"
            '       avg by (instance) (irate(node_cpu{mode="idle"}[5m])) * 100\n'
            "     ) > 90",
            '100 - ( avg by (instance) (irate(node_cpu{mode="idle"}[5m])) * 100 ) > 90',
            for_="15m",
            labels={"severity": "warning", "team": "infra"},
            annotations={
                "summary": "CPU above 90% on {{ $labels.instance }}",
                "description": "CPU usage is {{ $value }}%.",
            },
        ),
        Rule(
            "NodeMemoryLow",
            "(node_memory_MemAvailable / node_memory_MemTotal) * 100 < 10",
            "(node_memory_MemAvailable / node_memory_MemTotal) * 100 < 10",
            for_="5m",
            annotations={"summary": "Memory low on {{ $labels.instance }}"},
        ),
        Rule(
            "NodeClockSkew",
            "abs(node_time - timestamp(node_time)) > 0.05",
            "abs(node_time - timestamp(node_time)) > 0.05",
            labels={"severity": "ticket"},
        ),
    ],
    "recording.rules": [
        Rule(
            "job:http_inprogress_requests:sum",
            "sum(http_inprogress_requests) by (job)",
            "sum(http_inprogress_requests) by (job)",
            record=True,
        ),
        Rule(
            "instance:http_requests:rate5m",
            '\n  rate(http_requests_total{job="api", method=~"GET|POST"}[5m])',
            'rate(http_requests_total{job="api", method=~"GET|POST"}[5m])',
            record=True,
            labels={"tier": "api", "env": "prod"},
        ),
        Rule(
            "job:http_request_errors:ratio_rate5m",
            '\n    sum(rate(http_requests_total{code=~"5.."}[5m])) by (job)   # errors\n'
            "  /\n"
            "    sum(rate(http_requests_total[5m])) by (job)                 # all requests\n",
            'sum(rate(http_requests_total{code=~"5.."}[5m])) by (job) / '
            "sum(rate(http_requests_total[5m])) by (job)",
            record=True,
        ),
        Rule(
            "job:up:count_bool",
            "count(up == bool 1) by (job)",
            "count(up == bool 1) by (job)",
            record=True,
        ),
        Rule(
            "job:requests:rate1h_offset1d",
            "sum(rate(http_requests_total[1h] offset 1d)) without (instance, method)",
            "sum(rate(http_requests_total[1h] offset 1d)) without (instance, method)",
            record=True,
        ),
        Rule(
            "instance:node_cpu:ratio",
            'sum without (cpu, mode) (rate(node_cpu{mode!="idle"}[5m])) / on(instance) '
            'group_left count by (instance) (node_cpu{mode="idle"})',
            'sum without (cpu, mode) (rate(node_cpu{mode!="idle"}[5m])) / on(instance) '
            'group_left count by (instance) (node_cpu{mode="idle"})',
            record=True,
        ),
        Rule(
            "job:latency_seconds:p99",
            " histogram_quantile(0.99, "
            "sum(rate(http_request_duration_seconds_bucket[5m])) by (le, job))",
            "histogram_quantile(0.99, "
            "sum(rate(http_request_duration_seconds_bucket[5m])) by (le, job))",
            record=True,
            labels={"quantile": "0.99"},
        ),
    ],
    "lowercase.rules": [
        Rule(
            "ServiceDown",
            "up{job='checkout', env!~`dev|test`} == 0",
            "up{job='checkout', env!~`dev|test`} == 0",
            for_="2m",
            labels={"severity": "page"},
            annotations={
                "summary": "Service {{ $labels.job }} is down",
                "description": 'It\'s down.\nCheck the "deploy" log first.',
                "runbook": "https://wiki.example.com/runbooks/checkout#IF-down",
            },
        ),
        Rule(
            "HostnameIsWeird",
            'count by (instance) (node_uname_info{nodename=~".*#.*|.*IF.*"}) > 0'
            "   # a '#' and IF inside a string",
            'count by (instance) (node_uname_info{nodename=~".*#.*|.*IF.*"}) > 0',
            labels={"severity": "ticket", "note": 'contains FOR and LABELS = "x"'},
        ),
        Rule(
            "LatencyHigh",
            "histogram_quantile(0.9, rate(api_latency_seconds_bucket[10m])) > 0.5",
            "histogram_quantile(0.9, rate(api_latency_seconds_bucket[10m])) > 0.5",
            for_="1h",
            annotations={
                "summary": "p90 is {{ $value }}s",
                "unicode": "caf\u00e9 AA \U0001f600",
                "tabbed": "a\tb",
            },
        ),
        Rule(
            "job:checkout_up:sum",
            "sum(up{job='checkout'}) by (job)",
            "sum(up{job='checkout'}) by (job)",
            record=True,
        ),
    ],
    "blackbox.rules": [
        Rule(
            "ProbeFailed",
            'probe_success{job="blackbox"} == 0\n'
            "     # a comment line in the middle of an expression\n"
            "     unless on(instance) probe_maintenance == 1",
            'probe_success{job="blackbox"} == 0 unless on(instance) probe_maintenance == 1',
            for_="3m",
            labels={"severity": "page"},
            annotations={
                "summary": "Probe of {{ $labels.instance }} failed",
                "description": "The probe of {{ $labels.instance }} failed.\n"
                "Check the target first, then the blackbox exporter.",
            },
        ),
        Rule(
            "ProbesMissing",
            'absent(probe_success{job="blackbox"})',
            'absent(probe_success{job="blackbox"})',
            for_="10m",
            labels={"severity": "ticket"},
        ),
        Rule(
            "SSLCertExpiringSoon",
            "probe_ssl_earliest_cert_expiry - time() < 86400 * 14",
            "probe_ssl_earliest_cert_expiry - time() < 86400 * 14",
            for_="1h",
            labels={"severity": "warning"},
            annotations={
                "summary": "Certificate of {{ $labels.instance }} expires in "
                "{{ $value | humanizeDuration }}",
            },
        ),
        Rule(
            "ProbeSlowerThanYesterday",
            "avg_over_time(probe_duration_seconds[10m])\n"
            "       > bool 2 * avg_over_time(probe_duration_seconds[10m] offset 1d) == 1",
            "avg_over_time(probe_duration_seconds[10m]) > bool 2 * "
            "avg_over_time(probe_duration_seconds[10m] offset 1d) == 1",
            for_="30m",
        ),
    ],
}

ISSUE_YAML = """\
# Generated by alertreflex convert-rules from issue.rules
# (Prometheus 1.x rule syntax converted to a 2.x rule file).
groups:
- name: issue
  rules:
  - alert: BucketTooFull_ORANGE
    expr: (max(service_scs_ops_orange_bucket_gauge_max)) > 0
    for: 5m
    labels:
      team: warehouse
    annotations:
      summary: this is bad, probably
      description: do something
  - record: job:http_inprogress_requests:sum
    expr: sum(http_inprogress_requests) by (job)
  - record: job:x:rate5m
    expr: rate(x[5m])
    labels:
      env: prod
"""


def convert_file(name: str) -> ConvertedRules:
    return convert_rules_1x((DATA / name).read_text(), filename=name)


def promtool_check(*paths: Path) -> None:
    assert PROMTOOL, "promtool (Debian package prometheus) must be installed"
    done = subprocess.run(
        [PROMTOOL, "check", "rules", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def run_cli(
    *args: str, stdin: bytes = b"", cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), "convert-rules", *args],
        input=stdin.decode(errors="surrogateescape"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )


# -- the example of the issue ----------------------------------------------------------


def test_issue_example_converts_to_exactly_the_expected_yaml(tmp_path: Path) -> None:
    converted = convert_file("issue.rules")
    assert converted.to_yaml() == ISSUE_YAML
    assert (
        yaml.safe_load(ISSUE_YAML)
        == converted.doc
        == {
            "groups": [
                {"name": "issue", "rules": [r.as_2x() for r in EXPECTED["issue.rules"]]},
            ]
        }
    )
    assert converted.rule_lines == [2, 8, 9]
    out = tmp_path / "issue.rules.yml"
    out.write_text(converted.to_yaml())
    promtool_check(out)


# -- realistic files: each rule's values, promtool, key order --------------------------


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_file_converts_rule_by_rule(name: str, tmp_path: Path) -> None:
    converted = convert_file(name)
    (group,) = converted.doc["groups"]
    assert group["name"] == name.removesuffix(".rules")
    expected = [r.as_2x() for r in EXPECTED[name]]
    assert group["rules"] == expected
    # Same keys in the same order: alert/record, expr, for, labels, annotations.
    assert [list(r) for r in group["rules"]] == [list(r) for r in expected]
    out = tmp_path / f"{name}.yml"
    out.write_text(converted.to_yaml())
    assert yaml.safe_load(out.read_text()) == converted.doc
    promtool_check(out)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sources_are_the_files_own_text(name: str) -> None:
    """The `source` of every expected rule is quoted from the file, not made up."""
    text = (DATA / name).read_text()
    for rule in EXPECTED[name]:
        assert rule.source in text, rule.name


def test_rule_lines_point_at_each_rule() -> None:
    converted = convert_file("node.rules")
    lines = (DATA / "node.rules").read_text().splitlines()
    starts = [lines[n - 1].split()[1] for n in converted.rule_lines]
    assert starts == [r.name for r in EXPECTED["node.rules"]]


def test_multiline_strings_are_block_literals() -> None:
    text = convert_file("blackbox.rules").to_yaml()
    assert (
        "      description: |-\n"
        "        The probe of {{ $labels.instance }} failed.\n"
        "        Check the target first, then the blackbox exporter.\n"
    ) in text
    lowercase = convert_file("lowercase.rules").to_yaml()
    assert "      description: |-\n        It's down.\n" in lowercase
    # A tab cannot stand in a block here: PyYAML quotes the string instead.
    assert '      tabbed: "a\\tb"\n' in lowercase


def test_group_names() -> None:
    assert default_group_name("teams/payments/latency.rules") == "latency"
    assert default_group_name("latency.txt") == "latency.txt"
    assert default_group_name("<stdin>") == "stdin"
    assert default_group_name(".rules") == ".rules"
    converted = convert_rules_1x("x = y", filename="a.rules", group="mine")
    assert converted.doc["groups"][0]["name"] == "mine"
    with pytest.raises(ValueError, match="group name"):
        convert_rules_1x("x = y", group="")


def test_empty_file_is_an_empty_group(tmp_path: Path) -> None:
    converted = convert_rules_1x("# nothing yet\n\n", filename="empty.rules")
    assert converted.doc == {"groups": [{"name": "empty", "rules": []}]}
    assert converted.rule_lines == []
    out = tmp_path / "empty.rules.yml"
    out.write_text(converted.to_yaml())
    promtool_check(out)


def test_tricky_expression_ends() -> None:
    text = (
        'a:b = x{l="="} == bool 1 # ALERT in a comment\n'
        "c:d{e='f'} = y offset 5m\n"
        "ALERT A IF a:b\n"
        "  # FOR 1h in a comment is no FOR\n"
        "  > 0 for 1m labels { for = 'if' }\n"
        "g = count(z) by (for, labels)\n"
    )
    rules = convert_rules_1x(text).doc["groups"][0]["rules"]
    assert rules == [
        {"record": "a:b", "expr": 'x{l="="} == bool 1'},
        {"record": "c:d", "expr": "y offset 5m", "labels": {"e": "f"}},
        {"alert": "A", "expr": "a:b > 0", "for": "1m", "labels": {"for": "if"}},
        {"record": "g", "expr": "count(z) by (for, labels)"},
    ]


def test_raw_string_with_a_newline_in_an_expression(tmp_path: Path) -> None:
    converted = convert_rules_1x("x = y{a=~`b\n|c`}\n", filename="raw.rules")
    assert converted.doc["groups"][0]["rules"][0]["expr"] == "y{a=~`b\n|c`}"
    out = tmp_path / "raw.rules.yml"
    out.write_text(converted.to_yaml())
    assert "    expr: |-\n      y{a=~`b\n      |c`}\n" in out.read_text()
    promtool_check(out)


def test_byte_order_mark_is_skipped() -> None:
    converted = convert_rules_1x("\ufeffx = y\n")
    assert converted.doc["groups"][0]["rules"] == [{"record": "x", "expr": "y"}]
    with pytest.raises(RuleSyntaxError) as info:
        convert_rules_1x("\ufeff$")
    assert (info.value.line, info.value.column) == (1, 1)


# -- errors: file:line:column and a message ---------------------------------------------

ERRORS = [
    (
        'ALERT Foo\n  IF up == 0\n  FOR 5m\n  LABELS { severity = "page }\n',
        "4:23: unterminated quoted string",
    ),
    ("ALERT Foo\n  up == 0\n", "2:3: missing IF after ALERT Foo: got 'up'"),
    ("ALERT Foo IF\n\n", "3:1: missing expression after IF"),
    ("ALERT Foo\n  IF\n  FOR 5m\n", "3:3: missing expression after IF"),
    ("job:x:sum =\n", "2:1: missing expression after job:x:sum ="),
    ("ALERT Foo IF up == 0 FOR\n", "2:1: missing duration after FOR, like 5m"),
    (
        "ALERT Foo IF up == 0\n  FOR five_minutes\n",
        "2:7: invalid duration 'five_minutes' after FOR: expected a number and a unit, "
        "like 5m (units: ms, s, m, h, d, w, y)",
    ),
    (
        "ALERT Foo IF up == 0\n  FOR 5m5\n",
        "2:7: invalid duration '5m5' after FOR: expected a number and a unit, "
        "like 5m (units: ms, s, m, h, d, w, y)",
    ),
    ("ALERT Foo IF up == 0 FOR 1000000000y\n", "1:26: duration 1000000000y is out of range"),
    (
        'ALERT Foo IF up == 0\n  LABELS { 2fast = "x" }\n',
        "2:12: invalid name '2fast' in LABELS: must match [a-zA-Z_][a-zA-Z0-9_]*",
    ),
    (
        'ALERT Foo IF up == 0\n  ANNOTATIONS { run-book = "x" }\n',
        "2:17: invalid name 'run-book' in ANNOTATIONS: must match [a-zA-Z_][a-zA-Z0-9_]*",
    ),
    (
        'ALERT Foo IF up == 0\n  LABELS {\n    team = "a",\n    team = "b",\n  }\n',
        "4:5: duplicate name team in LABELS (first at line 3, column 5)",
    ),
    (
        'ALERT Foo IF up == 0\nLABELS { __name__ = "x" }\n',
        "2:10: a rule cannot set the label __name__",
    ),
    (
        "ALERT Foo-Bar IF up == 0\n",
        "1:7: invalid alert name 'Foo-Bar': must match [a-zA-Z_][a-zA-Z0-9_]*",
    ),
    ("ALERT IF up == 0\n", "1:7: missing alert name: got IF"),
    (
        "job-x:sum = sum(x)\n",
        "1:1: invalid recording rule name 'job-x:sum': must match [a-zA-Z_:][a-zA-Z0-9_:]*",
    ),
    (
        "1job = sum(x)\n",
        "1:1: invalid recording rule name '1job': must match [a-zA-Z_:][a-zA-Z0-9_:]*",
    ),
    ("job:x:sum\n  sum(x)\n", "2:3: expected '=' after recording rule name job:x:sum, got 'sum'"),
    (
        "job:x:sum = sum(x) by (job) KEEP_COMMON\n",
        "1:29: KEEP_COMMON was removed in Prometheus 2.0: list the labels to keep with by (...)",
    ),
    (
        "ALERT Foo\n  IF sum(x) by (job) keep_common > 0\n",
        "2:22: KEEP_COMMON was removed in Prometheus 2.0: list the labels to keep with by (...)",
    ),
    (
        "ALERT Foo\n  IF drop_common_labels(up) == 0\n",
        "2:6: drop_common_labels() was removed in Prometheus 2.0: "
        "drop the labels with an aggregation's without (...) instead",
    ),
    (
        'x = 1 +\n  count_scalar(up{job="x"})\n',
        "2:3: count_scalar() was removed in Prometheus 2.0: use count(...), "
        "and absent(...) to alert on missing series",
    ),
    (
        'ALERT Foo IF up == 0\n  SUMMARY "down"\n  DESCRIPTION "it is down"\n',
        '2:3: SUMMARY is Prometheus 0.x syntax: write ANNOTATIONS { summary = "..." } instead',
    ),
    (
        'ALERT Foo IF up == 0 FOR 5m\n  WITH { severity = "page" }\n',
        "2:3: WITH is Prometheus 0.x syntax: write LABELS { ... } instead",
    ),
    ('ALERT Foo IF up == 0\n  LABELS { a = "\\q" }\n', "2:17: unknown escape sequence '\\q'"),
    ("ALERT Foo IF up == 0\n  LABELS { a = '\\\"' }\n", "2:17: unknown escape sequence '\\\"'"),
    (
        'ALERT Foo IF up == 0 LABELS { a = "\\u12" }\n',
        "1:36: invalid escape sequence '\\u': it needs 4 digits",
    ),
    (
        'ALERT Foo IF up == 0 LABELS { a = "\\ud800" }\n',
        "1:36: escape sequence is an invalid Unicode code point",
    ),
    (
        'ALERT Foo IF up == 0 LABELS { a = "\\xff" }\n',
        "1:35: string is not valid UTF-8 after its escapes",
    ),
    ('ALERT Foo IF up == 0 LABELS { a = "x\ny" }\n', "1:35: unterminated quoted string"),
    (
        "ALERT Foo IF up == 0\n  ANNOTATIONS { a = `never closed }\n",
        "2:21: unterminated raw string",
    ),
    ("ALERT Foo IF sum(rate(x[5m]) > 0\n", "1:17: '(' is never closed"),
    ("ALERT Foo IF up{a='b'] > 0\n", "1:22: unexpected ']': no matching opening bracket"),
    (
        'ALERT Foo IF up == 0 FOR 5m LABELS { a = "b" } FOR 10m\n',
        "1:48: FOR given twice in ALERT Foo",
    ),
    (
        "x = y\nFOR 5m\n",
        "2:1: FOR after recording rule x: FOR, LABELS and ANNOTATIONS belong to ALERT rules",
    ),
    (
        'ALERT Foo IF up == 0 LABELS { a = "b" } c\n',
        "1:41: unexpected 'c' after ALERT Foo: expected FOR, LABELS, ANNOTATIONS or the next rule",
    ),
    ("ALERT Foo IF up ?= 0\n", "1:17: unexpected character '?'"),
    ('ALERT Foo IF up == 0 LABELS a = "b"\n', "1:29: expected '{' after LABELS, got 'a'"),
    (
        'ALERT Foo IF up == 0 LABELS { a = "b" c = "d" }\n',
        "1:39: expected ',' or '}' in LABELS, got 'c'",
    ),
    (
        'ALERT Foo IF up == 0 LABELS { a = "b"\n',
        "2:1: expected ',' or '}' in LABELS, got end of file",
    ),
    (
        "ALERT Foo IF up == 0 LABELS { a = b }\n",
        "1:35: expected a quoted string for a in LABELS, got 'b'",
    ),
    (
        "ALERT Foo IF sum(up) by (job) = 0\n",
        "1:31: a single '=' is not a PromQL operator (to compare, use '==')",
    ),
    (
        "ALERT Foo IF up = 0\n",
        "1:14: missing expression after IF: 'up =' starts a recording rule (to compare, use '==')",
    ),
    (
        "ALERT Foo IF rate(x[5m]) +\n  up = 0\n",
        "2:6: a single '=' is not a PromQL operator (to compare, use '==')",
    ),
    (
        'LABELS { a = "b" }\n',
        "1:1: unexpected LABELS: expected ALERT or a recording rule 'name = expression'",
    ),
    ("x = y\n\udcff\n", "2:1: invalid UTF-8"),
]


@pytest.mark.parametrize(("text", "where_what"), ERRORS)
def test_syntax_errors_name_file_line_column(text: str, where_what: str) -> None:
    with pytest.raises(RuleSyntaxError) as info:
        convert_rules_1x(text, filename="bad.rules")
    err = info.value
    assert str(err) == f"bad.rules:{where_what}"
    assert f"{err.file}:{err.line}:{err.column}: {err.message}" == str(err)
    assert isinstance(err, ValueError)


# -- no other exception on any input ---------------------------------------------------


def check_any_input(text: str) -> None:
    """Either a conversion whose YAML reads back as its document, or a RuleSyntaxError
    that points inside the text."""
    try:
        converted = convert_rules_1x(text, filename="fuzz.rules")
    except RuleSyntaxError as err:
        place: tuple[int, int] | None = (err.line, err.column)
    else:
        place = None
    if place is not None:
        line, column = place
        lines = text.removeprefix("\ufeff").split("\n")
        assert 1 <= line <= len(lines), (text, place)
        assert 1 <= column <= len(lines[line - 1]) + 1, (text, place)
        return
    assert yaml.safe_load(converted.to_yaml()) == converted.doc
    assert len(converted.rule_lines) == len(converted.doc["groups"][0]["rules"])


def test_fuzz_mutated_files() -> None:
    rnd = random.Random(20171108)  # fixed: a failure must be reproducible
    sources = [(DATA / name).read_text() for name in sorted(EXPECTED)]
    alphabet = [*sorted(set("".join(sources))), "\\", "`", "\n", "\udcff", "==", "= ", "{", "#"]
    for _ in range(3000):
        text = rnd.choice(sources)
        match rnd.randrange(3):
            case 0:  # truncated anywhere
                text = text[: rnd.randrange(len(text))]
            case 1:  # a few characters replaced
                for _ in range(rnd.randrange(1, 4)):
                    i = rnd.randrange(len(text))
                    text = text[:i] + rnd.choice(alphabet) + text[i + 1 :]
            case _:  # a slice cut out
                i, j = sorted(rnd.randrange(len(text)) for _ in range(2))
                text = text[:i] + text[j:]
        check_any_input(text)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ALERT IF FOR LABELS{}()[]=~!,\"'`\\#\n5mxab_:"))))
def test_fuzz_random_text(text: str) -> None:
    check_any_input(text)


# -- the CLI ---------------------------------------------------------------------------


def test_cli_prints_yaml_to_stdout() -> None:
    done = run_cli("issue.rules", cwd=DATA)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == ISSUE_YAML


def test_cli_writes_output_file(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "node.rules.yml"
    done = run_cli(str(DATA / "node.rules"), "-o", str(out))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert yaml.safe_load(out.read_text()) == {
        "groups": [{"name": "node", "rules": [r.as_2x() for r in EXPECTED["node.rules"]]}]
    }
    assert out.read_text().startswith(
        f"# Generated by alertreflex convert-rules from {DATA / 'node.rules'}\n"
    )
    promtool_check(out)


def test_cli_output_dir_converts_every_file(tmp_path: Path) -> None:
    names = sorted(EXPECTED)
    done = run_cli(*(str(DATA / n) for n in names), "--output-dir", str(tmp_path / "out"))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == sorted(f"{n}.yml" for n in names)
    for name in names:
        doc = yaml.safe_load((tmp_path / "out" / f"{name}.yml").read_text())
        assert doc["groups"][0]["rules"] == [r.as_2x() for r in EXPECTED[name]]
    promtool_check(*(tmp_path / "out").iterdir())


def test_cli_reads_stdin() -> None:
    source = (DATA / "issue.rules").read_bytes()
    done = run_cli("-", stdin=source)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("# Generated by alertreflex convert-rules from <stdin>\n")
    assert yaml.safe_load(done.stdout)["groups"][0]["name"] == "stdin"
    named = run_cli("-", "--group", "warehouse", stdin=source)
    assert yaml.safe_load(named.stdout)["groups"][0]["name"] == "warehouse"


def test_cli_syntax_error_exits_1_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.rules"
    bad.write_text("ALERT Foo\n  IF up == 0\n  FOR soon\n")
    out = tmp_path / "bad.rules.yml"
    done = run_cli(str(bad), "-o", str(out))
    assert done.returncode == 1
    assert done.stderr == (
        f"{bad}:3:7: invalid duration 'soon' after FOR: expected a number and a unit, "
        "like 5m (units: ms, s, m, h, d, w, y)\n"
    )
    assert done.stdout == ""
    assert not out.exists()

    outdir = tmp_path / "out"
    several = run_cli(str(DATA / "node.rules"), str(bad), "--output-dir", str(outdir))
    assert several.returncode == 1
    assert several.stderr.startswith(f"{bad}:3:7: ")
    assert not outdir.exists()  # all or nothing


def test_cli_invalid_utf8_names_its_place(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.rules"
    bad.write_bytes(b"x = y\nALERT Caf\xe9 IF up == 0\n")
    done = run_cli(str(bad))
    assert (done.returncode, done.stderr) == (1, f"{bad}:2:10: invalid UTF-8\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["a.rules", "b.rules"], "several FILEs need --output-dir DIR (-o takes one FILE)"),
        (["a.rules", "b.rules", "-o", "x.yml"], "several FILEs need --output-dir DIR"),
        (
            ["a.rules", "b.rules", "--output-dir", "o", "--group", "g"],
            "--group needs exactly one FILE",
        ),
        (["-", "-", "--output-dir", "o"], "'-' (standard input) can be given only once"),
        (["a.rules", "--group", ""], "--group must not be empty"),
        (
            ["dir/a.rules", "a.rules", "--output-dir", "o"],
            "dir/a.rules and a.rules would both write o/a.rules.yml",
        ),
    ],
)
def test_cli_usage_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "dir").mkdir()
    for name in ("a.rules", "b.rules", "dir/a.rules"):
        (tmp_path / name).write_text("x = y\n")
    done = run_cli(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stdout == ""
    assert not (tmp_path / "o").exists()


def test_cli_missing_file_exits_1(tmp_path: Path) -> None:
    """A file that is not there is invalid input (1), not a usage error."""
    done = run_cli("missing.rules", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (1, "")
    assert "cannot read missing.rules: No such file or directory" in done.stderr


def test_cli_output_and_output_dir_exclude_each_other() -> None:
    done = run_cli("a.rules", "-o", "x", "--output-dir", "y")
    assert done.returncode == 2
    assert "not allowed with argument" in done.stderr


def test_cli_help_has_an_example() -> None:
    done = subprocess.run(
        [str(BIN), "convert-rules", "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    assert "example:\n  alertreflex convert-rules node.rules -o node.rules.yml" in done.stdout
    listed = subprocess.run([str(BIN), "--help"], capture_output=True, text=True, check=False)
    assert "convert-rules" in listed.stdout


# -- Prometheus 2.x itself: same queries, loaded rules ---------------------------------


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prometheus 2.x that loaded every converted data file; its base URL."""
    work = tmp_path_factory.mktemp("prometheus")
    rules = work / "rules"
    rules.mkdir()
    for name in EXPECTED:
        (rules / f"{name}.yml").write_text(convert_file(name).to_yaml())
    with Stack(work) as stack:
        proc = stack.start_prometheus(
            rule_files=[rules / "*.rules.yml"], scrape_targets=[], alertmanager_url=None
        )
        yield proc.url


def format_query(url: str, query: str) -> str:
    resp = httpx.get(f"{url}/api/v1/format_query", params={"query": query}, timeout=10)
    assert resp.status_code == 200, f"{query!r}: {resp.text}"
    formatted: str = resp.json()["data"]
    return formatted


@pytest.mark.parametrize(
    ("name", "index"),
    [(name, i) for name in sorted(EXPECTED) for i in range(len(EXPECTED[name]))],
    ids=[f"{name}:{r.name}" for name in sorted(EXPECTED) for r in EXPECTED[name]],
)
def test_prometheus_parses_original_and_converted_alike(
    prometheus: str, name: str, index: int
) -> None:
    rule = EXPECTED[name][index]
    converted = convert_file(name).doc["groups"][0]["rules"][index]["expr"]
    assert format_query(prometheus, rule.source) == format_query(prometheus, converted)


def _seconds(duration: str | None) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return 0.0 if duration is None else float(int(duration[:-1]) * units[duration[-1]])


def test_prometheus_loaded_every_converted_rule(prometheus: str) -> None:
    def groups() -> dict[str, list[dict[str, Any]]] | None:
        resp = httpx.get(f"{prometheus}/api/v1/rules", timeout=5)
        loaded = {g["name"]: g["rules"] for g in resp.json()["data"]["groups"]}
        return loaded if len(loaded) == len(EXPECTED) else None

    loaded = wait_for(groups, timeout=30, what="Prometheus to load the converted rules")
    for name, rules in EXPECTED.items():
        got = loaded[name.removesuffix(".rules")]
        assert [r["name"] for r in got] == [r.name for r in rules]
        for want, have in zip(rules, got, strict=True):
            assert have["type"] == ("recording" if want.record else "alerting")
            assert have.get("labels", {}) == want.labels
            if not want.record:
                assert have["annotations"] == want.annotations
                assert have["duration"] == _seconds(want.for_)
