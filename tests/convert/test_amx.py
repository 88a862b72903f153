"""``alertreflex convert-amx``: prometheus-am-executor configs to reflexes.

The configs in data/ are written from am-executor's documented fields (its README's
format and example file, its reboot walk-through) plus edge cases. Every converted
config is checked by the real ``alertreflex check``, and one is served by a real
``alertreflex serve`` that runs a script written for am-executor: it must see the
AMX_* variables am-executor would have set, for one alert and every label of it, and
the ALERT_* ones. (The AMX_* variables themselves: tests/actions/test_exec_amx_env.py.)
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alertreflex.config.yamlfile import load_yaml
from alertreflex.convert.amx.config import (
    AmxCommand,
    AmxConfig,
    AmxConfigError,
    parse_amx_config,
)
from alertreflex.convert.amx.output import Conversion
from alertreflex.convert.amx.reflexes import ConvertOptions, convert_amx
from alertreflex.core.templates import TemplateTree
from tests.conftest import BIN, run_cli
from tests.payloads import alert, notification

DATA = Path(__file__).parent / "data"
VALID = {
    "readme-config.yml": ["--team", "ops"],
    "readme-example-file.yml": ["--team", "ops"],
    "readme-reboot.yml": [],
    "signals.yml": [],
    "several.yml": ["--team", "ops"],
    "no-match-labels.yml": ["--team", "ops"],
}


def convert(name: str, **options: Any) -> Conversion:
    path = DATA / name
    return convert_amx(parse_amx_config(path.read_text(), str(path)), ConvertOptions(**options))


def reflexes(conversion: Conversion) -> dict[str, dict[str, Any]]:
    """The reflexes as alertreflex will read them: from the YAML text, with its loader."""
    doc = load_yaml(conversion.to_yaml()).data
    return {r["name"]: r for r in doc["reflexes"]}


def remarks_of(conversion: Conversion, name: str) -> str:
    return " ".join(next(r.remarks for r in conversion.reflexes if r.reflex["name"] == name))


def cli(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli("convert-amx", *args, input=input)


# --- the README's examples ------------------------------------------------------------


def test_readme_config_format() -> None:
    """Two commands: echo for env=testing and owner=me, /bin/true for every alert."""
    conv = convert("readme-config.yml", team="ops")
    got = reflexes(conv)
    assert list(got) == ["echo-testing-me", "true"]
    echo, true = got["echo-testing-me"], got["true"]
    assert echo["team"] == "ops"
    assert echo["match"] == ['env="testing"', 'owner="me"']
    assert echo["on_firing"][0]["exec"]["command"] == ["echo", "banana", "tomato"]
    assert echo["on_firing"][0]["exec"]["timeout"] == "1h"
    assert true["match"] == []
    assert true["on_firing"][0]["exec"]["command"] == ["/bin/true"]
    for r in got.values():
        # am-executor's defaults: no limit, and a running command is killed on resolve.
        assert r["max_concurrent"] == 16
        assert r["cancel_on_resolve"] is True
        assert "on_resolved" not in r
    assert "every alert" in remarks_of(conv, "true")
    assert 'team="ops"' in remarks_of(conv, "true")
    assert any("listened on ':8080'" in text and "--listen" in text for text in conv.remarks)


def test_readme_example_file() -> None:
    """notify_on_failure: false, max: 3, ignore_resolved: true, TLS and verbose."""
    conv = convert("readme-example-file.yml", team="ops")
    got = reflexes(conv)
    echo, true = got["echo-testing-me"], got["true"]
    assert echo["cancel_on_resolve"] is True
    assert true["max_concurrent"] == 3
    assert "cancel_on_resolve" not in true  # ignore_resolved: left to finish
    assert "notify_on_failure: false" in remarks_of(conv, "echo-testing-me")
    assert "max: 3 became max_concurrent: 3" in remarks_of(conv, "true")
    assert "queues" in remarks_of(conv, "true")
    assert "left to finish" in remarks_of(conv, "true")
    general = " ".join(conv.remarks)
    assert "--log-level debug" in general
    assert "tls_key/tls_crt" in general


def test_readme_reboot_walkthrough() -> None:
    """The team comes from match_labels; the team matcher is the reflex's team."""
    conv = convert("readme-reboot.yml")
    (r,) = reflexes(conv).values()
    assert r["name"] == "reboot-machine-rebootmachine"
    assert r["team"] == "infra"
    assert r["match"] == ['alertname="RebootMachine"']
    assert r["max_concurrent"] == 1
    assert r["cancel_on_resolve"] is True
    assert "SIGKILL, the default" in remarks_of(conv, r["name"])
    assert "--team" not in remarks_of(conv, r["name"])


