"""The ``container`` parameter of ``exec`` as the host path sees it: a host step still
goes through the exec worker with the run's container settings in its context, and
describe() names the container."""

from __future__ import annotations

from alertreflex.actions.base import ActionContext, StepOutcome
from alertreflex.actions.exec import ExecAction, ExecParams
from alertreflex.config.containers import container_access
from alertreflex.config.schema import Settings
from alertreflex.core.models import Trigger


def _ctx() -> ActionContext:
    settings = Settings.model_validate(
        {"containers": {"url": "unix:///run/podman/podman.sock", "match": ['env="prod"']}}
    )
    return ActionContext(
        run_id="run-1",
        reflex="r",
        team="warehouse",
        trigger=Trigger.FIRING,
        alert={"labels": {"alertname": "A"}},
        notification={},
        containers=container_access(settings),
    )


async def test_a_host_step_goes_through_the_worker_with_container_settings_in_context() -> None:
    """The worker gets the step's context as JSON: the container settings (not JSON)
    stay in the server, and the host step runs as before."""
    action = ExecAction()
    await action.start()
    try:
        result = await action.execute(
            ExecParams.model_validate({"command": ["sh", "-c", "echo $ALERTREFLEX_TEAM"]}), _ctx()
        )
    finally:
        await action.close()
    assert result.outcome is StepOutcome.SUCCEEDED, result.summary
    assert result.output == "warehouse\n"


def test_describe_names_the_container() -> None:
    """A name, or the selector's labels, follows the command."""
    action = ExecAction()
    by_name = ExecParams.model_validate({"command": ["flush"], "container": "orders-1"})
    assert action.describe(by_name) == "exec flush in container orders-1"
    by_labels = ExecParams.model_validate(
        {"command": ["flush"], "container": {"labels": {"app": "orders", "team": "warehouse"}}}
    )
    assert action.describe(by_labels) == (
        "exec flush in container with labels app=orders,team=warehouse"
    )
