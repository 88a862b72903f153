"""The ``alertreflex`` command, run from the venv as a subprocess, as users run it."""

from __future__ import annotations

import json
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alertreflex import __version__
from tests.conftest import BIN, free_port
from tests.payloads import FIXTURES, alert, fixture, notification

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "alertreflex.yml"
ORANGE = '{alertname="BucketTooFull_ORANGE",team="warehouse",severity="critical",pid="4242"}'

BROKEN = """\
reflexes:
  - name: bad-matcher
    team: t
    match: ['alertname ~ "x"']
    on_firing:
      - exec: {command: ["echo"]}
  - name: unknown-action
    team: t
    match: []
    on_firing:
      - teleport: {to: mars}
  - name: bad-duration
    team: t
    match: []
    on_firing:
      - exec: {command: ["echo"], timeout: forever}
  - name: undefined-variable
    team: t
    match: []
    on_firing:
      - exec: {command: ["echo", "{{ alert.labels.x }}", "{{ nosuch }}"]}
"""
BAD_COOLDOWN = """\
  - name: bad-cooldown
    team: t
    match: []
    cooldown: 5 parsecs
    on_firing:
      - exec: {command: ["echo"]}
"""
TEAM = """\
reflexes:
  - name: a
    team: x
    match: ['alertname = "A"']
    on_firing: [{exec: {command: ["true"]}}]
  - name: b
    team: y
    match: ['alertname = "B"']
    on_resolved: [{exec: {command: ["true"]}}, {exec: {command: ["true"]}}]
"""
URL_LABEL = """\
reflexes:
  - name: items
    team: t
    match: ['alertname="ItemStuck"']
    on_firing:
      - http: {url: "http://{{ alert.labels.instance }}/api/items/{{ alert.labels.item }}"}
"""


def cli(*args: str | Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *map(str, args)],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
        cwd=ROOT,
        check=False,
    )


@dataclass(frozen=True)
class Call:
    """One ``alertreflex`` invocation; ``{tmp}`` in an argument is the module's temp dir.

    Every Call is registered when defined and all of them run concurrently once per
    module (each start costs about a second of imports), before the tests read them.
    """

    args: tuple[str, ...]
    stdin: str | None = None

    def __post_init__(self) -> None:
        CALLS.append(self)


CALLS: list[Call] = []
Results = dict[Call, subprocess.CompletedProcess[str]]


def call(*args: str | Path, stdin: str | None = None) -> Call:
    return Call(tuple(map(str, args)), stdin)


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The config files the calls below refer to as ``{tmp}``."""
    d = tmp_path_factory.mktemp("cli")
    (d / "broken.yml").write_text(BROKEN)
    (d / "broken-cooldown.yml").write_text(BROKEN + BAD_COOLDOWN)
    good = d / "dir"
    good.mkdir()
    (good / "00-settings.yaml").write_text("settings: {ownership_label: owner}\n")
    (good / "10-team.yml").write_text(TEAM)
    (good / "notes.txt").write_text("not: [a config")
    (d / "url-label.yml").write_text(URL_LABEL)
    (d / "url-segment.yml").write_text(URL_LABEL.replace("item }}", "item | path_segment }}"))
    return d


@pytest.fixture(scope="module")
def ran(tmp: Path) -> Results:
    """Every registered Call, run concurrently."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {
            c: pool.submit(cli, *(a.replace("{tmp}", str(tmp)) for a in c.args), stdin=c.stdin)
            for c in CALLS
        }
        return {c: f.result() for c, f in futures.items()}


def line_of(text: str, needle: str) -> int:
    """1-based line number of the first line of ``text`` containing ``needle``."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


VERSION = call("--version")


def test_version(ran: Results) -> None:
    """--version prints the package version and exits 0."""
    r = ran[VERSION]
    assert r.returncode == 0
    assert r.stdout.strip() == f"alertreflex {__version__}"


HELP = call("--help")


def test_help_lists_the_subcommands(ran: Results) -> None:
    """--help lists serve, check, test and runs."""
    r = ran[HELP]
    assert r.returncode == 0
    for command in ("serve", "check", "test", "runs"):
        assert re.search(rf"^\s+{command}\s+\S", r.stdout, re.MULTILINE), r.stdout


SUBCOMMANDS = ["serve", "check", "test", "runs"]
SUB_HELP = {c: call(c, "--help") for c in SUBCOMMANDS}


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_subcommand_help_has_an_example(ran: Results, command: str) -> None:
    """Each subcommand's --help shows an example invocation of that subcommand."""
    r = ran[SUB_HELP[command]]
    assert r.returncode == 0
    assert "example:" in r.stdout
    example = r.stdout.split("example:", 1)[1]
    assert f"alertreflex {command} " in example


