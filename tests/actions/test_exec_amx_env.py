"""``exec`` with ``amx_env: true``: prometheus-am-executor's ``AMX_*`` variables.

Each test runs a real step in a real subprocess: a shell script that dumps its
environment (``env -0``), started by the helper process; the first one both with the
helper started on the first step (ExecAction on its own) and with start() (the server).
The alerts are Alertmanager's own payloads, captured from a real Prometheus and
Alertmanager (tests/fixtures), or shaped like them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alertreflex.actions.amx_env import epoch_seconds
from alertreflex.actions.base import ActionContext, StepOutcome
from alertreflex.actions.exec import ExecAction, ExecParams
from alertreflex.core.models import (
    NOTIFICATION_ADAPTER,
    Trigger,
    alert_context,
    notification_context,
)
from tests.payloads import alert, fixture, notification

DUMP_ENV = "#!/bin/sh\n# Prints its whole environment, NUL-separated.\nexec env -0\n"
GRAPH_URL = (
    "http://127.0.0.1:19090/graph?g0.expr=max%28service_scs_ops_orange_bucket_gauge_max"
    "%29+%3E+0&g0.tab=1"
)
# startsAt 2026-11-25T03:24:50.701Z and the resolved endsAt 03:24:52.701Z, as Go's
# time.Unix() gives them.
STARTS = "1795577090"
ENDS = "1795577092"


def context(payload: dict[str, Any], trigger: Trigger = Trigger.FIRING) -> ActionContext:
    """The context the engine gives a run of the payload's first alert."""
    note = NOTIFICATION_ADAPTER.validate_json(json.dumps(payload))  # as the webhook reads it
    return ActionContext(
        run_id="run-amx",
        reflex="amx-dump",
        team="warehouse",
        trigger=trigger,
        alert=alert_context(note.alerts[0]),
        notification=notification_context(note),
    )


@pytest.fixture
def dump_env(tmp_path: Path) -> list[str]:
    script = tmp_path / "dump-env.sh"
    script.write_text(DUMP_ENV)
    script.chmod(0o755)
    return [str(script)]


@pytest.fixture(params=["on-first-step", "started"])
async def action(request: pytest.FixtureRequest) -> AsyncIterator[ExecAction]:
    """ExecAction as tests use it (its helper starts on the first step), and started
    as the server starts it."""
    act = ExecAction()
    if request.param == "started":
        await act.start()
    try:
        yield act
    finally:
        await act.close()


async def run_env(
    ctx: ActionContext, command: list[str], action: ExecAction | None = None, **params: Any
) -> tuple[dict[str, str], dict[str, Any]]:
    """Run the step; the environment the program saw, and the step's details."""
    validated = ExecParams.model_validate({"command": command, **params})
    result = await (action or ExecAction()).execute(validated, ctx)
    assert result.outcome is StepOutcome.SUCCEEDED, result
    env = dict(item.split("=", 1) for item in result.output.split("\0") if item)
    return env, result.details


def amx(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith("AMX_")}


async def test_firing_alert_gets_every_amx_variable(
    dump_env: list[str], action: ExecAction
) -> None:
    """A real firing notification: the AMX_* set am-executor builds for a notification
    of this one alert (its common labels and annotations are the alert's), exactly."""
    env, details = await run_env(
        context(fixture("firing.json")), dump_env, action=action, amx_env=True
    )
    assert amx(env) == {
        "AMX_RECEIVER": "automation-webhook",
        "AMX_STATUS": "firing",
        "AMX_EXTERNAL_URL": "http://127.0.0.1:19093",
        "AMX_ALERT_LEN": "1",
        "AMX_ALERT_1_STATUS": "firing",
        "AMX_ALERT_1_START": STARTS,
        "AMX_ALERT_1_END": "0",  # Go's zero time: still firing
        "AMX_ALERT_1_URL": GRAPH_URL,
        "AMX_ALERT_1_FINGERPRINT": "84d90eaef37973ee",
        "AMX_LABEL_alertname": "BucketTooFull_ORANGE",
        "AMX_ALERT_1_LABEL_alertname": "BucketTooFull_ORANGE",
        "AMX_LABEL_team": "warehouse",
        "AMX_ALERT_1_LABEL_team": "warehouse",
        "AMX_GLABEL_alertname": "BucketTooFull_ORANGE",
        "AMX_ANNOTATION_description": "max(service_scs_ops_orange_bucket_gauge_max) = 5",
        "AMX_ALERT_1_ANNOTATION_description": "max(service_scs_ops_orange_bucket_gauge_max) = 5",
        "AMX_ANNOTATION_summary": "ORANGE bucket is too full",
        "AMX_ALERT_1_ANNOTATION_summary": "ORANGE bucket is too full",
    }
    # alertreflex's own variables are all still there.
    assert env["ALERT_STATUS"] == "firing"
    assert env["ALERT_FINGERPRINT"] == "84d90eaef37973ee"
    assert env["ALERT_STARTS_AT"] == "2026-11-25T03:24:50.701000Z"
    assert "ALERT_ENDS_AT" not in env
    assert env["ALERT_GENERATOR_URL"] == GRAPH_URL
    assert env["ALERT_LABEL_ALERTNAME"] == "BucketTooFull_ORANGE"
    assert env["ALERT_ANNOTATION_SUMMARY"] == "ORANGE bucket is too full"
    assert env["ALERTREFLEX_RUN_ID"] == "run-amx"
    assert env["ALERTREFLEX_TRIGGER"] == "firing"
    assert "env_dropped" not in details


