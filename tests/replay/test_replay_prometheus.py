"""``alertreflex replay`` against a real Prometheus holding a week of ``ALERTS``
history with known episodes (promtool blocks): a cooldown that holds, a time
interval that excludes nights, a flap inside ``resolve_delay``, ownership, and clear
errors for an unreachable Prometheus, a range with no data and a malformed series."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port, run_cli
from tests.replay.history import prometheus_with
from tests.sync.conftest import Repo

DAY = 86400.0
H = 3600.0
M = 60.0
# A week that ended at the last midnight (UTC) at least a day ago: inside Prometheus's
# retention, and nights and days fall where the test says.
WEEK_END = (time.time() // DAY - 1) * DAY
WEEK_START = WEEK_END - 7 * DAY


def _at(day: int, hour: float, minute: float = 0) -> float:
    return WEEK_START + day * DAY + hour * H + minute * M


SLOW = {"alertname": "Slow", "team": "shop", "instance": "a"}
SLOW_OTHER_TEAM = {"alertname": "Slow", "team": "other", "instance": "b"}
HUNGRY = {"alertname": "Hungry", "team": "shop"}
FLAPPY = {"alertname": "Flappy", "team": "shop"}

HISTORY = [
    # 10:00 acts; 10:30 falls within the hour's cooldown; 12:00 acts again.
    (
        SLOW,
        [
            (_at(1, 10), _at(1, 10, 10)),
            (_at(1, 10, 30), _at(1, 10, 40)),
            (_at(1, 12), _at(1, 12, 5)),
        ],
    ),
    # The same alert name, another team: no reflex of shop's may act on it.
    (SLOW_OTHER_TEAM, [(_at(1, 10), _at(1, 11))]),
    # 03:00 is night (outside "daytime"), 14:00 is day.
    (HUNGRY, [(_at(2, 3), _at(2, 3, 20)), (_at(2, 14), _at(2, 14, 20))]),
    # Resolves at 09:11 (last sample 09:10), fires again at 09:13: within the
    # resolve_delay of 5m, one episode for the reflex; it resolves for good at 09:31.
    (FLAPPY, [(_at(3, 9), _at(3, 9, 10)), (_at(3, 9, 13), _at(3, 9, 30))]),
]

CONFIG = """\
time_intervals:
  - name: daytime
    time_intervals: [{times: [{start_time: "08:00", end_time: "20:00"}]}]
reflexes:
  - name: dump
    team: shop
    match: ['alertname="Slow"']
    cooldown: 1h
    on_firing: [{exec: {command: ["jcmd", "{{ alert.labels.instance }}", "Thread.print"]}}]
  - name: pizza
    team: shop
    match: ['alertname="Hungry"']
    active_time_intervals: [daytime]
    on_firing: [{exec: {command: ["order-pizza"]}}]
  - name: debug-logs
    team: shop
    match: ['alertname="Flappy"']
    resolve_delay: 5m
    on_firing: [{exec: {command: ["set-level", "DEBUG"]}}]
    on_resolved: [{exec: {command: ["set-level", "INFO"]}}]
  - name: never
    team: shop
    match: ['alertname="Nothing"']
    on_firing: [{exec: {command: ["true"]}}]