# --- resolved handling ----------------------------------------------------------------


def test_resolved_signal_and_ignore_resolved() -> None:
    conv = convert("signals.yml")
    got = reflexes(conv)
    assert list(got) == [
        "drain-diskfull",
        "drain-diskslow",
        "drain-diskgone",
        "drain-disklost",
        "snapshot-diskfull",
    ]
    for name in ("drain-diskfull", "drain-diskslow", "drain-diskgone", "drain-disklost"):
        assert got[name]["cancel_on_resolve"] is True
    assert "cancel_on_resolve" not in got["snapshot-diskfull"]
    assert "killed it (SIGKILL, the default)" in remarks_of(conv, "drain-diskfull")
    # Another signal: said plainly that SIGKILL is sent instead, and what to do.
    slow = remarks_of(conv, "drain-diskslow")
    assert "sent it SIGTERM" in slow and "sends SIGKILL instead" in slow
    assert "on_resolved" in slow
    assert "sent it 10" in remarks_of(conv, "drain-diskgone")
    assert "SIGKILL, its resolved_signal" in remarks_of(conv, "drain-disklost")
    assert "resolved_signal SIGUSR1 was unused" in remarks_of(conv, "snapshot-diskfull")
    for r in conv.reflexes:
        assert r.command.notify_on_failure is None


def test_run_on_resolved_adds_the_command_to_on_resolved() -> None:
    conv = convert("signals.yml", run_on_resolved=True)
    got = reflexes(conv)
    drain = got["drain-diskfull"]
    assert drain["on_resolved"] == drain["on_firing"]
    assert drain["cancel_on_resolve"] is True
    assert "AMX_STATUS=resolved" in remarks_of(conv, "drain-diskfull")
    # ignore_resolved: true says resolves are none of the command's business.
    assert "on_resolved" not in got["snapshot-diskfull"]
    assert "adds no on_resolved step" in remarks_of(conv, "snapshot-diskfull")
    assert "&id" not in conv.to_yaml()  # the shared step is written out twice


# --- several commands, names, duplicates, odd values ---------------------------------


def test_several_commands() -> None:
    conv = convert("several.yml", team="ops")
    got = reflexes(conv)
    assert list(got) == [
        "restart-apidown-prod",
        "restart-apidown-staging",
        "collect-logs-apidown-prod",
        "logger",
        "logger-2",
    ]
    # commands[2] repeats commands[0] (labels in another order): dropped, as am-executor does.
    assert [(c.index, c.line) for c, _ in conv.skipped] == [(2, 10)]
    assert "same command as commands[0]" in conv.skipped[0][1]
    assert got["restart-apidown-prod"]["max_concurrent"] == 16  # the first one's, not max: 5
    # am-executor passed arguments as written: template syntax stays literal text.
    collect = got["collect-logs-apidown-prod"]["on_firing"][0]["exec"]["command"]
    assert collect[:3] == ["/bin/bash", "-e", "/opt/scripts/collect-logs.sh"]
    assert TemplateTree(collect).render({}) == [
        "/bin/bash",
        "-e",
        "/opt/scripts/collect-logs.sh",
        "{{ literally }}",
    ]
    assert got["logger-2"]["match"] == ['severity=""']
    assert "match_labels.severity is empty" in remarks_of(conv, "logger-2")
    assert "is a relative path" not in " ".join(conv.messages())