async def test_resolved_alert(dump_env: list[str]) -> None:
    """The resolved notification: its status, and endsAt in seconds since the epoch."""
    ctx = context(fixture("resolved.json"), Trigger.RESOLVED)
    env, _ = await run_env(ctx, dump_env, amx_env=True)
    assert env["AMX_STATUS"] == env["AMX_ALERT_1_STATUS"] == "resolved"
    assert env["AMX_ALERT_1_START"] == STARTS
    assert env["AMX_ALERT_1_END"] == ENDS
    assert env["ALERT_ENDS_AT"] == "2026-11-25T03:24:52.701Z"


async def test_off_by_default(dump_env: list[str]) -> None:
    """Without amx_env (and with amx_env: false) no AMX_* variable is set."""
    ctx = context(fixture("firing.json"))
    for params in ({}, {"amx_env": False}):
        env, _ = await run_env(ctx, dump_env, **params)
        assert amx(env) == {}
        assert env["ALERT_LABEL_TEAM"] == "warehouse"


async def test_every_label_of_the_alert_not_only_known_ones(dump_env: list[str]) -> None:
    """Labels and annotations are whatever the alert carries; group labels are the
    notification's. Names keep their case; characters a shell cannot read become _."""
    a = alert(
        {
            "alertname": "Odd",
            "team": "ops",
            "Instance": "web-1",
            "k8s.pod": "api-7",
            "ünï": "x",
            "x=y": "spoof",
            "a.b": "dotted",
            "a_b": "plain",
        },
        annotations={"runbook-url": "http://wiki/odd", "-": "no name"},
    )
    note = notification(a)
    note["groupLabels"] = {"alertname": "Odd", "k8s.pod": "api-7"}
    env, _ = await run_env(context(note), dump_env, amx_env=True)
    got = amx(env)
    assert got["AMX_LABEL_Instance"] == got["AMX_ALERT_1_LABEL_Instance"] == "web-1"
    assert got["AMX_LABEL_k8s_pod"] == got["AMX_ALERT_1_LABEL_k8s_pod"] == "api-7"
    assert got["AMX_GLABEL_k8s_pod"] == "api-7"
    assert got["AMX_GLABEL_alertname"] == "Odd"
    assert "AMX_GLABEL_team" not in got  # not a group label, as in am-executor
    assert got["AMX_LABEL__n_"] == "x"
    assert got["AMX_LABEL_x_y"] == "spoof"  # '=' cannot make it pose as AMX_LABEL_x
    assert "AMX_LABEL_x" not in got
    assert got["AMX_LABEL_a_b"] == "plain"  # a.b and a_b: sorted, the last one wins
    assert got["AMX_ANNOTATION_runbook_url"] == "http://wiki/odd"
    assert got["AMX_ALERT_1_ANNOTATION_runbook_url"] == "http://wiki/odd"
    assert got["AMX_ANNOTATION__"] == "no name"
    assert not [k for k in got if k.startswith("AMX_ALERT_2")]


