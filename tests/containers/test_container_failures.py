"""What a step with a container target says when it cannot act, in the run record of
a real server: a container that does not exist, is stopped, has no jcmd, belongs to
another team or is outside ``settings.containers.match``; selectors that match none
or several; an engine that cannot be reached."""

from __future__ import annotations

from typing import Any

from tests.containers.conftest import StartContainer, engine_settings
from tests.payloads import alert, notification

BY_NAME = """\
  - name: {name}
    team: warehouse
    match: ['alertname="{alertname}"']
    on_firing:
      - {action}: {{container: "{{{{ alert.labels.container }}}}"{extra}}}
"""


def _reflex(name: str, alertname: str, action: str = "exec", extra: str = "") -> str:
    if action == "exec":
        extra = ', command: ["true"]' + extra
    return BY_NAME.format(name=name, alertname=alertname, action=action, extra=extra)


def _fire(srv: Any, alertname: str, **labels: str) -> None:
    srv.post(notification(alert({"alertname": alertname, "team": "warehouse", **labels})))


def _reasons(srv: Any, count: int) -> dict[str, str]:
    runs = srv.wait_runs(count, states=("failed",), timeout=60)
    return {r["reflex"]: r["reason"] for r in runs}


def test_missing_stopped_foreign_and_jcmd_less_containers_fail_clearly(
    make_server: Any, container: StartContainer, base_image: str, engine_url: str
) -> None:
    """Each failure names the container and what is wrong with it (a working directory
    that is not there included), and no step acts."""
    stopped = container(
        base_image, "sleep", "infinity", labels={"team": "warehouse"}, running=False
    )
    plain = container(base_image, "sleep", "infinity", labels={"team": "warehouse"})
    theirs = container(base_image, "sleep", "infinity", labels={"team": "payments"})
    unlabelled = container(base_image, "sleep", "infinity")
    for _ in range(2):
        container(base_image, "sleep", "infinity", labels={"team": "warehouse", "app": "twin"})
    srv = make_server(
        engine_settings(engine_url)
        + "reflexes:\n"
        + _reflex("missing", "Missing")
        + _reflex("stopped", "Stopped")
        + _reflex("no-jcmd", "NoJcmd", action="jvm_thread_dump")
        + _reflex("bad-cwd", "BadCwd", extra=", cwd: /no/such/dir")
        + _reflex("path-name", "PathName")
        + _reflex("template-name", "TemplateName")
        + _reflex("theirs", "Theirs")
        + _reflex("unlabelled", "Unlabelled")
        + """\
  - name: none-selected
    team: warehouse
    match: ['alertname="NoneSelected"']
    on_firing: [{exec: {container: {labels: {app: nowhere}}, command: ["true"]}}]
  - name: two-selected
    team: warehouse
    match: ['alertname="TwoSelected"']
    on_firing: [{exec: {container: {labels: {app: twin}}, command: ["true"]}}]
"""
    )
    _fire(srv, "Missing", container="no-such-container-4711")
    _fire(srv, "Stopped", container=stopped)
    _fire(srv, "NoJcmd", container=plain)
    _fire(srv, "BadCwd", container=plain)
    _fire(srv, "PathName", container="../../version")
    _fire(srv, "TemplateName", container="{{ x }}/../../version")
    _fire(srv, "Theirs", container=theirs)
    _fire(srv, "Unlabelled", container=unlabelled)
    _fire(srv, "NoneSelected")
    _fire(srv, "TwoSelected")
    reasons = _reasons(srv, 10)
    prefix = "step 0 (exec): "
    assert reasons["missing"] == (
        f"{prefix}no container named 'no-such-container-4711' (nor with that id) at {engine_url}"
    )
    assert reasons["stopped"] == f"{prefix}container {stopped} is not running (exited)"
    assert reasons["no-jcmd"] == (
        f"step 0 (jvm_thread_dump): cannot list JVMs with `jcmd -l` in container {plain}: "
        f"container {plain} has no program 'jcmd' on its PATH (jcmd comes with a JDK, not a JRE)"
    )
    assert reasons["bad-cwd"] == (
        f"{prefix}cannot use working directory '/no/such/dir' in container {plain}: "
        "no such file or directory"
    )
    # Names from alerts never become part of an API path unless they are names.
    assert reasons["path-name"] == (
        "step 0 (exec): cannot render step: after rendering, container: Value error, "
        "'../../version' is not a container name or id ([A-Za-z0-9][A-Za-z0-9_.-]*)"
    )
    assert reasons["template-name"] == (
        f"{prefix}'{{{{ x }}}}/../../version' is not a container name or id"
    )
    assert reasons["theirs"] == (
        f"{prefix}container {theirs} belongs to team 'payments' (label team=payments), "
        "not to 'warehouse'"
    )
    assert reasons["unlabelled"] == (
        f"{prefix}container {unlabelled} has no label team: reflexes act only on containers "
        "labelled with their team (team=warehouse)"
    )
    assert reasons["none-selected"] == (
        f"{prefix}no running container of team 'warehouse' has labels app=nowhere"
    )
    assert reasons["two-selected"].startswith(
        f"{prefix}2 running containers of team 'warehouse' have labels app=twin (alertreflex-test-"
    )
    assert reasons["two-selected"].endswith("; narrow the selector")


def test_settings_containers_match_bounds_what_reflexes_touch(
    make_server: Any, container: StartContainer, base_image: str, engine_url: str
) -> None:
    """With settings.containers.match, a container of the right team that does not
    satisfy it is refused at run time, and one that does is acted on."""
    allowed = container(
        base_image, "sleep", "infinity", labels={"team": "warehouse", "alertreflex.allowed": "yes"}
    )
    other = container(base_image, "sleep", "infinity", labels={"team": "warehouse"})
    srv = make_server(
        engine_settings(engine_url, "    match: ['alertreflex.allowed=\"yes\"']\n")
        + "reflexes:\n"
        + _reflex("touch", "Touch")
    )
    _fire(srv, "Touch", container=other)
    (reason,) = _reasons(srv, 1).values()
    assert reason == (
        f"step 0 (exec): container {other} is outside settings.containers.match: its labels "
        'fail alertreflex.allowed="yes"'
    )
    _fire(srv, "Touch", container=allowed, instance="another-alert")
    (ok,) = srv.wait_runs(1, timeout=30)
    assert srv.run(ok["id"])["steps"][0]["details"]["container"]["name"] == allowed


def test_an_engine_that_cannot_be_reached_is_named(make_server: Any, tmp_path: Any) -> None:
    """A socket path with nothing behind it: the step fails naming the engine's URL
    and the reason."""
    url = f"unix://{tmp_path}/no-engine-here.sock"
    srv = make_server(engine_settings(url) + "reflexes:\n" + _reflex("unreachable", "Gone"))
    _fire(srv, "Gone", container="anything")
    (reason,) = _reasons(srv, 1).values()
    assert reason == (
        f"step 0 (exec): cannot reach the container engine at {url}: No such file or directory"
    )
