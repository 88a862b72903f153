"""``alertreflex test``: which reflexes an alert triggers, with fully rendered steps.

Nothing is executed: this is the dry run a reviewer wants to see in a pull request.
With ``--explain`` it goes through every configured reflex and says why it does or
does not act on the alert (docs/reflex-tests.md shows the output).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alertreflex.cli._common import FAILED, OK, USAGE, add_command, rfc3339

if TYPE_CHECKING:
    import httpx

    from alertreflex.actions.base import Action
    from alertreflex.config.loader import Config
    from alertreflex.core.models import AlertIn, NotificationIn
    from alertreflex.engine.explain import (
        Explanation,
        HeldLookup,
        LastFiring,
        LastFiringLookup,
    )

# The most runs one request to /api/v1/runs may ask for (web/api.py's MAX_LIMIT).
RUNS_PAGE = 1000


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "test",
        "Show which reflexes an alert would trigger and their rendered steps; runs nothing. "
        "--explain says for every reflex why it does or does not act on the alert.",
        "alertreflex test --config examples/alertreflex.yml "
        '--labels \'{alertname="BucketTooFull_ORANGE",team="warehouse"}\' --explain',
    )
    p.add_argument(
        "--config",
        required=True,
        metavar="PATH",
        help="the config: a file, or a directory of *.yml and *.yaml files",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--labels", metavar="LABELS", help='an alert\'s labels: \'{a="b",c="d"}\'')
    src.add_argument(
        "--payload", metavar="FILE", help="an Alertmanager webhook payload (JSON); '-' for stdin"
    )
    p.add_argument(
        "--status",
        choices=["firing", "resolved"],
        help="the alert status (default: firing, or as in the payload)",
    )
    p.add_argument(
        "--explain",
        action="store_true",
        help="for every reflex: ownership, each matcher, time window, cooldown, dry_run",
    )
    p.add_argument(
        "--at",
        metavar="TIME",
        type=rfc3339,
        help="with --explain: evaluate time windows and the cooldown at this RFC 3339 "
        "time, e.g. 2026-11-28T23:30:00+01:00 (default: now)",
    )
    p.add_argument(
        "--url",
        metavar="URL",
        help="with --explain: a running alertreflex, whose last runs decide the cooldown "
        "(default: the cooldown is not checked)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported here so that `alertreflex --help` and the other commands start fast.
    from pydantic import ValidationError

    from alertreflex.actions.base import load_action_types, params_models
    from alertreflex.config.loader import ConfigError, load_config
    from alertreflex.core.matchers import MatcherError
    from alertreflex.core.models import NOTIFICATION_ADAPTER
    from alertreflex.engine.preview import evaluate, labels_text, payload_from_labels

    if not args.explain and (args.at is not None or args.url is not None):
        print("alertreflex test: --at and --url need --explain", file=sys.stderr)
        return USAGE
    if args.labels is not None:
        try:
            n = payload_from_labels(args.labels, args.status or "firing")
        except (MatcherError, ValidationError) as exc:
            # --labels is part of the command line: a malformed one is a usage error.
            print(f"alertreflex test: --labels: {exc}", file=sys.stderr)
            return USAGE
    else:
        try:
            raw = (
                sys.stdin.buffer.read() if args.payload == "-" else Path(args.payload).read_bytes()
            )
            n = NOTIFICATION_ADAPTER.validate_json(raw)
        except OSError as exc:
            print(f"alertreflex test: cannot read {args.payload}: {exc.strerror}", file=sys.stderr)
            return FAILED
        except ValidationError as exc:
            print(f"alertreflex test: {args.payload}: {exc}", file=sys.stderr)
            return FAILED
    types = load_action_types()
    try:
        cfg = load_config(args.config, params_models(types), read_secrets=False)
    except ConfigError as exc:
        print(f"invalid config:\n{exc}", file=sys.stderr)
        return FAILED
    actions: dict[str, Action[Any]] = {name: cls() for name, cls in types.items()}
    if args.explain:
        return explain(args, cfg, n, actions)
    results = evaluate(n, cfg, actions, args.status)
    if args.json:
        print(json.dumps(results, indent=2))
        return OK
    failed = False
    for res in results:
        print(f"alert {labels_text(res['labels'])} ({res['status']}):")
        if not res["reflexes"]:
            print(
                f"  matches no reflex of the {len(cfg.reflexes)} configured; add --explain "
                "to see why each does not (ownership, matchers, time windows)"
            )
        for m in res["reflexes"]:
            note = " [dry_run]" if m["dry_run"] else ""
            print(
                f"  reflex {m['reflex']} (team {m['team']}){note}: "
                f"{len(m['steps'])} {m['trigger']} step(s)"
            )
            for line in _steps_lines(m["steps"], "    "):
                print(line)
            failed |= any("error" in s for s in m["steps"])
    return FAILED if failed else OK


# --------------------------------------------------------------------------- --explain


def explain(
    args: argparse.Namespace, cfg: Config, n: NotificationIn, actions: dict[str, Action[Any]]
) -> int:
    """``--explain``: every reflex's checks for each alert of ``n``, as text or JSON."""
    import httpx

    from alertreflex.core.models import Trigger
    from alertreflex.engine.explain import explain_alert
    from alertreflex.engine.preview import StepRenderer

    at: datetime = args.at or datetime.now(UTC).astimezone()
    trigger = Trigger(args.status) if args.status else None
    renderer = StepRenderer(cfg, actions)
    base = args.url.rstrip("/") if args.url else None
    try:
        with httpx.Client(timeout=10) as client:
            lookup = _runs_api(client, base) if base else None
            held_by = _controls_api(client, base) if base else None
            explained = [
                (
                    a,
                    explain_alert(
                        cfg,
                        a,
                        n,
                        at=at,
                        trigger=trigger,
                        renderer=renderer,
                        lookup=lookup,
                        held_by=held_by,
                    ),
                )
                for a in n.alerts
            ]
    except (httpx.HTTPError, RunsApiError) as exc:
        print(f"alertreflex test: cannot read runs and controls of {base}: {exc}", file=sys.stderr)
        return FAILED
    if args.json:
        doc = [_alert_json(a, at, exps) for a, exps in explained]
        print(json.dumps(doc, indent=2))
        return OK
    failed = False
    for k, (a, exps) in enumerate(explained):
        if k:
            print()
        lines, step_failed = _explain_text(a, at, exps, cfg.settings.ownership_label)
        print("\n".join(lines))
        failed |= step_failed
    return FAILED if failed else OK


