"""``alertreflex replay``: what a config's reflexes would have done with real alert
history (docs/replay.md)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alertreflex.cli._common import FAILED, OK, USAGE, add_command, rfc3339

if TYPE_CHECKING:
    from alertreflex.config.loader import Config
    from alertreflex.replay.history import Episode


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
    p.add_argument(
        "--config",
        metavar="PATH",
        help="config file or directory; with --repo, the operator's config the teams' "
        "reflexes are loaded beside (settings, time intervals)",
    )
    p.add_argument(
        "--repo",
        metavar="PATH_OR_URL",
        help="an ownership repository (teams/<team>/*.reflexes.yml, as for sync): replay "
        "its reflexes at --after, and compare with --before",
    )
    p.add_argument("--before", metavar="REF", help="with --repo: the revision before the change")
    p.add_argument("--after", metavar="REF", help="with --repo: the revision with the change")
    p.add_argument(
        "--ownership-label",
        default="team",
        metavar="NAME",
        help="with --repo and no --config: the label that names an alert's team (default team)",
    )
    p.add_argument(
        "--cache-dir",
        default="~/.cache/alertreflex/sync",
        metavar="DIR",
        help="with --repo: where fetched repositories are kept (as for sync)",
    )
    history = p.add_mutually_exclusive_group(required=True)
    history.add_argument(
        "--prometheus", metavar="URL", help="the Prometheus whose ALERTS series to read"
    )
    history.add_argument(
        "--notifications",
        metavar="FILE",
        help="notifications alertreflex received, as export-notifications writes them "
        "('-' for standard input); the range defaults to the file's",
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
        "--interval",
        type=_duration,
        metavar="DURATION",
        help="the rule evaluation interval (default: each alert's smallest sample "
        "spacing); an alert silent for more than two intervals has resolved",
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
    p.add_argument(
        "--html",
        type=Path,
        metavar="FILE",
        help="also write the report as a page with a chart per reflex (the UI's look)",
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
    return rfc3339(text).timestamp()


def run(args: argparse.Namespace) -> int:
    # Imported here so that `alertreflex --help` and the other commands start fast.
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from alertreflex.actions.base import load_action_types, params_models
    from alertreflex.config.loader import ConfigError, load_config
    from alertreflex.logs import configure_logging
    from alertreflex.replay.compare import Range, from_prometheus, output, replay
    from alertreflex.replay.history import HistoryError
    from alertreflex.replay.simulate import Assumptions

    # The simulation uses the engine's policy code, which logs (a storm guard tripped):
    # the report says it all, and --json must be the only thing on standard output.
    configure_logging("critical")
    if args.repo is None and (args.config is None or args.before or args.after):
        print(
            "alertreflex replay: give --config, or --repo with --after (and --before to compare)",
            file=sys.stderr,
        )
        return USAGE
    if args.repo is not None and args.after is None:
        print("alertreflex replay: --repo needs --after (and --before to compare)", file=sys.stderr)
        return USAGE
    since = args.since
    if (args.start is None) != (args.end is None) or (since is not None and args.start is not None):
        print("alertreflex replay: give --since, or both --from and --to", file=sys.stderr)
        return USAGE
    if since is not None and since <= 0:
        print("alertreflex replay: --since must be more than 0s", file=sys.stderr)
        return USAGE
    now = time.time()
    if args.start is None and (since is not None or args.prometheus):
        args.end = now
        args.start = now - (since or 7 * 86400.0)
    elif args.end is not None and args.end > now and args.prometheus:
        # History stops now: alerts firing now have not resolved, whatever --to says.
        args.end = now
    if args.interval is not None and args.interval <= 0:
        print("alertreflex replay: --interval must be more than 0s", file=sys.stderr)
        return USAGE
    try:
        tz = ZoneInfo(args.tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a zone directory
        print(f"alertreflex replay: --tz: unknown time zone {args.tz!r}", file=sys.stderr)
        return USAGE
    types = load_action_types()
    configs: list[tuple[str, Config]] = []
    if args.repo is None:
        try:
            configs.append(
                (args.config, load_config(args.config, params_models(types), read_secrets=False))
            )
        except ConfigError as exc:
            print(f"invalid config:\n{exc}", file=sys.stderr)
            return FAILED
    else:
        from alertreflex.replay.revisions import RevisionError, config_at

        cache = Path(os.path.expanduser(args.cache_dir))
        for ref in filter(None, (args.before, args.after)):
            try:
                commit, cfg = config_at(
                    args.repo, ref, cache, operator_config=args.config, label=args.ownership_label
                )
            except RevisionError as exc:
                print(f"alertreflex replay: {exc}", file=sys.stderr)
                return FAILED
            configs.append((f"{ref} ({commit[:12]})", cfg))
    episodes = None
    if args.notifications is not None:
        try:
            episodes, args.start, args.end = _from_file(args.notifications, args.start, args.end)
        except HistoryError as exc:
            print(f"alertreflex replay: {exc}", file=sys.stderr)
            return FAILED
    r = Range(
        args.start,
        args.end,
        interval=args.interval,
        external_labels=args.external_labels,
        assumptions=Assumptions(
            run_time=args.run_time, fail_rate=args.fail_rate, seed=args.seed, approve=args.approve
        ),
        tz=tz,
    )
    try:
        if episodes is None:
            episodes = from_prometheus(args.prometheus, r)
        docs = replay(configs, episodes, r)
    except HistoryError as exc:
        print(f"alertreflex replay: {exc}", file=sys.stderr)
        return FAILED
    print(output(docs, "json" if args.json else "markdown" if args.markdown else "text"))
    if args.html is not None:
        from alertreflex.replay.report import diff
        from alertreflex.web.replay_page import render

        page = render(docs, diff(docs[0], docs[1]) if len(docs) == 2 else None)
        try:
            args.html.write_text(page, encoding="utf-8")
        except OSError as exc:
            print(f"alertreflex replay: --html: {exc}", file=sys.stderr)
            return FAILED
    return OK


def _from_file(
    name: str, start: float | None, end: float | None
) -> tuple[list[Episode], float, float]:
    from alertreflex.replay.history import HistoryError, episodes_from_notifications

    if name == "-":
        return episodes_from_notifications(sys.stdin, "<stdin>", start=start, end=end)
    try:
        with open(name, encoding="utf-8") as f:
            return episodes_from_notifications(f, name, start=start, end=end)
    except OSError as exc:
        raise HistoryError(f"cannot read {name}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise HistoryError(
            f"{name} is not text (a compressed export? decompress it first)"
        ) from None
