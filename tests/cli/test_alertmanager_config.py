"""``alertreflex alertmanager-config`` as users run it: its output checked by the real
``amtool``, and run by a real Alertmanager delivering to a real ``alertreflex serve``;
``--merge`` on real configurations, routed by amtool before and after.
Also the parts it calls (alertreflex.wiring): any option text, however hostile, is read
back by YAML readers exactly as given."""

from __future__ import annotations

import difflib
import itertools
import json
import re
import shutil
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from alertreflex.demo.stack import Stack, free_port, install_hint
from alertreflex.wiring.alertmanager import AUTHS as WIRING_AUTHS
from alertreflex.wiring.alertmanager import Wiring, WiringError, wiring_from_options
from alertreflex.wiring.alertmanager_yaml import render_full, render_snippet, scalar
from tests.conftest import run_cli

CONFIGS = Path(__file__).parents[1] / "fixtures" / "alertmanager-configs"

# A config people already run: the snippet is pasted into it as its comments say.
EXISTING = """\
route:
  receiver: ops-mail
  group_by: [alertname]
  routes:
    - receiver: pager
      matchers: ['severity="critical"']
receivers:
  - name: ops-mail
  - name: pager
"""

AUTHS = ["none", "bearer", "basic"]


def generate(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("alertmanager-config", *args, timeout=30)


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("amtool") is None:
        pytest.fail(f"these tests need amtool: {install_hint('amtool')}")
    return subprocess.run(
        ["amtool", *args], capture_output=True, text=True, timeout=30, check=False
    )


def check_config(path: Path) -> None:
    checked = amtool("check-config", str(path))
    assert checked.returncode == 0 and "SUCCESS" in checked.stdout, (
        checked.stdout + checked.stderr + path.read_text()
    )


def receivers_for(path: Path, *labels: str) -> str:
    """The receivers Alertmanager's routing tree gives an alert with these labels."""
    routed = amtool("config", "routes", "test", f"--config.file={path}", *labels)
    assert routed.returncode == 0, routed.stderr
    return routed.stdout.strip()


def auth_args(auth: str, secret: str = "/etc/alertmanager/alertreflex.secret") -> list[str]:
    args = ["--auth", auth]
    if auth != "none":
        args += ["--credentials-file", secret]
    if auth == "basic":
        args += ["--username", "am"]
    return args


def expected_http_config(auth: str, secret: str) -> dict[str, Any] | None:
    if auth == "bearer":
        return {"authorization": {"type": "Bearer", "credentials_file": secret}}
    if auth == "basic":
        return {"basic_auth": {"username": "am", "password_file": secret}}
    return None


@pytest.mark.parametrize("auth", AUTHS)
def test_snippet_pasted_into_a_config_passes_amtool_and_keeps_people_notified(
    auth: str, tmp_path: Path
) -> None:
    """The receiver and the route, pasted where the comments say (the route first, the
    catch-all last), make a config amtool accepts, in which every alert reaches
    alertreflex and still reaches the receivers people had."""
    secret = "/etc/alertmanager/alertreflex.secret"
    out = generate("--url", "http://alertreflex.example:8976/", *auth_args(auth, secret))
    assert out.returncode == 0, out.stderr
    snippet = yaml.safe_load(out.stdout)
    [receiver] = snippet["receivers"]
    assert receiver["name"] == "alertreflex"
    [webhook] = receiver["webhook_configs"]
    assert webhook["url"] == "http://alertreflex.example:8976/webhook"
    assert webhook["send_resolved"] is True and webhook["max_alerts"] == 0
    assert webhook.get("http_config") == expected_http_config(auth, secret)
    [route] = snippet["route"]["routes"]
    assert route["receiver"] == "alertreflex" and route["continue"] is True
    assert route["group_by"] == ["..."]

    config = yaml.safe_load(EXISTING)
    config["receivers"] += snippet["receivers"]
    root = config["route"]
    root["routes"] = [route, *root["routes"], {"receiver": root["receiver"]}]
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    check_config(path)
    assert receivers_for(path, "alertname=Disk", "severity=critical") == "alertreflex,pager"
    assert receivers_for(path, "alertname=Disk", "severity=info") == "alertreflex,ops-mail"


@pytest.mark.parametrize("auth", AUTHS)
def test_full_config_passes_amtool_on_its_own(auth: str, tmp_path: Path) -> None:
    """--full is a whole alertmanager.yml: amtool accepts it as printed, and an alert
    goes to alertreflex and to the receiver for people."""
    out = generate(
        "--url",
        "https://alertreflex.example/prefix",
        "--full",
        "--match",
        'team=~"warehouse|payments"',
        "--repeat-interval",
        "2h",
        *auth_args(auth),
    )
    assert out.returncode == 0, out.stderr
    path = tmp_path / "alertmanager.yml"
    path.write_text(out.stdout)
    check_config(path)
    assert receivers_for(path, "team=warehouse") == "alertreflex,default"
    assert receivers_for(path, "team=sales") == "default"
    doc = yaml.safe_load(out.stdout)
    assert doc["receivers"][0]["webhook_configs"][0]["url"] == (
        "https://alertreflex.example/prefix/webhook"
    )
    assert doc["route"]["routes"][0]["repeat_interval"] == "2h"


def test_options_shape_the_route(tmp_path: Path) -> None:
    """group_by, timings, matchers and the receiver's name come from the options,
    matchers in Alertmanager's own syntax."""
    out = generate(
        "--url",
        "http://127.0.0.1:8976",
        "--receiver",
        "reflexes",
        "--group-by",
        "alertname, instance",
        "--group-wait",
        "5s",
        "--group-interval",
        "1m",
        "--match",
        'severity != "info"',
        "--full",
    )
    assert out.returncode == 0, out.stderr
    path = tmp_path / "alertmanager.yml"
    path.write_text(out.stdout)
    check_config(path)
    route = yaml.safe_load(out.stdout)["route"]["routes"][0]
    assert route == {
        "receiver": "reflexes",
        "continue": True,
        "matchers": ['severity!="info"'],
        "group_by": ["alertname", "instance"],
        "group_wait": "5s",
        "group_interval": "1m",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "alertreflex:8976"], "--url 'alertreflex:8976': needs http:// or https://"),
        (["--url", "http://"], "--url 'http://': has no host"),
        (["--url", "http://u:pw@host:8976"], "put credentials in --auth, not in the URL"),
        (["--url", "http://host:8976/webhook"], "/webhook is added to it"),
        (["--url", "http://host:99999"], "--url 'http://host:99999': Port out of range"),
        (["--url", "http://host:8976/?x=1"], "a base URL has no query or fragment"),
        (["--url", "http://ho st:8976"], "contains white space"),
        (["--url", "http://h", "--username", "am"], "--username needs --auth bearer or"),
        (["--url", "http://h", "--auth", "bearer", "--username", "am"], "a bearer token has no"),
        (["--url", "http://h", "--match", 'a=~"("'], "--match 'a=~\"(\"': invalid matcher"),
        (["--url", "http://h", "--group-by", "alertname,..."], "'...' (all labels) cannot"),
        (["--url", "http://h", "--group-by", "bad-label"], "'bad-label' is not a label name"),
        (["--url", "http://h", "--group-interval", "0s"], "--group-interval must be more than 0"),
        (["--url", "http://h", "--repeat-interval", "daily"], "--repeat-interval: invalid"),
        (["--url", "http://h", "--full", "--receiver", "default"], "--receiver 'default' is"),
    ],
)
def test_bad_options_exit_2_naming_the_option(args: list[str], message: str) -> None:
    """A wrong option prints nothing on stdout, and says which option and why."""
    out = generate(*args)
    assert out.returncode == 2
    assert out.stdout == ""
    assert message in out.stderr
    assert out.stderr.startswith("alertreflex: ")