CHECK_EXAMPLE = call("check", EXAMPLE)


def test_check_example_config(ran: Results) -> None:
    """check on examples/alertreflex.yml exits 0 with a one-line SUCCESS summary."""
    r = ran[CHECK_EXAMPLE]
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert r.stdout == "SUCCESS: 1 file(s), 2 reflex(es) of 1 team(s), 3 step(s)\n"


CHECK_BROKEN = call("check", "{tmp}/broken.yml")


def test_check_broken_config_names_file_line_and_path(ran: Results, tmp: Path) -> None:
    """check exits 1 and prints one file:line: path: message line per problem to stderr."""
    r = ran[CHECK_BROKEN]
    assert r.returncode == 1
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert lines[-1] == "FAILED: 4 problems"
    f = re.escape(str(tmp / "broken.yml"))
    expected = [
        rf"{f}:{line_of(BROKEN, '~')}: reflexes\[0\]\.match\[0\]: invalid matcher .*'~'",
        rf"{f}:{line_of(BROKEN, 'teleport')}: reflexes\[1\]\.on_firing\[0\]\.teleport: "
        r"unknown action type 'teleport'; known: am_silence, exec, http, jvm_thread_dump, log_level",
        rf"{f}:{line_of(BROKEN, 'forever')}: reflexes\[2\]\.on_firing\[0\]\.exec\.timeout: "
        r"invalid duration 'forever'",
        rf"{f}:{line_of(BROKEN, 'nosuch')}: reflexes\[3\]\.on_firing\[0\]\.exec\b.*: "
        r"unknown template variable\(s\) nosuch",
    ]
    assert len(lines) == len(expected) + 1, r.stderr
    for pattern, line in zip(expected, lines, strict=False):
        assert re.match(pattern, line), (pattern, line)


CHECK_BAD_COOLDOWN = call("check", "{tmp}/broken-cooldown.yml")


def test_check_reports_problems_of_every_reflex(ran: Results) -> None:
    """A schema error in one reflex does not hide the problems of the others."""
    r = ran[CHECK_BAD_COOLDOWN]
    assert r.returncode == 1
    assert "reflexes[4].cooldown: invalid duration '5 parsecs'" in r.stderr
    assert "reflexes[0].match[0]: invalid matcher" in r.stderr
    assert r.stderr.splitlines()[-1] == "FAILED: 5 problems"


CHECK_DIR = call("check", "{tmp}/dir")


def test_check_directory(ran: Results) -> None:
    """check of a directory validates all its *.yml/*.yaml files together."""
    r = ran[CHECK_DIR]
    assert r.returncode == 0, r.stderr
    assert r.stdout == "SUCCESS: 2 file(s), 2 reflex(es) of 2 team(s), 3 step(s)\n"


CHECK_URL_LABEL = call("check", "{tmp}/url-label.yml")
CHECK_URL_SEGMENT = call("check", "{tmp}/url-segment.yml")


def test_check_warns_about_a_label_in_a_url_path(ran: Results, tmp: Path) -> None:
    """A label put into a URL's path unencoded is a warning on stderr with file:line and
    path, and how to write it; the config is valid, so check exits 0."""
    r = ran[CHECK_URL_LABEL]
    assert r.returncode == 0, r.stderr
    assert r.stdout == "SUCCESS: 1 file(s), 1 reflex(es) of 1 team(s), 1 step(s); 1 warning\n"
    assert r.stderr == (
        f"{tmp / 'url-label.yml'}:{line_of(URL_LABEL, 'http:')}: "
        "reflexes[0].on_firing[0].http.url: warning: {{ alert.labels.item }} puts alert "
        "data into the URL's path unencoded (a value such as '../admin' or 'x?role=admin' "
        "leaves its segment): write {{ alert.labels.item | path_segment }}\n"
    )


def test_check_is_quiet_when_the_label_is_a_path_segment(ran: Results) -> None:
    """With path_segment (and the label in the host part) there is nothing to say."""
    r = ran[CHECK_URL_SEGMENT]
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout == "SUCCESS: 1 file(s), 1 reflex(es) of 1 team(s), 1 step(s)\n"


TEST_LABELS = call("test", "--config", EXAMPLE, "--labels", ORANGE)