def test_no_match_labels_needs_a_team() -> None:
    (r,) = reflexes(convert("no-match-labels.yml", team="web")).values()
    assert r["team"] == "web" and r["match"] == []
    with pytest.raises(AmxConfigError) as caught:
        convert("several.yml")
    # Every command without a team is named, at its line; the duplicate is not.
    where = [(p.line, p.path) for p in caught.value.problems]
    assert where == [
        (4, "commands[0]"),
        (7, "commands[1]"),
        (14, "commands[3]"),
        (17, "commands[4]"),
        (19, "commands[5]"),
    ]
    assert "no 'team' label and no --team" in caught.value.problems[0].message


def test_ownership_label_option() -> None:
    cfg = parse_amx_config(
        "commands:\n  - cmd: /bin/true\n    match_labels: {owner: db, team: x}\n", "o.yml"
    )
    conv = convert_amx(cfg, ConvertOptions(ownership_label="owner"))
    (r,) = reflexes(conv).values()
    assert r["team"] == "db"
    assert r["match"] == ['team="x"']
    assert any("settings.ownership_label must be 'owner'" in t for t in conv.remarks)


def test_command_remarks_on_paths() -> None:
    cfg = parse_amx_config("commands:\n  - cmd: examples/reboot\n  - cmd: 'echo hello'\n", "p.yml")
    conv = convert_amx(cfg, ConvertOptions(team="ops"))
    assert "relative path" in remarks_of(conv, "reboot")
    assert "contains whitespace" in remarks_of(conv, "echo-hello")


# --- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("bad-yaml.yml", "bad-yaml.yml:3: invalid YAML: mapping values are not allowed"),
        (
            "unknown-field.yml",
            "unknown-field.yml:5: commands[0].ignore_resolve: unknown field (did you mean "
            "'ignore_resolved'?); am-executor ignores unknown fields",
        ),
        ("missing-cmd.yml", "missing-cmd.yml:4: commands[1]: missing 'cmd': the program to run"),
    ],
)
def test_bad_files(name: str, expected: str) -> None:
    with pytest.raises(AmxConfigError) as caught:
        convert(name, team="ops")
    (problem,) = caught.value.problems
    assert str(problem).startswith(str(DATA / expected))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "x.yml:1: empty file: expected 'commands'"),
        ("- cmd: a\n", "x.yml:1: expected a mapping with 'commands'"),
        ("verbose: true\n", "x.yml:1: no 'commands': nothing to convert"),
        ("commands: []\n", "x.yml:1: commands: must be a non-empty list of commands"),
        ("commands:\n  - /bin/true\n", "x.yml:2: commands[0]: a command must be a mapping"),
        ("commands:\n  - cmd: ''\n", "x.yml:2: commands[0].cmd: must be a non-empty string"),
        ("commands:\n  - cmd: a\n    args: b\n", "x.yml:3: commands[0].args: must be a list"),
        (
            "commands:\n  - cmd: chmod\n    args: [0755, f]\n",
            "x.yml:3: commands[0].args[0]: must be a string, got 493: YAML read it as int; quote",
        ),
        (
            "commands:\n  - cmd: a\n    match_labels:\n      enabled: yes\n",
            "x.yml:4: commands[0].match_labels.enabled: must be a string, got True",
        ),
        (
            "commands:\n  - cmd: a\n    match_labels: {'': x}\n",
            "x.yml:3: commands[0].match_labels.: '' is not a label name (a non-empty text)",
        ),
        ("commands:\n  - cmd: a\n    max: lots\n", "x.yml:3: commands[0].max: must be a whole"),
        (
            "commands:\n  - cmd: a\n    resolved_signal: TERM\n",
            "x.yml:3: commands[0].resolved_signal: unknown signal 'TERM': am-executor refuses",
        ),
        (
            "commands:\n  - cmd: a\n    ignore_resolved: 'no'\n",
            "x.yml:3: commands[0].ignore_resolved: must be true or false, got 'no'",
        ),
        ("listen_adress: ':1'\ncommands: [{cmd: a}]\n", "x.yml:1: listen_adress: unknown field"),
        (
            "commands:\n  - cmd: a\n  - cmd: a\n    cmd: b\n",
            "x.yml:4: duplicate key 'cmd' (first at line 3)",
        ),
    ],
)
def test_bad_input_names_file_line_and_path(text: str, expected: str) -> None:
    with pytest.raises(AmxConfigError) as caught:
        parse_amx_config(text, "x.yml")
    assert str(caught.value.problems[0]).startswith(expected), str(caught.value)