def reflexes_config(auth: str, secret: Path) -> str:
    webhook_auth = {
        "none": "",
        "bearer": f"  webhook_auth: {{bearer_token_file: {secret}}}\n",
        "basic": f"  webhook_auth: {{basic_auth: {{username: am, password_file: {secret}}}}}\n",
    }[auth]
    return f"""\
settings:
  ownership_label: team
{webhook_auth}
reflexes:
  - name: wired-up
    team: wiring
    match: ['alertname="WiredUp"']
    on_firing: [{{exec: {{command: ["true"]}}}}]
    on_resolved: [{{exec: {{command: ["true"]}}}}]
"""


def post_alert(am_url: str, alert: dict[str, Any]) -> None:
    """As Prometheus sends it, to Alertmanager's API."""
    resp = httpx.post(f"{am_url}/api/v2/alerts", json=[alert], timeout=10)
    assert resp.status_code == 200, resp.text


def unauthorized(srv: Any) -> float:
    try:
        return float(srv.metric('alertreflex_notifications_total{status="unauthorized"}'))
    except KeyError:  # the series appears with the first refusal
        return 0.0


@pytest.mark.parametrize("auth", AUTHS)
def test_full_config_runs_in_alertmanager_and_reaches_alertreflex(
    auth: str, tmp_path: Path, make_server: Any
) -> None:
    """A real Alertmanager running the printed --full config, as printed, delivers a
    firing and then a resolved alert to a real alertreflex that checks the same
    credentials: both runs happen, and alertreflex refused nothing."""
    secret = tmp_path / "webhook.secret"
    secret.write_text("s3cret-shared-by-both\n")
    srv = make_server(reflexes_config(auth, secret))
    if auth != "none":  # the credentials are really checked
        assert srv.post({"version": "4"}).status_code == 401
    refused = unauthorized(srv)

    out = generate(
        "--url",
        srv.url,
        "--full",
        "--group-interval",
        "1s",  # how soon the resolved notification comes
        *auth_args(auth, str(secret)),
    )
    assert out.returncode == 0, out.stderr
    config = tmp_path / "alertmanager.yml"
    config.write_text(out.stdout)
    port = free_port()
    am_url = f"http://127.0.0.1:{port}"
    with Stack(tmp_path / "stack") as stack:
        stack.start(
            "alertmanager",
            [
                "prometheus-alertmanager",
                f"--config.file={config}",
                f"--storage.path={tmp_path / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                f"--web.external-url={am_url}",
                "--cluster.listen-address=",
            ],
            f"{am_url}/-/ready",
        )
        alert = {
            "labels": {"alertname": "WiredUp", "team": "wiring", "instance": "host-1"},
            "startsAt": datetime.now(UTC).isoformat(),
        }
        post_alert(am_url, alert)
        [firing] = srv.wait_runs(1, trigger="firing", timeout=20)
        assert firing["reflex"] == "wired-up"
        post_alert(am_url, {**alert, "endsAt": datetime.now(UTC).isoformat()})
        srv.wait_runs(1, trigger="resolved", timeout=20)
    assert unauthorized(srv) == refused
    assert srv.metric('alertreflex_notifications_total{status="accepted"}') >= 2