def test_test_labels_prints_reflexes_and_rendered_steps(ran: Results) -> None:
    """test --labels prints every matching reflex with its fully rendered steps."""
    r = ran[TEST_LABELS]
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "(firing):" in out.splitlines()[0]
    assert "reflex note-orange-bucket (team warehouse): 1 firing step(s)" in out
    assert "reflex threaddump-orange-bucket (team warehouse) [dry_run]: 1 firing step(s)" in out
    assert "0. exec jcmd 4242 Thread.print" in out
    assert re.search(r"0\. exec echo 'BucketTooFull_ORANGE fired at \S+Z: '", out), out


TEST_JSON = call("test", "--config", EXAMPLE, "--labels", ORANGE, "--json")


def test_test_labels_json(ran: Results) -> None:
    """test --json prints JSON with each step's rendered argv."""
    r = ran[TEST_JSON]
    assert r.returncode == 0, r.stderr
    (result,) = json.loads(r.stdout)
    assert result["status"] == "firing"
    assert result["labels"]["pid"] == "4242"
    by_name = {m["reflex"]: m for m in result["reflexes"]}
    assert set(by_name) == {"note-orange-bucket", "threaddump-orange-bucket"}
    dump = by_name["threaddump-orange-bucket"]
    assert dump["dry_run"] is True
    assert dump["steps"][0]["params"]["command"] == ["jcmd", "4242", "Thread.print"]
    note = by_name["note-orange-bucket"]["steps"][0]
    assert note["name"] == "say it fired"
    assert note["params"]["command"][0] == "echo"
    assert note["params"]["command"][1].startswith("BucketTooFull_ORANGE fired at ")


TEST_PAYLOAD = call("test", "--config", EXAMPLE, "--payload", FIXTURES / "firing.json", "--json")
# startsAt as the template sees it: normalised to UTC with microseconds (design-notes.md).
STARTS_AT = "2026-11-25T03:24:50.701000Z"


def test_test_payload_fixture(ran: Results) -> None:
    """test --payload takes a captured Alertmanager payload; its alert values are rendered."""
    assert fixture("firing.json")["alerts"][0]["startsAt"] == "2026-11-25T03:24:50.701Z"
    r = ran[TEST_PAYLOAD]
    assert r.returncode == 0, r.stderr
    (result,) = json.loads(r.stdout)
    assert result["fingerprint"] == "84d90eaef37973ee"
    # No severity label: the thread dump reflex does not match.
    assert [m["reflex"] for m in result["reflexes"]] == ["note-orange-bucket"]
    assert result["reflexes"][0]["steps"][0]["params"]["command"] == [
        "echo",
        f"BucketTooFull_ORANGE fired at {STARTS_AT}: ORANGE bucket is too full",
    ]


TEST_RESOLVED = call(
    "test",
    "--config",
    EXAMPLE,
    "--payload",
    "-",
    "--status",
    "resolved",
    stdin=(FIXTURES / "firing.json").read_text(),
)


def test_test_payload_from_stdin_as_resolved(ran: Results) -> None:
    """--status resolved shows the on_resolved steps; '-' reads the payload from stdin."""
    r = ran[TEST_RESOLVED]
    assert r.returncode == 0, r.stderr
    assert "(resolved):" in r.stdout
    assert "reflex note-orange-bucket (team warehouse): 1 resolved step(s)" in r.stdout
    assert "0. exec echo 'BucketTooFull_ORANGE resolved'" in r.stdout
    assert "fired" not in r.stdout


TEST_REGEX_LABEL = call(
    "test", "--config", EXAMPLE, "--labels", '{alertname=~"Bucket.*",team="warehouse"}'
)


def test_test_labels_rejects_non_equality_matchers(ran: Results) -> None:
    """--labels takes only name="value" pairs: another operator exits 2 and says so."""
    r = ran[TEST_REGEX_LABEL]
    assert r.returncode == 2
    assert r.stdout == ""
    assert 'only name="value" pairs' in r.stderr
    assert 'alertname=~"Bucket.*"' in r.stderr


CLOSED_URL = f"http://127.0.0.1:{free_port()}"
RUNS_CLOSED = call("runs", "--url", CLOSED_URL)


def test_runs_cannot_reach_server(ran: Results) -> None:
    """runs against a closed port fails (exit 1) and says it cannot reach the server."""
    r = ran[RUNS_CLOSED]
    assert r.returncode == 1
    assert f"cannot reach {CLOSED_URL}" in r.stderr
    assert r.stdout == ""