def test_every_problem_is_reported_at_once() -> None:
    text = "commands:\n  - cmd: a\n    maxx: 1\n  - args: [x]\n  - cmd: b\n    max: no\n"
    with pytest.raises(AmxConfigError) as caught:
        parse_amx_config(text, "x.yml")
    assert [p.line for p in caught.value.problems] == [3, 4, 6]


# --- the environment ------------------------------------------------------------------


def test_converted_steps_set_amx_env() -> None:
    """Every converted step asks for the AMX_* variables (all labels and annotations,
    whatever the conversion knew) and sets no env of its own."""
    for name, args in VALID.items():
        conv = convert(name, team=args[1] if args else None, run_on_resolved=True)
        for r in reflexes(conv).values():
            for step in r["on_firing"] + r.get("on_resolved", []):
                assert step["exec"]["amx_env"] is True, (name, r["name"])
                assert "env" not in step["exec"], (name, r["name"])
        assert "AMX_GLABEL_<name> for the group labels" in " ".join(conv.remarks)


@settings(max_examples=100, deadline=None)
@given(args=st.lists(st.text(st.characters(blacklist_categories=["Cs"])), max_size=4))
def test_arguments_reach_the_program_as_written(args: list[str]) -> None:
    """Template syntax, quotes, backslashes, control characters: am-executor passed its
    args verbatim, and the converted step renders each to exactly the same text."""
    cfg = AmxConfig("t.yml", (AmxCommand(0, 1, "/bin/echo", tuple(args), {"team": "t"}),))
    (r,) = reflexes(convert_amx(cfg)).values()
    command = r["on_firing"][0]["exec"]["command"]
    assert TemplateTree(command).render({}) == ["/bin/echo", *args]


def test_scripts_reading_alerts_past_the_first_are_named(tmp_path: Path) -> None:
    """The converter reads the command's script files for AMX_ALERT_<n> past n=1: each
    run sees one alert. Binaries and scripts that stay with the first are not named."""
    loops = tmp_path / "collect.sh"
    loops.write_text(
        "#!/bin/sh\n"
        "i=1\n"
        'while [ "$i" -le "$AMX_ALERT_LEN" ]; do\n'
        '  eval echo "\\$AMX_ALERT_${i}_LABEL_instance"; i=$((i + 1))\n'
        "done\n"
    )
    second = tmp_path / "second.sh"
    second.write_text('#!/bin/sh\necho "$AMX_ALERT_2_STATUS"\n')
    first = tmp_path / "first.sh"
    first.write_text('#!/bin/sh\necho "$AMX_ALERT_1_LABEL_instance $AMX_LABEL_job"\n')
    binary = tmp_path / "tool"
    binary.write_bytes(b"\x7fELF\0\0AMX_ALERT_2_STATUS")
    text = (
        "commands:\n"
        f"  - cmd: /bin/sh\n    args: [{loops}, {binary}]\n"
        f"  - cmd: {second}\n"
        f"  - cmd: {first}\n    args: [{binary}]\n"
    )
    conv = convert_amx(parse_amx_config(text, "s.yml"), ConvertOptions(team="ops"))
    said = [" ".join(r.remarks) for r in conv.reflexes]
    assert f"{loops}: reads AMX_ALERT_<n> variables past the first alert" in said[0]
    assert str(binary) not in said[0]
    assert f"{second}: reads AMX_ALERT_<n>" in said[1]
    assert "AMX_ALERT_<n>" not in said[2]
    plain = convert_amx(
        parse_amx_config(text, "s.yml"), ConvertOptions(team="ops", scan_scripts=False)
    )
    assert not any("AMX_ALERT_<n>" in t for r in plain.reflexes for t in r.remarks)