"""


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with prometheus_with(tmp_path_factory.mktemp("prom"), HISTORY) as url:
        yield url


def _replay(tmp_path: Path, url: str, *extra: str, config: str = CONFIG) -> Any:
    cfg = tmp_path / "alertreflex.yml"
    cfg.write_text(config)
    return run_cli(
        "replay",
        "--config",
        str(cfg),
        "--prometheus",
        url,
        "--from",
        _rfc3339(WEEK_START),
        "--to",
        _rfc3339(WEEK_END),
        *extra,
    )


def _rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def test_the_week_replays_to_the_expected_runs(prometheus: str, tmp_path: Path) -> None:
    done = _replay(tmp_path, prometheus, "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["episodes"] == 8
    r = doc["reflexes"]
    # The cooldown held: two thread dumps, the one between skipped; the other team's
    # alert of the same name made none.
    assert (r["dump"]["acted"], r["dump"]["skipped"]) == (2, {"cooldown": 1})
    assert r["dump"]["first"] == _rfc3339(_at(1, 10))
    assert r["dump"]["skipped_episodes"][0]["alert"] == SLOW
    assert r["dump"]["skipped_episodes"][0]["reason"].startswith(
        "cooldown: last firing run started 30m ago"
    )
    # Nights excluded: the 03:00 pizza is skipped, the 14:00 one ordered.
    assert (r["pizza"]["acted"], r["pizza"]["skipped"]) == (1, {"time_interval": 1})
    assert r["pizza"]["at_night"] == 0
    assert r["pizza"]["first"] == _rfc3339(_at(2, 14))
    # The flap: one firing run, the second firing and the first resolution skipped as
    # a flap, and the resolved steps once, 5m after the real end.
    assert r["debug-logs"]["firing"] == 1 and r["debug-logs"]["resolved"] == 1
    assert r["debug-logs"]["skipped"] == {"flap": 2}
    assert r["debug-logs"]["last"] == _rfc3339(_at(3, 9, 31) + 5 * M)
    assert r["never"]["runs"] == 0
    # Steps are rendered as `test` renders them.
    assert r["dump"]["samples"][0]["steps"][0]["params"]["command"] == ["jcmd", "a", "Thread.print"]


def test_the_text_and_markdown_reports(prometheus: str, tmp_path: Path) -> None:
    text = _replay(tmp_path, prometheus)
    assert text.returncode == 0, text.stderr
    assert "reflex dump (team shop): 2 run(s) would act" in text.stdout
    assert "skipped: cooldown 1" in text.stdout
    assert "reflex never (team shop): no run" in text.stdout
    md = _replay(tmp_path, prometheus, "--markdown")
    assert "| `pizza` | shop | 1 | 0 | time_interval 1 |" in md.stdout


def test_night_counts_follow_the_time_zone(prometheus: str, tmp_path: Path) -> None:
    """Dumps at 10:00 and 12:00 UTC are night in Pacific/Auckland (UTC+13 in its
    summer, UTC+12 otherwise: 23:00 and 01:00, or 22:00 and 00:00)."""
    done = _replay(tmp_path, prometheus, "--json", "--tz", "Pacific/Auckland")
    assert json.loads(done.stdout)["reflexes"]["dump"]["at_night"] == 2


def test_external_labels_reach_the_matchers(prometheus: str, tmp_path: Path) -> None:
    config = CONFIG.replace(
        """match: ['alertname="Slow"']""",
        """match: ['alertname="Slow"', 'cluster="replay-test"']""",
    )
    without = json.loads(_replay(tmp_path, prometheus, "--json", config=config).stdout)
    assert without["reflexes"]["dump"]["runs"] == 0
    with_them = json.loads(
        _replay(tmp_path, prometheus, "--json", "--external-labels", config=config).stdout
    )
    assert with_them["reflexes"]["dump"]["acted"] == 2


def test_an_unreachable_prometheus_is_a_clear_error(tmp_path: Path) -> None:
    done = _replay(tmp_path, f"http://127.0.0.1:{free_port()}")
    assert done.returncode == 1
    assert "cannot reach Prometheus at http://127.0.0.1:" in done.stderr


def test_a_range_without_data_is_a_clear_error(prometheus: str, tmp_path: Path) -> None:
    cfg = tmp_path / "alertreflex.yml"
    cfg.write_text(CONFIG)
    done = run_cli(
        "replay",
        "--config",
        str(cfg),
        "--prometheus",
        prometheus,
        "--from",
        _rfc3339(WEEK_START - 20 * DAY),
        "--to",
        _rfc3339(WEEK_START - 13 * DAY),
    )
    assert done.returncode == 1
    assert "no firing alerts in" in done.stderr and "between" in done.stderr


def test_a_malformed_series_is_a_clear_error(tmp_path: Path) -> None:
    broken = [({"team": "shop", "instance": "x"}, [(_at(1, 1), _at(1, 2))])]
    with prometheus_with(tmp_path / "prom", broken) as url:
        done = _replay(tmp_path, url)
    assert done.returncode == 1
    assert "malformed ALERTS series" in done.stderr
    assert '{instance="x", team="shop"} has no alertname label' in done.stderr


def test_usage_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "alertreflex.yml"
    cfg.write_text(CONFIG)
    done = run_cli(
        "replay", "--config", str(cfg), "--prometheus", "http://x", "--from", "2026-01-01T00:00:00Z"
    )
    assert done.returncode == 2 and "give --since, or both --from and --to" in done.stderr
    done = run_cli("replay", "--config", str(cfg), "--prometheus", "http://x", "--fail-rate", "2")
    assert done.returncode == 2 and "not a share between 0 and 1" in done.stderr
    done = run_cli("replay", "--config", str(cfg), "--prometheus", "http://x", "--since", "0s")
    assert done.returncode == 2 and "--since must be more than 0s" in done.stderr
    done = run_cli("replay", "--config", str(cfg), "--prometheus", "http://x", "--tz", "America")
    assert done.returncode == 2 and "unknown time zone 'America'" in done.stderr


OPERATOR = "settings: {max_concurrent_runs: 8}\n"
DUMP = """\
time_intervals:
  - name: daytime
    time_intervals: [{{times: [{{start_time: "08:00", end_time: "20:00"}}]}}]
reflexes:
  - name: dump
    match: ['alertname="Slow"']
    cooldown: {cooldown}
    on_firing: [{{exec: {{command: ["jcmd", "{{{{ alert.labels.instance }}}}", "Thread.print"]}}}}]
"""
PIZZA = """\
  - name: pizza
    match: ['alertname="Hungry"']
    active_time_intervals: [daytime]
    on_firing: [{exec: {command: ["order-pizza"]}}]