def test_runs_lists_and_shows_runs(make_server) -> None:  # type: ignore[no-untyped-def]
    """runs --url prints a table of runs; runs --show ID prints the run with its output."""
    srv = make_server("""\
reflexes:
  - name: echo-orange
    team: warehouse
    match: ['alertname = "BucketTooFull_ORANGE"']
    on_firing:
      - name: say it
        exec: {command: ["echo", "fired {{ alert.labels.alertname }}"]}
""")
    assert srv.post(fixture("firing.json")).status_code == 200
    (run,) = srv.wait_runs(1)

    calls = [
        ("runs", "--url", srv.url),
        ("runs", "--url", srv.url, "--show", run["id"]),
        ("runs", "--url", srv.url, "--show", "no-such-run"),
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        table, shown, missing = pool.map(lambda args: cli(*args), calls)

    assert table.returncode == 0, table.stderr
    head, row = table.stdout.splitlines()
    assert head.split() == [
        "ID",
        "CREATED",
        "(UTC)",
        "REFLEX",
        "TRIGGER",
        "STATE",
        "DURATION",
        "REASON",
    ]
    cells = row.split()
    assert cells[0] == run["id"]
    assert cells[3:6] == ["echo-orange", "firing", "succeeded"]

    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert f"run {run['id']}: reflex echo-orange (warehouse), firing, succeeded" in out
    assert re.search(r"^  step 0 say it \(exec\): succeeded in \d+\.\d{3}s - exit 0$", out, re.M)
    assert '"command": ["echo", "fired BucketTooFull_ORANGE"]' in out
    assert "    | fired BucketTooFull_ORANGE" in out.splitlines()

    assert missing.returncode == 1
    assert "404" in missing.stderr and "no-such-run" in missing.stderr


# --------------------------------------------------------------------------- test --explain

EXPLAIN_CONFIG = """\
time_intervals:
  - name: night
    time_intervals:
      - times: [{start_time: "20:00", end_time: "24:00"}]
reflexes:
  - name: dump
    team: warehouse
    match: ['alertname="Full"', 'severity=~"warning|critical"']
    on_firing:
      - exec: {command: ["echo", "dump {{ alert.labels.instance }}"]}
  - name: pizza
    team: warehouse
    match: ['alertname="Full"']
    active_time_intervals: [night]
    cooldown: 12h
    on_firing:
      - exec: {command: ["echo", "pizza for {{ alert.labels.instance }}"]}
  - name: page
    team: payments
    match: ['alertname="Full"']
    on_firing:
      - exec: {command: ["true"]}
"""
FULL_INFO = '{alertname="Full",team="warehouse",severity="info",instance="a"}'


def test_explain_matcher_ownership_and_window(tmp_path: Path) -> None:
    """--explain goes through every reflex, grouped by team: a failing matcher with the
    alert's value, a time window at --at, the cooldown not checked offline, the other
    team's reflexes in one line each with why."""
    cfg = tmp_path / "alertreflex.yml"
    cfg.write_text(EXPLAIN_CONFIG)
    r = cli(
        "test", "--config", cfg, "--labels", FULL_INFO, "--explain", "--at", "2026-11-24T12:00:00Z"
    )
    assert r.returncode == 0, r.stderr
    at = "2026-11-24T12:00:00+00:00"
    src = f"{cfg}:{line_of(EXPLAIN_CONFIG, '- name: dump')}"
    pizza = f"{cfg}:{line_of(EXPLAIN_CONFIG, '- name: pizza')}"
    page = f"{cfg}:{line_of(EXPLAIN_CONFIG, '- name: page')}"
    assert r.stdout.splitlines() == [
        f'alert {{alertname="Full", instance="a", severity="info", team="warehouse"}} (firing) at {at}',
        "3 reflex(es): 1 skipped by a time window, 1 not matching, 1 of other teams",
        "",
        "team warehouse (the alert's team):",
        f"  dump  NO MATCH  [{src}]",
        '    ok    ownership: team="warehouse" is the reflex\'s team',
        '    ok    match alertname="Full": the alert has alertname="Full"',
        '    FAIL  match severity=~"warning|critical": the alert has severity="info"',
        "    ok    time: no time intervals, any time",
        "    ok    cooldown: none",
        f"  pizza  SKIPPED: outside active_time_intervals (night)  [{pizza}]",
        '    ok    ownership: team="warehouse" is the reflex\'s team',
        '    ok    match alertname="Full": the alert has alertname="Full"',
        f"    FAIL  time: active_time_intervals (night): none holds at {at}",
        "    ?     cooldown 12h: depends on the last firing run; offline not checked",
        "    firing steps:",
        "      0. exec echo 'pizza for a'",
        "",
        'team payments (not the alert\'s team: it has team="warehouse"):',
        f"  page  NO MATCH  [{page}]",
    ]


def test_explain_json_and_options(tmp_path: Path) -> None:
    """--explain --json has every check of every reflex; --at needs --explain and a
    time zone."""
    cfg = tmp_path / "alertreflex.yml"
    cfg.write_text(EXPLAIN_CONFIG)
    calls = [
        (
            "test",
            "--config",
            cfg,
            "--labels",
            FULL_INFO,
            "--explain",
            "--json",
            "--at",
            "2026-11-24T21:00:00+00:00",
        ),
        ("test", "--config", cfg, "--labels", FULL_INFO, "--at", "2026-11-24T21:00:00Z"),
        ("test", "--config", cfg, "--labels", FULL_INFO, "--explain", "--at", "2026-11-24T21:00"),
    ]
    with ThreadPoolExecutor(max_workers=3) as pool:
        as_json, no_explain, naive = pool.map(lambda args: cli(*args), calls)
    assert as_json.returncode == 0, as_json.stderr
    (doc,) = json.loads(as_json.stdout)
    assert doc["at"] == "2026-11-24T21:00:00+00:00"
    by_name = {e["reflex"]: e for e in doc["reflexes"]}
    assert [by_name[n]["outcome"] for n in ("dump", "pizza", "page")] == [
        "no_match",
        "runs",
        "not_owned",
    ]
    assert by_name["pizza"]["checks"][2] == {
        "check": "time",
        "status": "ok",
        "text": "time: active_time_intervals (night): night holds at 2026-11-24T21:00:00+00:00",
    }
    assert by_name["pizza"]["steps"][0]["params"]["command"] == ["echo", "pizza for a"]
    assert by_name["page"]["steps"] is None
    assert no_explain.returncode == 2
    assert "--at and --url need --explain" in no_explain.stderr
    assert naive.returncode == 2
    assert "needs a time zone" in naive.stderr


def test_explain_cooldown_from_a_running_alertreflex(make_server) -> None:  # type: ignore[no-untyped-def]
    """--url reads the last started firing run of the reflex from a real server: within
    the cooldown the run would be skipped, also when the newest run was itself skipped
    by the cooldown; after it, it is over."""
    srv = make_server("""\
reflexes:
  - name: pizza
    team: warehouse
    match: ['alertname="Full"']
    cooldown: 1h
    on_firing:
      - exec: {command: ["echo", "pizza"]}
""")
    labels = {"alertname": "Full", "team": "warehouse"}
    assert (
        srv.post(notification(alert(labels, starts_at="2026-11-24T10:00:00Z"))).status_code == 200
    )
    (first,) = srv.wait_runs(1)
    assert (
        srv.post(notification(alert(labels, starts_at="2026-11-24T10:05:00Z"))).status_code == 200
    )
    (skipped,) = srv.wait_runs(1, states=("skipped",))
    assert skipped["reason"].startswith("cooldown")

    args = (
        "test",
        "--config",
        srv.config,
        "--labels",
        '{alertname="Full",team="warehouse"}',
        "--explain",
        "--url",
        srv.url,
    )
    later = datetime.fromtimestamp(first["started_at"] + 7200, UTC).isoformat()
    with ThreadPoolExecutor(max_workers=2) as pool:
        now, after = pool.map(lambda a: cli(*a), [args, (*args, "--at", later, "--json")])

    assert now.returncode == 0, now.stderr
    lines = now.stdout.splitlines()
    assert any(line.startswith("  pizza  SKIPPED: in cooldown  [") for line in lines), now.stdout
    started = datetime.fromtimestamp(first["started_at"], UTC).isoformat(timespec="seconds")
    cooldown = next(line for line in lines if "cooldown 1h" in line)
    assert cooldown.startswith(
        f"    FAIL  cooldown 1h: last firing run {first['id']} started "
        f"{started.replace('+00:00', 'Z')} ("
    )
    assert "ago); skipped until " in cooldown

    assert after.returncode == 0, after.stderr
    (doc,) = json.loads(after.stdout)
    (pizza,) = doc["reflexes"]
    assert pizza["outcome"] == "runs"
    cooldown = next(c for c in pizza["checks"] if c["check"] == "cooldown")
    assert cooldown["status"] == "ok"
    assert cooldown["text"].endswith("(2h ago); over")


def test_explain_url_that_cannot_be_reached(tmp_path: Path) -> None:
    """--url of nothing listening: a failure (exit 1), saying which server."""
    cfg = tmp_path / "alertreflex.yml"
    cfg.write_text(EXPLAIN_CONFIG)
    r = cli(
        "test",
        "--config",
        cfg,
        "--labels",
        '{alertname="Full",team="warehouse"}',
        "--explain",
        "--url",
        CLOSED_URL,
    )
    assert r.returncode == 1
    assert f"cannot read runs and controls of {CLOSED_URL}" in r.stderr