# --- any option text: the rendering quotes it, Go's YAML reads it back ---------------

# Quotes, colons, '#', backslashes, a line separator (U+2028) and NEL (U+0085), which YAML
# readers take for line breaks even inside quotes, a character beyond the BMP.
HOSTILE_RECEIVER = 'ops: "night" #1 \\ é\u2028\U0001f600\u0085end'
HOSTILE_VALUE = 'a: "b" #c\u2028d\u0085e'


def test_hostile_receiver_and_matcher_reach_alertmanager_as_written(tmp_path: Path) -> None:
    """amtool (Go's YAML reader) accepts the printed config, credentials with line
    breaks and quotes included, and routes by exactly the receiver name and matcher
    value given, byte for byte."""
    matcher = 'team="' + HOSTILE_VALUE.replace('"', '\\"') + '"'
    out = generate(
        "--url",
        "http://127.0.0.1:8976",
        "--full",
        "--receiver",
        HOSTILE_RECEIVER,
        "--match",
        matcher,
        "--auth",
        "basic",
        "--credentials-file",
        '/etc/am/pass: "x"\u2028y',
        "--username",  # also written inside a comment, which a line break would end
        'am\u2028evil "x" #\u0085',
    )
    assert out.returncode == 0, out.stderr
    path = tmp_path / "alertmanager.yml"
    path.write_text(out.stdout)
    check_config(path)
    assert receivers_for(path, matcher) == f"{HOSTILE_RECEIVER},default"
    assert receivers_for(path, 'team="a: b"') == "default"


def text(max_size: int = 12) -> st.SearchStrategy[str]:
    # Every code point but lone surrogates (wiring_from_options refuses those: no UTF-8).
    return st.text(st.characters(blacklist_categories=["Cs"]), max_size=max_size)