class RunsApiError(Exception):
    """The runs or controls API answered, but not with what it serves."""


def _controls_api(client: httpx.Client, base: str) -> HeldLookup:
    """The brakes in force in a running alertreflex, worded as its runner words them."""
    from alertreflex.engine import controls
    from alertreflex.store.base import GLOBAL, Control

    resp = client.get(f"{base}/api/v1/controls")
    if resp.status_code != 200:
        raise RunsApiError(f"GET {resp.url}: {resp.status_code}")
    try:
        held = {c.scope: c for c in map(Control.from_json, resp.json()["controls"])}
    except (ValueError, KeyError, TypeError) as exc:
        raise RunsApiError(f"GET {resp.url}: unexpected answer: {exc}") from None

    def why(reflex: str) -> str | None:
        control = held.get(GLOBAL) or held.get(reflex)
        return controls.why(control) if control is not None else None

    return why


def _runs_api(client: httpx.Client, base: str) -> LastFiringLookup:
    """The last started firing run of a reflex, from a running alertreflex's runs API."""
    from alertreflex.engine.explain import LastFiring

    def last(reflex: str) -> LastFiring | None:
        runs = _firing_runs(client, base, reflex, 1)
        if runs and runs[0].get("started_at") is None:
            # The newest run never started (skipped, maybe by this very cooldown, or
            # still queued): the cooldown counts from the last one that did.
            runs = _firing_runs(client, base, reflex, RUNS_PAGE)
        started = [r for r in runs if r.get("started_at") is not None]
        if not started:
            return None
        newest = max(started, key=lambda r: float(r["started_at"]))
        return LastFiring(str(newest["id"]), float(newest["started_at"]))

    return last


def _firing_runs(client: httpx.Client, base: str, reflex: str, limit: int) -> list[Any]:
    params = {"reflex": reflex, "trigger": "firing", "limit": str(limit)}
    resp = client.get(f"{base}/api/v1/runs", params=params)
    try:
        data = resp.json()
    except ValueError:
        data = None
    if resp.status_code != 200 or not isinstance(data, dict) or "runs" not in data:
        message = data.get("error") if isinstance(data, dict) else resp.text[:200]
        raise RunsApiError(f"GET {resp.url}: {resp.status_code}: {message}")
    runs: list[Any] = data["runs"]
    return runs