async def test_hostile_values_arrive_verbatim(dump_env: list[str], tmp_path: Path) -> None:
    """Alert data is data: command substitutions, backticks, quotes and newlines reach
    the program as written and are never evaluated; what cannot be passed (a NUL
    byte, more than the kernel takes for one variable) is left out and named."""
    hostile = {
        "sub": "$(touch pwned-sub)",
        "tick": "`touch pwned-tick`",
        "lines": "first\nsecond\n$(touch pwned-line)\n",
        "quotes": "'\"; touch pwned-quote; echo \"'",
        "glob": "* ~ $HOME ${PATH}",
    }
    labels = {"alertname": "Hostile", "team": "ops", **hostile}
    labels["nul"] = "a\0b"
    a = alert(labels, annotations={"huge": "x" * (200 * 1024), "note": "$(id)\r\n`id`"})
    env, details = await run_env(
        context(notification(a)), dump_env, amx_env=True, cwd=str(tmp_path)
    )
    for name, value in hostile.items():
        assert env[f"AMX_LABEL_{name}"] == value
        assert env[f"AMX_ALERT_1_LABEL_{name}"] == value
        assert env[f"ALERT_LABEL_{name.upper()}"] == value
    assert env["AMX_ANNOTATION_note"] == env["AMX_ALERT_1_ANNOTATION_note"] == "$(id)\r\n`id`"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dump-env.sh"]  # nothing ran
    for left_out in (
        "AMX_LABEL_nul",
        "AMX_ALERT_1_LABEL_nul",
        "AMX_ANNOTATION_huge",
        "AMX_ALERT_1_ANNOTATION_huge",
    ):
        assert left_out not in env
        assert left_out in details["env_dropped"]
    assert "ALERT_LABEL_NUL" in details["env_dropped"]


async def test_step_env_overrides_amx_variables(dump_env: list[str]) -> None:
    """The step's env comes last, as for ALERT_*."""
    env, _ = await run_env(
        context(fixture("firing.json")),
        dump_env,
        amx_env=True,
        env={"AMX_LABEL_team": "override", "AMX_EXTRA": "1"},
    )
    assert env["AMX_LABEL_team"] == "override"
    assert env["AMX_ALERT_1_LABEL_team"] == "warehouse"
    assert env["AMX_EXTRA"] == "1"


def test_amx_env_must_be_a_boolean() -> None:
    """A config typo is refused at load, not taken as true."""
    with pytest.raises(ValueError, match="amx_env"):
        ExecParams.model_validate({"command": ["true"], "amx_env": "sometimes"})


# --- AMX_ALERT_1_START and _END --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-25T03:24:50.701Z", STARTS),
        ("2026-11-25T04:24:50.999999999+01:00", STARTS),
        ("0001-01-01T00:00:00Z", "0"),  # Go's zero time: am-executor's "no end"
        ("0001-01-01T00:00:00+01:00", "-62135600400"),  # an hour before it: not zero
        ("1969-12-31T23:59:59.5Z", "-1"),  # rounded down, as Go's Unix()
        (None, "0"),
        ("", "0"),
        ("2026-11-25", "0"),  # no time of day, no offset
        ("2026-11-25T03:24:50", "0"),  # no offset: not an instant
        ("soon", "0"),
    ],
)
def test_epoch_seconds(text: str | None, expected: str) -> None:
    """Go's zero time, no time and what is not an RFC 3339 instant are 0, as am-executor
    could only ever write a number."""
    assert epoch_seconds(text) == expected


@settings(max_examples=300, deadline=None)
@given(
    when=st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9999, 12, 30)),
    offset_minutes=st.integers(min_value=-14 * 60, max_value=14 * 60),
    zulu=st.booleans(),
    fraction=st.sampled_from(["", ".5", ".123", ".999999999"]),
)
def test_epoch_seconds_match_go_unix(
    when: datetime, offset_minutes: int, zulu: bool, fraction: str
) -> None:
    """Any RFC 3339 time Alertmanager could write: the whole seconds since the epoch,
    the fraction dropped toward the past, as Go's time.Unix()."""
    tz = UTC if zulu else timezone(timedelta(minutes=offset_minutes))
    local = when.replace(microsecond=0, tzinfo=tz)
    # isoformat, not strftime: %Y writes year 2 as "2" on glibc.
    text = when.replace(microsecond=0).isoformat() + fraction
    text += "Z" if zulu else local.isoformat()[-6:]
    assert epoch_seconds(text) == str(int(local.timestamp()))