@st.composite
def wirings(draw: st.DrawFn) -> Wiring:
    return Wiring(
        url=draw(st.sampled_from(["http://", "https://"])) + draw(text()),
        receiver=draw(text()),
        auth=draw(st.sampled_from(WIRING_AUTHS)),
        credentials_file=draw(text()),
        username=draw(text()),
        matchers=tuple(draw(st.lists(text(), max_size=3))),
        group_by=tuple(draw(st.lists(text(), min_size=1, max_size=3))),
        group_wait=draw(st.one_of(st.sampled_from(["0", "0s", "1h30m", "500ms"]), text(4))),
        group_interval=draw(text(4)),
        repeat_interval=draw(st.one_of(st.none(), text(4))),
    )


def expected_route(w: Wiring) -> dict[str, Any]:
    route: dict[str, Any] = {"receiver": w.receiver, "continue": True}
    if w.matchers:
        route["matchers"] = list(w.matchers)
    route |= {"group_by": list(w.group_by), "group_wait": w.group_wait}
    route["group_interval"] = w.group_interval
    if w.repeat_interval is not None:
        route["repeat_interval"] = w.repeat_interval
    return route


def expected_receiver(w: Wiring) -> dict[str, Any]:
    webhook: dict[str, Any] = {"url": w.webhook_url, "send_resolved": True, "max_alerts": 0}
    if w.auth == "bearer":
        webhook["http_config"] = {
            "authorization": {"type": "Bearer", "credentials_file": w.credentials_file}
        }
    elif w.auth == "basic":
        webhook["http_config"] = {
            "basic_auth": {"username": w.username, "password_file": w.credentials_file}
        }
    return {"name": w.receiver, "webhook_configs": [webhook]}


@settings(max_examples=100, deadline=None)
@given(w=wirings())
def test_any_wiring_renders_to_yaml_that_reads_back_exactly(w: Wiring) -> None:
    """Whatever a Wiring holds, the printed YAML (comments included) has exactly the
    expected keys, and each value reads back as the text it was: no option ends a line,
    opens a key or a comment, or carries a character YAML refuses."""
    route, receiver = expected_route(w), expected_receiver(w)
    assert yaml.safe_load(render_snippet(w)) == {
        "receivers": [receiver],
        "route": {"routes": [route]},
    }
    assert yaml.safe_load(render_full(w)) == {
        "route": {
            "receiver": "default",
            "group_by": ["alertname"],
            "routes": [route, {"receiver": "default"}],
        },
        "receivers": [receiver, {"name": "default"}],
    }


@settings(max_examples=300, deadline=None)
@given(value=text(40))
def test_scalar_is_one_line_and_reads_back_as_the_text(value: str) -> None:
    quoted = scalar(value)
    assert quoted.startswith('"') and quoted.endswith('"')
    assert not any(ch in quoted for ch in "\n\r\x85\u2028\u2029")
    assert yaml.safe_load(f"k: {quoted}  # a comment") == {"k": value}


def test_a_validated_wiring_keeps_durations_as_written() -> None:
    """Durations are written unquoted, as people write them; the other values quoted."""
    w = wiring_from_options(url="HTTPS://h:1/p/", group_wait=" 1h30m ", repeat_interval="4h")
    assert w.url == "https://h:1/p" and w.group_wait == "1h30m"
    out = render_snippet(w)
    assert "      group_wait: 1h30m\n" in out and "      repeat_interval: 4h\n" in out
    assert '      - url: "https://h:1/p/webhook"\n' in out
    assert "tls_config" in out  # https: the private CA hint


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"url": "http://h\x01"}, "--url 'http://h\\x01': contains a control character"),
        ({"url": "http://h\udcff"}, "--url 'http://h\\udcff': not UTF-8 text"),
        ({"url": "http://h", "receiver": "r\udcff"}, "--receiver 'r\\udcff': not UTF-8"),
        (
            {"url": "http://h", "auth": "basic", "username": "\udcff"},
            "--username '\\udcff': not UTF-8",
        ),
        ({"url": "http://h", "match": ['a="\udcff"']}, "--match 'a=\"\\udcff\"': not UTF-8"),
        ({"url": "http://h", "group_wait": "\u0665s"}, "--group-wait '\u0665s': digits 0-9"),
        ({"url": "http://h", "auth": "token"}, "--auth 'token': one of none, bearer, basic"),
    ],
)
def test_options_no_yaml_or_alertmanager_can_take_are_refused(
    options: dict[str, Any], message: str
) -> None:
    """Bytes that are not UTF-8 (lone surrogates in argv), control characters in the URL
    (Go's net/url refuses them), digits of other scripts in a duration, and an --auth
    that only the command's choices kept out so far."""
    with pytest.raises(WiringError) as caught:
        wiring_from_options(**options)
    assert str(caught.value).startswith(message)