def _alert_json(a: AlertIn, at: datetime, exps: list[Explanation]) -> dict[str, Any]:
    return {
        "labels": dict(a.labels),
        "fingerprint": a.fingerprint,
        "status": str(exps[0].trigger) if exps else a.status,
        "at": at.isoformat(),
        "reflexes": [e.to_json() for e in exps],
    }


MARKS = {"ok": "ok  ", "fail": "FAIL", "unknown": "?   ", "n/a": "-   ", "info": "note"}
HEADLINES = {
    "not_owned": "NO MATCH",
    "no_match": "NO MATCH",
    "no_steps": "NOTHING TO RUN",
    "held": "SKIPPED: held",
    "dry_run": "DRY RUN: steps rendered, nothing executed",
    "outside_time": "SKIPPED",
    "cooldown": "SKIPPED: in cooldown",
    "runs": "RUNS",
}
SUMMARY = {
    "runs": "run",
    "dry_run": "dry run",
    "held": "held by a pause or disable",
    "outside_time": "skipped by a time window",
    "cooldown": "skipped by the cooldown",
    "no_steps": "with nothing to run",
    "no_match": "not matching",
    "not_owned": "of other teams",
}


def _headline(e: Explanation) -> str:
    outcome = str(e.outcome)
    head = HEADLINES[outcome]
    if outcome == "runs" and e.in_cooldown is None:
        head += " unless in cooldown"
    elif outcome == "held":
        head = f"SKIPPED: {e.held}"
    elif outcome == "outside_time":
        head += f": {e.outside_time}"
    elif outcome == "no_steps":
        head += f": no {e.trigger} steps"
    return f"{e.reflex.name}  {head}"


def _explain_text(
    a: AlertIn, at: datetime, exps: list[Explanation], label: str
) -> tuple[list[str], bool]:
    """The --explain text of one alert, and whether a matching step failed to render."""
    from alertreflex.engine.preview import labels_text

    trigger = exps[0].trigger if exps else a.status
    counts: dict[str, int] = defaultdict(int)
    for e in exps:
        counts[str(e.outcome)] += 1
    summary = ", ".join(f"{counts[k]} {v}" for k, v in SUMMARY.items() if counts[k])
    lines = [
        f"alert {labels_text(a.labels)} ({trigger}) at {at.isoformat()}",
        f"{len(exps)} reflex(es): {summary or 'none configured'}",
    ]
    failed = False
    own = a.labels.get(label, "")
    for team, members in _by_team(exps, own):
        lines.append("")
        if team == own:
            lines.append(f"team {team} (the alert's team):")
        else:
            shown = f'{label}="{own}"' if label in a.labels else f"no {label} label"
            lines.append(f"team {team} (not the alert's team: it has {shown}):")
        for e in members:
            lines.append(f"  {_headline(e)}  [{e.reflex.source}]")
            if not e.owned:
                continue  # the team line says why; --json has every check
            lines.extend(f"    {MARKS[str(c.status)]}  {c.text}" for c in e.checks)
            if e.steps is not None:
                lines.append(f"    {e.trigger} steps:" if e.steps else f"    no {e.trigger} steps")
                lines.extend(_steps_lines(e.steps, "      ", named=True))
                failed |= any("error" in s for s in e.steps)
    return lines, failed


def _steps_lines(steps: list[dict[str, Any]], indent: str, named: bool = False) -> Iterator[str]:
    """Rendered steps as `alertreflex test` prints them, or the error of each that failed.
    ``named`` adds a step's name where it says more than its action ("restore log_level")."""
    for i, s in enumerate(steps):
        if "error" in s:
            yield f"{indent}{i}. {s['name']}: ERROR {s['error']}"
        elif named and s["name"] != s["action"]:
            yield f"{indent}{i}. {s['name']}: {s['describe']}"
        else:
            yield f"{indent}{i}. {s['describe']}"


def _by_team(exps: list[Explanation], own: str) -> list[tuple[str, list[Explanation]]]:
    """Reflexes grouped by team, the alert's own team first, then by name."""
    teams: dict[str, list[Explanation]] = defaultdict(list)
    for e in exps:
        teams[e.reflex.team].append(e)
    return sorted(teams.items(), key=lambda kv: (kv[0] != own, kv[0]))