# --- the real alertreflex check -------------------------------------------------------


def test_every_conversion_passes_alertreflex_check(tmp_path: Path) -> None:
    """Each valid config, converted with --run-on-resolved (the most it writes), checked
    by the real ``alertreflex check`` (side by side: each is a process start)."""
    checks = {}
    for name, args in VALID.items():
        conv = convert(name, team=args[1] if args else None, run_on_resolved=True)
        out = tmp_path / name
        out.write_text(conv.to_yaml())
        checks[out] = subprocess.Popen(
            [str(BIN), "check", str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    for out, proc in checks.items():
        output, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, f"{out.name}:\n{output}"
        assert output.startswith("SUCCESS: 1 file(s)"), output


def test_cli_writes_a_file_that_passes_alertreflex_check(tmp_path: Path) -> None:
    out = tmp_path / "reflexes.yml"
    done = cli(str(DATA / "several.yml"), "--team", "ops", "--run-on-resolved", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert load_yaml(out.read_text()).data["reflexes"][0]["on_resolved"]
    checked = run_cli("check", str(out))
    assert checked.returncode == 0, checked.stderr


def test_cli_with_another_ownership_label_passes_check_with_that_label(tmp_path: Path) -> None:
    """With --ownership-label owner, a `team` in match_labels is a plain matcher: the
    output passes check in a config that names `owner` as its ownership label."""
    out = tmp_path / "conf" / "reflexes.yml"
    done = cli(
        str(DATA / "readme-reboot.yml"), "--ownership-label", "owner", "--team", "x", "-o", str(out)
    )
    assert done.returncode == 0, done.stderr
    (out.parent / "settings.yml").write_text("settings:\n  ownership_label: owner\n")
    checked = run_cli("check", str(out.parent))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_cli_prints_yaml_with_remarks_as_comments_and_on_stderr() -> None:
    done = cli(str(DATA / "readme-example-file.yml"), "--team", "ops")
    assert done.returncode == 0, done.stderr
    head = done.stdout.splitlines()[:3]
    assert head[0] == (
        f"# Converted from the prometheus-am-executor config {DATA / 'readme-example-file.yml'}"
    )
    assert "  # - max: 3 became max_concurrent: 3. am-executor counted the instances" in (
        done.stdout
    )
    assert load_yaml(done.stdout).data["reflexes"][1]["name"] == "true"
    where = f"{DATA / 'readme-example-file.yml'}"
    lines = done.stderr.splitlines()
    assert lines[0].startswith(f"{where}: am-executor runs a command once per notification")
    assert any(line.startswith(f"{where}:16: commands[1]: max: 3 became") for line in lines)
    # Every remark on stderr is among the comments, and the other way round.
    comments = " ".join(
        line.strip().removeprefix("#").strip().removeprefix("- ")
        for line in done.stdout.splitlines()
        if line.lstrip().startswith(("# -", "#   "))
    )
    texts = [re.sub(r"^.*?\.yml(:\d+: commands\[\d+\])?: ", "", line) for line in lines]
    assert all(text in comments for text in texts)
    assert len(" ".join(texts)) == len(comments)


def test_cli_reads_stdin() -> None:
    done = cli("-", "--team", "ops", input="commands: [{cmd: /bin/true}]\n")
    assert done.returncode == 0, done.stderr
    assert "<stdin>" in done.stdout.splitlines()[0]


def test_cli_bad_config_exits_1_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out.yml"
    done = cli(str(DATA / "unknown-field.yml"), "-o", str(out))
    assert done.returncode == 1
    assert done.stderr.startswith(f"{DATA / 'unknown-field.yml'}:5: commands[0].ignore_resolve:")
    assert not out.exists()
    done = cli(str(DATA / "no-match-labels.yml"))
    assert done.returncode == 1
    assert "no-match-labels.yml:3: commands[0]: no team" in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["FILE", "--timeout", "soon"], "--timeout: invalid duration"),
        (["FILE", "--timeout", "0s"], "--timeout must be longer than 0"),
        (["FILE", "--ownership-label", "a-b"], "--ownership-label 'a-b' is not a label name"),
        (["FILE", "--team", " "], "--team must not be empty"),
    ],
)
def test_cli_usage_errors_exit_2(args: list[str], message: str) -> None:
    """The command line is wrong (a missing file is invalid input: exit 1, below)."""
    args = [str(DATA / "readme-reboot.yml") if a == "FILE" else a for a in args]
    done = cli(*args)
    assert done.returncode == 2
    assert message in done.stderr