# --- what the default output is, and what --help says about it -----------------------


def test_the_default_output_is_a_fragment_amtool_refuses_alone_as_help_says(
    tmp_path: Path,
) -> None:
    """--help and the output's header say the default output is a fragment to paste,
    not a whole alertmanager.yml; amtool check-config indeed refuses it alone, and
    accepts what --help says is complete (--full) as printed."""
    helped = generate("--help")
    assert helped.returncode == 0
    help_text = " ".join(helped.stdout.split())
    assert "By default a fragment to paste" in help_text
    assert "not a whole alertmanager.yml" in help_text
    assert "--full prints a complete alertmanager.yml that amtool check-config accepts" in (
        help_text
    )
    assert "valid for amtool check-config" not in help_text

    fragment = generate("--url", "http://127.0.0.1:8976")
    assert fragment.returncode == 0, fragment.stderr
    header = fragment.stdout.split("\n\n", 1)[0]
    assert "A FRAGMENT, not a whole alertmanager.yml" in header
    assert "--merge alertmanager.yml" in header and "--full" in header
    path = tmp_path / "fragment.yml"
    path.write_text(fragment.stdout)
    refused = amtool("check-config", str(path))
    assert refused.returncode != 0
    assert "SUCCESS" not in refused.stdout

    full = generate("--url", "http://127.0.0.1:8976", "--full")
    path.write_text(full.stdout)
    check_config(path)


# --- --merge on real configurations -------------------------------------------------

# Every combination of the labels the production fixture routes on; None: no label.
LABEL_VALUES: dict[str, list[str | None]] = {
    "env": ["prod", "staging", None],
    "service": ["database", "web", "other"],
    "severity": ["critical", "warning", "info"],
    "team": ["payments", "security", None],
}
LABEL_SETS = [
    [f"{name}={value}" for name, value in zip(LABEL_VALUES, values, strict=True) if value]
    for values in itertools.product(*LABEL_VALUES.values())
]


def copy_config(tmp_path: Path, name: str) -> Path:
    """A fixture with what it needs beside it (its templates) in a fresh directory."""
    shutil.copytree(CONFIGS, tmp_path / "am")
    return tmp_path / "am" / name


def routed(path: Path, label_sets: list[list[str]]) -> list[str]:
    """What amtool's routing gives each label set: receivers in order, comma-separated."""
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda labels: receivers_for(path, *labels), label_sets))


