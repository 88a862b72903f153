"""Team reflexes that act in containers, through the sync: a team may only aim at its
own team's containers, and the operator's settings.containers.match binds them."""

from __future__ import annotations

from pathlib import Path

from .conftest import Repo
from .test_sync import make_syncer

TARGETS_PAYMENTS = """\
reflexes:
  - name: warehouse-dump-payments
    match: ['alertname="BucketTooFull_ORANGE"']
    on_firing:
      - jvm_thread_dump:
          container:
            labels:
              app: checkout
              team: payments
"""


def test_a_reflex_aimed_at_another_teams_container_is_refused(repo: Repo, tmp_path: Path) -> None:
    """A warehouse reflex whose selector asks for team=payments containers: the commit
    is refused, at the team's file, line and path, and nothing is delivered."""
    repo.write("teams/warehouse/dump.reflexes.yml", TARGETS_PAYMENTS)
    repo.commit("warehouse dumps the checkout service")
    out = tmp_path / "out"
    result = make_syncer(repo, out).run_once()
    assert result.result == "invalid"
    assert result.problems == [
        "team warehouse: teams/warehouse/dump.reflexes.yml:9: "
        "reflexes[0].on_firing[0].jvm_thread_dump.container.labels.team: selects containers "
        "of team 'payments' (team=payments), but this reflex belongs to team 'warehouse': "
        "reflexes act only on their own team's containers"
    ]
    assert not (out / "alertreflex" / "teams.yml").exists()


def test_the_operators_container_match_binds_team_reflexes(repo: Repo, tmp_path: Path) -> None:
    """With the operator's settings.containers.match, a team selector that contradicts
    it is refused when the merged reflexes are checked with the operator's config; the
    team's own container label passes."""
    operator = tmp_path / "operator.yml"
    operator.write_text("settings:\n  containers:\n    match: ['env=\"prod\"']\n")
    repo.write(
        "teams/warehouse/dump.reflexes.yml",
        TARGETS_PAYMENTS.replace("team: payments", "env: staging").replace(
            "warehouse-dump-payments", "warehouse-dump-staging"
        ),
    )
    repo.commit("warehouse dumps a staging container")
    result = make_syncer(repo, tmp_path / "out", operator_files=lambda: [str(operator)]).run_once()
    assert result.result == "invalid"
    assert len(result.problems) == 1
    assert (
        "jvm_thread_dump.container.labels.env: env=staging selects only containers that"
        in (result.problems[0])
    )
