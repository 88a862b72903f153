"""``alertreflex alertmanager-config`` as users run it: its output checked by the real
``amtool``, and run by a real Alertmanager delivering to a real ``alertreflex serve``."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from alertreflex.demo.stack import Stack, free_port, install_hint
from tests.conftest import BIN

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
    return subprocess.run(
        [str(BIN), "alertmanager-config", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


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