def merge_cli(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return generate("--url", "http://alertreflex.example:8976", "--merge", str(path), *args)


def added_lines_only(before: str, after: str) -> bool:
    """Whether ``after`` is ``before`` with lines inserted and nothing else changed."""
    matcher = difflib.SequenceMatcher(
        a=before.splitlines(keepends=True), b=after.splitlines(keepends=True), autojunk=False
    )
    return all(op in ("equal", "insert") for op, *_ in matcher.get_opcodes())


@pytest.mark.parametrize("match", [[], ["--match", 'team=~"payments|security"']])
def test_merge_keeps_every_receiver_getting_what_it_got(match: list[str], tmp_path: Path) -> None:
    """On a production-like alertmanager.yml (nested routes, match/match_re/matchers,
    continue true and false, inhibitions, templates, comments), for every combination of
    the labels it routes on, amtool routes each alert after the merge to exactly the
    receivers it did before, in the same order, after alertreflex (for the alerts its
    route matches). amtool check-config accepts the file before and after, and the merge
    only inserted lines: every comment and every other byte is where it was."""
    path = copy_config(tmp_path, "production.yml")
    original = path.read_text()
    check_config(path)
    before = routed(path, LABEL_SETS)

    out = merge_cli(path, *match)
    assert out.returncode == 0, out.stderr
    assert added_lines_only(original, out.stdout)
    assert path.read_text() == original  # printed, not written
    merged = tmp_path / "am" / "merged.yml"
    merged.write_text(out.stdout)
    check_config(merged)
    after = routed(merged, LABEL_SETS)

    for labels, old, new in zip(LABEL_SETS, before, after, strict=True):
        takes = not match or any(f"team={t}" in labels for t in ("payments", "security"))
        assert new == (f"alertreflex,{old}" if takes else old), labels
    # The fixture has what makes the top-level receiver's fallback hard: an alert that
    # no route matched went to ops-mail alone, and still does besides alertreflex.
    assert "ops-mail" in before
    # Each note gives the line of what it added, in the printed file.
    lines = out.stdout.splitlines()
    noted = {m[2]: int(m[1]) for m in re.finditer(r": line (\d+): ([^:\n]*)", out.stderr)}
    assert lines[noted["added the receiver 'alertreflex'"] - 1] == '- name: "alertreflex"'
    assert lines[noted["added its route as the first of route.routes, with continue"] - 1] == (
        '    - receiver: "alertreflex"'
    )
    assert lines[noted["added 2 route(s) to 'ops-mail' at the end of route.routes"] - 1] == (
        '    - receiver: "ops-mail"'
    )


def test_merge_into_a_config_without_child_routes(tmp_path: Path) -> None:
    """A top-level route without `routes:` gets alertreflex's route and a route back to
    its own receiver: every alert still reaches the team's mail, and alertreflex."""
    path = copy_config(tmp_path, "one-receiver.yml")
    original = path.read_text()
    assert receivers_for(path, "alertname=Disk") == "team-mail"
    out = merge_cli(path, "--in-place")
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""
    merged = path.read_text()
    assert added_lines_only(original, merged)
    check_config(path)
    assert receivers_for(path, "alertname=Disk") == "alertreflex,team-mail"
    route = yaml.safe_load(merged)["route"]
    assert [r["receiver"] for r in route["routes"]] == ["alertreflex", "team-mail"]


def test_merging_twice_changes_nothing(tmp_path: Path) -> None:
    """The second merge finds the receiver and the route in place: --in-place leaves
    the file untouched (same inode, same bytes) and says so, and printing gives the
    file back as it is."""
    path = copy_config(tmp_path, "production.yml")
    first = merge_cli(path, "--in-place", "--auth", "bearer")
    assert first.returncode == 0, first.stderr
    assert "settings.webhook_auth" in first.stderr  # alertreflex's side needs it too
    merged = path.read_text()
    inode, mtime = path.stat().st_ino, path.stat().st_mtime_ns

    again = merge_cli(path, "--in-place", "--auth", "bearer")
    assert again.returncode == 0, again.stderr
    assert "already merged" in again.stderr
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (inode, mtime)
    assert path.read_text() == merged
    printed = merge_cli(path, "--auth", "bearer")
    assert printed.returncode == 0 and printed.stdout == merged


def test_in_place_keeps_the_files_mode_and_its_symlink(tmp_path: Path) -> None:
    """alertmanager.yml often holds secrets and is readable by Alertmanager's group
    only: the written file keeps its mode, and a symlinked config stays a symlink to
    the file that was changed."""
    path = copy_config(tmp_path, "one-receiver.yml")
    path.chmod(0o640)
    link = tmp_path / "alertmanager.yml"
    link.symlink_to(path)
    out = merge_cli(link, "--in-place")
    assert out.returncode == 0, out.stderr
    assert link.is_symlink() and link.resolve() == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert "alertreflex" in yaml.safe_load(path.read_text())["route"]["routes"][0]["receiver"]
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_a_different_receiver_of_the_same_name_is_left_alone(tmp_path: Path) -> None:
    """A receiver named alertreflex that someone edited (another URL here) is not
    overwritten: exit 1, the message says where it is and what to do, and --in-place
    writes nothing."""
    path = copy_config(tmp_path, "one-receiver.yml")
    assert merge_cli(path, "--in-place").returncode == 0
    merged = path.read_text()
    moved = generate("--url", "http://elsewhere.example:8976", "--merge", str(path), "--in-place")
    assert moved.returncode == 1
    assert "a receiver named 'alertreflex' is already there with other settings" in (moved.stderr)
    assert moved.stderr.startswith(f"alertreflex: {path}: line ")
    assert path.read_text() == merged


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("route: [unclosed\n", "line 2: not YAML: expected ',' or ']'"),
        ("receivers:\n  - name: x\n", "no `route:` in the file"),
        ("- route\n", "the file is not a YAML mapping"),
        ("route:\n  routes: []\nreceivers: []\n", "the top-level route has no receiver"),
        (
            "route:\n  receiver: x\n  routes: [{receiver: y}]\nreceivers:\n  - name: x\n",
            "line 3: `routes:` is in flow style [...]; write it as a block list",
        ),
        ("route: {receiver: x}\nroute: {receiver: y}\n", "line 2: `route:` appears twice"),
    ],
)
def test_a_file_that_cannot_be_merged_exits_1_saying_why(
    text: str, message: str, tmp_path: Path
) -> None:
    """Not YAML, not an alertmanager.yml, or a layout --merge does not edit: nothing on
    stdout, exit 1 (the input is wrong, not the options), the file and the reason named."""
    path = tmp_path / "alertmanager.yml"
    path.write_text(text)
    out = merge_cli(path, "--in-place")
    assert (out.returncode, out.stdout) == (1, "")
    assert out.stderr.startswith(f"alertreflex: {path}: ")
    assert message in out.stderr
    assert path.read_text() == text


