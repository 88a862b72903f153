"""``alertreflex replay``: what a config's reflexes would have done with real alert
history (docs/replay.md)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from alertreflex.cli._common import FAILED, OK, USAGE, add_command

if TYPE_CHECKING:
    from alertreflex.actions.base import Action
    from alertreflex.config.loader import Config
    from alertreflex.replay.report import Render
    from alertreflex.replay.simulate import SimRun


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "replay",
        "Replay the alerts that fired (Prometheus's ALERTS series) through a config's "
        "reflexes on a simulated clock, executing nothing: how many runs each reflex "
        "would have made, when, and which episodes its policies would have skipped.",
        "alertreflex replay --config alertreflex.yml --prometheus http://prometheus:9090 "
        "--since 7d",
    )
    p.add_argument("--config", required=True, metavar="PATH", help="config file or directory")
    p.add_argument(
        "--prometheus", required=True, metavar="URL", help="the Prometheus whose ALERTS to read"
    )
    p.add_argument(
        "--since",
        type=_duration,
        metavar="DURATION",
        help="the range: this long until now (default 7d; or --from and --to)",
    )
    p.add_argument("--from", dest="start", type=_timestamp, metavar="TIME", help="RFC 3339")
    p.add_argument("--to", dest="end", type=_timestamp, metavar="TIME", help="RFC 3339")
    p.add_argument(
        "--step",
        type=_duration,
        default=60.0,
        metavar="DURATION",
        help="resolution of the history: at most the rule evaluation interval's order "
        "(default 60s; a gap shorter than two steps does not end an episode)",
    )
    p.add_argument(
        "--external-labels",
        action="store_true",
        help="add the Prometheus's external labels, as Alertmanager receives them",
    )
    p.add_argument(
        "--run-time",
        type=_duration,
        default=10.0,
        metavar="DURATION",
        help="how long each run is assumed to last, for max_concurrent (default 10s)",
    )
    p.add_argument(
        "--fail-rate",
        type=_rate,
        default=0.0,
        metavar="SHARE",
        help="share of runs assumed to fail, 0 to 1, for max_failures (default 0)",
    )
    p.add_argument("--seed", type=int, default=0, help="for --fail-rate (default 0)")
    p.add_argument(
        "--approve",
        action="store_true",
        help="assume approvals are given at once (default: runs that need one wait)",
    )
    p.add_argument(
        "--tz",
        default="UTC",
        metavar="ZONE",
        help="time zone for days and nights (22:00-06:00) in the report (default UTC)",
    )
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="machine-readable output")
    out.add_argument("--markdown", action="store_true", help="a summary table to post on a PR")
    p.set_defaults(func=run)


def _duration(text: str) -> float:
    from alertreflex.core.durations import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a share between 0 and 1, e.g. 0.1")
    return value


def _timestamp(text: str) -> float:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an RFC 3339 time such as 2026-11-28T23:30:00Z"
        ) from None
    if when.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a time zone, e.g. +01:00 or Z")
    return when.timestamp()


def run(args: argparse.Namespace) -> int:
    # Imported here so that `alertreflex --help` and the other commands start fast.
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from alertreflex.actions.base import load_action_types, params_models
    from alertreflex.config.loader import ConfigError, load_config
    from alertreflex.replay import report
    from alertreflex.replay.history import HistoryError, Prometheus
    from alertreflex.replay.simulate import Assumptions, simulate

    if (args.start is None) != (args.end is None) or (args.since and args.start is not None):
        print("alertreflex replay: give --since, or both --from and --to", file=sys.stderr)
        return USAGE
    if args.start is None:
        args.end = time.time()
        args.start = args.end - (args.since or 7 * 86400.0)
    if args.step <= 0:
        print("alertreflex replay: --step must be more than 0s", file=sys.stderr)
        return USAGE
    try:
        tz = ZoneInfo(args.tz)
    except (ZoneInfoNotFoundError, ValueError):
        print(f"alertreflex replay: --tz: unknown time zone {args.tz!r}", file=sys.stderr)
        return USAGE
    types = load_action_types()
    try:
        cfg = load_config(args.config, params_models(types), read_secrets=False)
    except ConfigError as exc:
        print(f"invalid config:\n{exc}", file=sys.stderr)
        return FAILED
    prometheus = Prometheus(args.prometheus)
    try:
        extra = prometheus.external_labels() if args.external_labels else None
        episodes = prometheus.episodes(args.start, args.end, step=args.step, external_labels=extra)
    except HistoryError as exc:
        print(f"alertreflex replay: {exc}", file=sys.stderr)
        return FAILED
    finally:
        prometheus.close()
    assumptions = Assumptions(
        run_time=args.run_time, fail_rate=args.fail_rate, seed=args.seed, approve=args.approve
    )
    runs = simulate(cfg, episodes, args.end, assumptions)
    actions: dict[str, Action[Any]] = {name: cls() for name, cls in types.items()}
    doc = report.summarize(
        runs,
        start=args.start,
        end=args.end,
        episodes=len(episodes),
        assumptions=assumptions,
        reflexes={name: r.team for name, r in cfg.reflexes.items()},
        tz=tz,
        render=_renderer(cfg, actions),
    )
    if args.json:
        print(json.dumps(doc, indent=2))
    elif args.markdown:
        print(report.markdown(doc))
    else:
        print(report.text(doc))
    return OK


def _renderer(cfg: Config, actions: dict[str, Action[Any]]) -> Render:
    from datetime import UTC

    from alertreflex.engine.preview import StepRenderer, alert_payload, notification_of

    renderer = StepRenderer(cfg, actions)

    def render(run: SimRun) -> list[dict[str, Any]]:
        start = datetime.fromtimestamp(run.episode.start, UTC)
        n = notification_of(
            alert_payload(run.episode.labels, status=run.trigger.value, starts_at=start)
        )
        return renderer.render(cfg.reflexes[run.reflex], n.alerts[0], n, run.trigger)

    return render