"""


def change_repo(tmp_path: Path) -> tuple[Repo, str]:
    """An ownership repository whose branch ``change`` drops dump's cooldown and adds
    pizza, on ``main`` with the cooldown; and main's commit."""
    repo = Repo(tmp_path / "repo")
    repo.write("teams/shop/shop.reflexes.yml", DUMP.format(cooldown="1h"))
    before = repo.commit("dump with a cooldown")
    repo.git("checkout", "--quiet", "-b", "change")
    repo.write("teams/shop/shop.reflexes.yml", DUMP.format(cooldown="0s") + PIZZA)
    repo.commit("no cooldown; pizza")
    return repo, before


def test_two_commits_of_an_ownership_repository(prometheus: str, tmp_path: Path) -> None:
    """The change drops dump's cooldown and adds pizza: one thread dump more (the
    one the cooldown held back) and one pizza; the before and after revisions are a
    branch and a commit of a real git repository, with the operator's config beside."""
    repo, before = change_repo(tmp_path)
    operator = tmp_path / "operator.yml"
    operator.write_text(OPERATOR)

    def replay(*extra: str) -> Any:
        return run_cli(
            "replay",
            "--repo",
            str(repo.path),
            "--config",
            str(operator),
            "--before",
            "main",
            "--after",
            "change",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--prometheus",
            prometheus,
            "--from",
            _rfc3339(WEEK_START),
            "--to",
            _rfc3339(WEEK_END),
            *extra,
        )

    done = replay("--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["before"]["config"] == f"main ({before[:12]})"
    assert doc["diff"]["changes"] == {
        "dump": {
            "status": "changed",
            "team": "shop",
            "acted": [2, 3],
            "at_night": [0, 0],
            "failed": [0, 0],
            "awaiting_approval": [0, 0],
            "skipped": {"cooldown": [1, 0]},
        },
        "pizza": {
            "status": "added",
            "team": "shop",
            "acted": [0, 1],
            "at_night": [0, 0],
            "failed": [0, 0],
            "awaiting_approval": [0, 0],
            "skipped": {"time_interval": [0, 1]},
        },
    }
    text = replay()
    assert "~ dump (team shop): +1 run(s) that act (2 -> 3); skipped cooldown 1 -> 0" in text.stdout
    assert "+ pizza (team shop, new): 1 run(s) would act, 0 of them at night" in text.stdout
    md = replay("--markdown")
    assert "| `dump` | shop | 2 -> 3 (+1) | 0 -> 0 | cooldown 1 -> 0 |" in md.stdout


def test_a_revision_that_does_not_exist_is_a_clear_error(prometheus: str, tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    repo.write("teams/shop/shop.reflexes.yml", DUMP.format(cooldown="1h"))
    repo.commit("dump")
    done = run_cli(
        "replay",
        "--repo",
        str(repo.path),
        "--after",
        "no-such-branch",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--prometheus",
        prometheus,
        "--since",
        "7d",
    )
    assert done.returncode == 1
    assert done.stderr.startswith("alertreflex replay: no-such-branch:")


def test_sync_check_replays_the_pull_request(prometheus: str, tmp_path: Path) -> None:
    """`sync --check --replay` checks the branch, then replays it against the target
    branch and writes the Markdown a CI job posts. The history here is older than
    the last 7 days' start, so the range is wide enough to hold it."""
    repo, _ = change_repo(tmp_path)
    summary = tmp_path / "replay.md"
    since = f"{int((time.time() - WEEK_START) // DAY) + 1}d"
    done = run_cli(
        "sync",
        "--repo",
        str(repo.path),
        "--ref",
        "change",
        "--check",
        "--no-tests",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--replay",
        since,
        "--replay-prometheus",
        prometheus,
        "--replay-base",
        "main",
        "--replay-markdown",
        str(summary),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("VALID: commit ")
    assert "~ dump (team shop): +1 run(s) that act (2 -> 3); skipped cooldown 1 -> 0" in done.stdout
    assert "| `pizza` | shop | 1 (new) | 0 -> 0 | time_interval 0 -> 1 |" in summary.read_text()


def test_sync_replay_options_need_each_other(tmp_path: Path) -> None:
    done = run_cli("sync", "--repo", str(tmp_path), "--check", "--replay", "7d")
    assert done.returncode == 2 and "--replay needs --check and --replay-prometheus" in done.stderr
    done = run_cli("sync", "--repo", str(tmp_path), "--check", "--replay-base", "main")
    assert done.returncode == 2 and "--replay-* options need --replay" in done.stderr


def test_json_is_all_there_is_on_standard_output(prometheus: str, tmp_path: Path) -> None:
    """A storm guard that trips during the replay logs in the engine; the replay keeps
    standard output for the document alone."""
    config = CONFIG.replace("    cooldown: 1h\n", "    storm_guard: {max_runs: 1, window: 1d}\n")
    done = _replay(tmp_path, prometheus, "--json", config=config)
    assert done.returncode == 0, done.stderr
    dump = json.loads(done.stdout)["reflexes"]["dump"]
    assert (dump["acted"], dump["skipped"]) == (1, {"storm_guard": 2})