def test_a_missing_file_exits_1_and_usage_errors_exit_2(tmp_path: Path) -> None:
    """A file that does not exist is a failure (1); options that do not go together
    are usage errors (2): --in-place without --merge, --merge with --full."""
    missing = tmp_path / "nowhere.yml"
    out = merge_cli(missing)
    assert (out.returncode, out.stdout) == (1, "")
    assert out.stderr == f"alertreflex: {missing}: No such file or directory\n"

    out = generate("--url", "http://h:8976", "--in-place")
    assert out.returncode == 2 and "--in-place needs --merge FILE" in out.stderr
    out = generate("--url", "http://h:8976", "--full", "--merge", str(missing))
    assert out.returncode == 2 and "not allowed with argument" in out.stderr


class Capture:
    """An HTTP server on loopback that records the webhook notifications posted to it,
    standing in for people's receivers (their chat or pager)."""

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []
        received = self.notifications

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append({"path": self.path, **json.loads(body)})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def teams(self, path: str) -> set[str]:
        """The team label of each alert posted to ``path``."""
        return {
            a["labels"]["team"]
            for n in self.notifications
            if n["path"] == path
            for a in n["alerts"]
        }


@pytest.fixture
def capture() -> Iterator[Capture]:
    c = Capture()
    yield c
    c.server.shutdown()


def test_a_merged_config_runs_in_alertmanager_and_people_still_get_their_alerts(
    tmp_path: Path, make_server: Any, capture: Capture
) -> None:
    """A real Alertmanager on a merged config: an alert that no route of the team's
    matched still reaches the top-level receiver, one their route took still reaches
    it, and alertreflex runs its reflex for both."""
    srv = make_server("""\
settings: {ownership_label: team}
reflexes:
  - {name: wired-up, team: wiring, match: ['alertname="WiredUp"'],
     on_firing: [{exec: {command: ["true"]}}]}
  - {name: paid-up, team: payments, match: ['alertname="WiredUp"'],
     on_firing: [{exec: {command: ["true"]}}]}
""")
    config = tmp_path / "alertmanager.yml"
    config.write_text(f"""\
# The team's file: people's receivers are webhooks here, to see what they get.
route:
  receiver: people
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  routes:
    - receiver: payments
      matchers: [team="payments"]
receivers:
  - name: people
    webhook_configs: [{{url: "{capture.url}/people"}}]
  - name: payments
    webhook_configs: [{{url: "{capture.url}/payments"}}]
""")
    out = generate("--url", srv.url, "--merge", str(config), "--in-place")
    assert out.returncode == 0, out.stderr
    check_config(config)
    port = free_port()
    am_url = f"http://127.0.0.1:{port}"
    with Stack(tmp_path / "stack") as stack:
        stack.start(
            "alertmanager",
            [
                "prometheus-alertmanager",
                f"--config.file={config}",
                f"--storage.path={tmp_path / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                f"--web.external-url={am_url}",
                "--cluster.listen-address=",
            ],
            f"{am_url}/-/ready",
        )
        now = datetime.now(UTC).isoformat()
        for team in ("wiring", "payments"):
            post_alert(
                am_url,
                {"labels": {"alertname": "WiredUp", "team": team}, "startsAt": now},
            )
        runs = srv.wait_runs(2, trigger="firing", timeout=20)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(capture.notifications) < 2:
            time.sleep(0.1)
    assert {r["reflex"] for r in runs} == {"wired-up", "paid-up"}
    assert capture.teams("/people") == {"wiring"}
    assert capture.teams("/payments") == {"payments"}
