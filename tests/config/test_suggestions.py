"""What `alertreflex check` says to help: the nearest known name for an unknown key
at every level, and why a team file's reflexes may lack their team."""

from __future__ import annotations

from pathlib import Path

import pytest

from alertreflex.actions.base import load_action_types, params_models
from alertreflex.config.loader import ConfigError, load_config

TYPES = params_models(load_action_types())

TYPOS = """\
reflex: []
settings:
  storm_gaurd: {max_runs: 1, window: 1m}
  web: {max_conections: 10}
  secrets: {token: {fiel: /run/token}}
time_intervals:
  - name: night
    time_intervals: [{tims: [{start_time: "20:00", end_time: "24:00"}]}]
reflexes:
  - name: typos
    team: t
    match: ['alertname = "A"']
    on_resolve: []
    colldown: 5m
    storm_guard: {max_run: 1, window: 1m}
    on_firing:
      - htp: {url: "http://x"}
      - nmae: dump
        exec: {command: [jcmd], timout: 5s, zzz: 1}
      - http: {url: "http://x", jsn: {a: 1}}
"""


def _problems(path: Path, owners: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, TYPES, read_secrets=False, owners=owners)
    return [str(p) for p in info.value.problems]


def test_an_unknown_key_names_the_nearest_known_one(tmp_path: Path) -> None:
    """Top-level keys, settings (nested and in maps), time intervals, reflex keys,
    action types, step keys and action parameters each suggest the name they are
    closest to; a key close to none lists the known ones when they are few."""
    f = tmp_path / "c.yml"
    f.write_text(TYPOS)
    assert sorted(_problems(f)) == sorted(
        f"{f}:{line}: {path}: {message}"
        for line, path, message in [
            (1, "reflex", "unknown field (did you mean 'reflexes'?)"),
            (3, "settings.storm_gaurd", "unknown field (did you mean 'storm_guard'?)"),
            (4, "settings.web.max_conections", "unknown field (did you mean 'max_connections'?)"),
            (5, "settings.secrets.token.fiel", "unknown field (did you mean 'file'?)"),
            (
                8,
                "time_intervals[0].time_intervals[0].tims",
                "unknown field (did you mean 'times'?)",
            ),
            (13, "reflexes[0].on_resolve", "unknown field (did you mean 'on_resolved'?)"),
            (14, "reflexes[0].colldown", "unknown field (did you mean 'cooldown'?)"),
            (15, "reflexes[0].storm_guard.max_run", "unknown field (did you mean 'max_runs'?)"),
            (15, "reflexes[0].storm_guard.max_runs", "required field is missing"),
            (
                17,
                "reflexes[0].on_firing[0].htp",
                "unknown action type 'htp' (did you mean 'http'?); known: am_silence, exec, "
                "http, jvm_thread_dump, log_level",
            ),
            (18, "reflexes[0].on_firing[1].nmae", "unknown field (did you mean 'name'?)"),
            (19, "reflexes[0].on_firing[1].exec.timout", "unknown field (did you mean 'timeout'?)"),
            (
                19,
                "reflexes[0].on_firing[1].exec.zzz",
                "unknown field (known: amx_env, command, container, cwd, env, "
                "success_exit_codes, timeout)",
            ),
            (20, "reflexes[0].on_firing[2].http.jsn", "unknown field (did you mean 'json'?)"),
        ]
    )


TEAMLESS = """\
reflexes:
  - name: warehouse-dump
    match: ['alertname = "A"']
    on_firing: [{exec: {command: ["true"]}}]
  - name: warehouse-note
    match: ['alertname = "B"']
    on_firing: [{exec: {command: ["true"]}}]
"""


def test_a_team_file_checked_alone_points_to_sync_check(tmp_path: Path) -> None:
    """A file in teams/<team>/ of an ownership repository leaves `team` out: checked
    alone, the first reflex without one says to check it with `alertreflex sync
    --check`, naming the team its directory gives; the others say it is missing."""
    f = tmp_path / "repo" / "teams" / "warehouse" / "sub" / "dump.reflexes.yml"
    f.parent.mkdir(parents=True)
    f.write_text(TEAMLESS)
    assert _problems(f) == [
        f"{f}:2: reflexes[0].team: required field is missing: this looks like a team file "
        "of an ownership repository (teams/warehouse/ gives its reflexes team 'warehouse'); "
        "check it with `alertreflex sync --repo REPO --check` (docs/ownership.md)",
        f"{f}:5: reflexes[1].team: required field is missing",
    ]
    # Loaded as sync loads it (the directory's team given), nothing is missing.
    cfg = load_config(f, TYPES, read_secrets=False, owners={str(f): "warehouse"})
    assert {r.team for r in cfg.reflexes.values()} == {"warehouse"}


def test_a_reflex_without_team_elsewhere_mentions_team_files(tmp_path: Path) -> None:
    """Outside a teams/ directory, a reflex without `team` is an error that says where
    leaving it out is allowed."""
    f = tmp_path / "alertreflex.yml"
    f.write_text(TEAMLESS)
    assert _problems(f)[0] == (
        f"{f}:2: reflexes[0].team: required field is missing (only the reflexes of a team "
        "file in an ownership repository may leave it out: check those with `alertreflex "
        "sync --repo REPO --check`, docs/ownership.md)"
    )