def test_cli_missing_file_exits_1() -> None:
    """A file that is not there is invalid input (1), not a usage error."""
    done = cli("/nonexistent/amx.yml")
    assert (done.returncode, done.stdout) == (1, "")
    assert "cannot read /nonexistent/amx.yml" in done.stderr


# --- end to end: a real alertreflex runs a script written for am-executor -----------

SCRIPT = """#!/bin/sh
# Written for prometheus-am-executor: it names its output after $AMX_STATUS and
# $AMX_LABEL_instance. For the test it keeps its whole environment.
out="$1.$AMX_STATUS.$AMX_LABEL_instance"
env -0 > "$out.tmp" && mv "$out.tmp" "$out"
if [ "$AMX_STATUS" = firing ]; then sleep "$2"; fi
"""


def _env_file(path: Path, timeout: float = 20.0) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} not written"
        time.sleep(0.05)
    return dict(item.split("=", 1) for item in path.read_text().split("\0") if item)


def test_served_conversion_runs_the_script_with_amx_and_alert_variables(
    tmp_path: Path, make_server: Any
) -> None:
    script = tmp_path / "amx-dump.sh"
    script.write_text(SCRIPT)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    out = tmp_path / "out"
    amx = tmp_path / "executor.yml"
    amx.write_text(
        "listen_address: ':9095'\n"
        "commands:\n"
        f"  - cmd: {script}\n"
        f"    args: ['{out}-env', '0']\n"
        "    match_labels: {alertname: AmxEnv, team: ops}\n"
        f"  - cmd: {script}\n"
        f"    args: ['{out}-slow', '60']\n"
        "    match_labels: {alertname: AmxSlow, team: ops}\n"
        "    resolved_signal: SIGTERM\n"
    )
    converted = tmp_path / "reflexes.yml"
    done = cli(str(amx), "--run-on-resolved", "-o", str(converted))
    assert done.returncode == 0, done.stderr
    names = [r["name"] for r in load_yaml(converted.read_text()).data["reflexes"]]
    assert names == ["amx-dump-amxenv", "amx-dump-amxslow"]
    assert "amx_env: true" in converted.read_text() and "env:\n" not in converted.read_text()
    srv = make_server(converted.read_text(), env={"AMX_SECRET_OF_THE_SERVER": "not passed"})

    # One notification, two alerts: am-executor ran the script once with AMX_ALERT_LEN=2,
    # alertreflex runs it once per alert. job, k8s.pod and runbook are named nowhere in
    # the am-executor config: their AMX_* variables are set all the same.
    a = alert(
        {"alertname": "AmxEnv", "team": "ops", "instance": "a", "job": "node", "k8s.pod": "p"},
        annotations={"summary": "disk a full", "runbook": "http://wiki/disk"},
    )
    b = alert({"alertname": "AmxEnv", "team": "ops", "instance": "b", "job": "node"})
    assert srv.post(notification(a, b)).status_code == 200
    srv.wait_runs(2, reflex="amx-dump-amxenv", trigger="firing")
    env = _env_file(Path(f"{out}-env.firing.a"))
    start = str(int(datetime(2026, 11, 25, 3, 24, 50, tzinfo=UTC).timestamp()))
    assert {k: v for k, v in env.items() if k.startswith("AMX_")} == {
        "AMX_RECEIVER": "alertreflex",
        "AMX_STATUS": "firing",
        "AMX_EXTERNAL_URL": "http://127.0.0.1:19093",
        "AMX_ALERT_LEN": "1",
        "AMX_ALERT_1_STATUS": "firing",
        "AMX_ALERT_1_START": start,
        "AMX_ALERT_1_END": "0",
        "AMX_ALERT_1_URL": "http://127.0.0.1:19090/graph",
        "AMX_ALERT_1_FINGERPRINT": a["fingerprint"],
        "AMX_LABEL_alertname": "AmxEnv",
        "AMX_ALERT_1_LABEL_alertname": "AmxEnv",
        "AMX_LABEL_instance": "a",
        "AMX_ALERT_1_LABEL_instance": "a",
        "AMX_LABEL_job": "node",
        "AMX_ALERT_1_LABEL_job": "node",
        "AMX_LABEL_k8s_pod": "p",
        "AMX_ALERT_1_LABEL_k8s_pod": "p",
        "AMX_LABEL_team": "ops",
        "AMX_ALERT_1_LABEL_team": "ops",
        "AMX_GLABEL_alertname": "AmxEnv",  # the notification's only group label
        "AMX_ANNOTATION_runbook": "http://wiki/disk",
        "AMX_ALERT_1_ANNOTATION_runbook": "http://wiki/disk",
        "AMX_ANNOTATION_summary": "disk a full",
        "AMX_ALERT_1_ANNOTATION_summary": "disk a full",
    }
    assert env["ALERT_STATUS"] == "firing"
    assert env["ALERT_LABEL_INSTANCE"] == "a"
    assert env["ALERT_LABEL_JOB"] == "node"
    assert env["ALERT_LABEL_K8S_POD"] == "p"
    assert env["ALERT_ANNOTATION_SUMMARY"] == "disk a full"
    assert env["ALERTREFLEX_REFLEX"] == "amx-dump-amxenv"
    assert env["ALERTREFLEX_TRIGGER"] == "firing"
    assert "AMX_SECRET_OF_THE_SERVER" not in env  # the server's environment stays out
    env_b = _env_file(Path(f"{out}-env.firing.b"))
    assert env_b["AMX_LABEL_instance"] == "b"
    assert env_b["AMX_ANNOTATION_summary"] == "test alert"
    assert "AMX_LABEL_k8s_pod" not in env_b  # b has no such label: unset, as in am-executor

    # Alertmanager repeats the notification: am-executor ran the script again, alertreflex
    # does not.
    assert srv.post(notification(a, b)).json()["duplicate"] is True

    # Resolved: --run-on-resolved runs the script again, with AMX_STATUS=resolved.
    ra = alert(a["labels"], status="resolved")
    assert srv.post(notification(ra)).status_code == 200
    env = _env_file(Path(f"{out}-env.resolved.a"))
    assert env["AMX_STATUS"] == env["AMX_ALERT_1_STATUS"] == "resolved"
    assert env["AMX_ALERT_1_END"] == str(int(datetime(2026, 11, 25, 3, 30, tzinfo=UTC).timestamp()))
    assert env["ALERTREFLEX_TRIGGER"] == "resolved"

    # A command still running when its alert resolves is killed (cancel_on_resolve), and
    # the resolved run follows.
    slow = alert({"alertname": "AmxSlow", "team": "ops", "instance": "c"})
    assert srv.post(notification(slow)).status_code == 200
    _env_file(Path(f"{out}-slow.firing.c"))
    began = time.monotonic()
    resolved = alert({"alertname": "AmxSlow", "team": "ops", "instance": "c"}, status="resolved")
    assert srv.post(notification(resolved)).status_code == 200
    srv.wait_runs(1, states=("cancelled",), reflex="amx-dump-amxslow", trigger="firing")
    assert time.monotonic() - began < 15  # not the 60 s the script sleeps
    srv.wait_runs(1, reflex="amx-dump-amxslow", trigger="resolved")
    assert _env_file(Path(f"{out}-slow.resolved.c"))["AMX_STATUS"] == "resolved"
    assert os.path.exists(f"{out}-slow.firing.c")
