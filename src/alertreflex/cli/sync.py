"""``alertreflex sync``: deliver team-owned rules and reflexes from a repository."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alertreflex.cli._common import FAILED, OK, USAGE, add_command

if TYPE_CHECKING:
    from alertreflex.sync.syncer import Syncer, SyncResult

DEFAULT_CACHE = "~/.cache/alertreflex/sync"


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "sync",
        "Fetch a repository of teams/<team>/ rule, reflex and test files, check all of "
        "it at one commit (ownership, promtool, reflex tests), and only if everything "
        "is valid write one rule file per team and the combined reflexes file, then "
        "reload Prometheus and alertreflex and check that both took them.",
        "alertreflex sync --repo https://git.example.com/sre/alerting.git --ref main "
        "--rules-dir /etc/prometheus/teams --reflexes-file /etc/alertreflex/teams.yml "
        "--prometheus-url http://127.0.0.1:9090 --alertreflex-url http://127.0.0.1:8976",
    )
    p.add_argument("--repo", required=True, metavar="PATH_OR_URL", help="what git can clone")
    p.add_argument("--ref", metavar="BRANCH", help="branch, tag or commit (default: HEAD)")
    p.add_argument("--rules-dir", type=Path, metavar="DIR", help="required unless --check")
    p.add_argument("--reflexes-file", type=Path, metavar="FILE", help="required unless --check")
    p.add_argument(
        "--check",
        action="store_true",
        help="only check the commit (for a pull request pipeline): write and reload nothing",
    )
    p.add_argument("--prometheus-url", metavar="URL", help="reload and verify this Prometheus")
    p.add_argument("--alertreflex-url", metavar="URL", help="reload and verify this alertreflex")
    p.add_argument(
        "--alertreflex-token-file",
        type=Path,
        metavar="FILE",
        help="bearer token for --alertreflex-url",
    )
    p.add_argument(
        "--watch",
        metavar="INTERVAL",
        help="repeat every INTERVAL (e.g. 30s), acting only when the commit changed",
    )
    p.add_argument(
        "--metrics-listen",
        metavar="HOST:PORT",
        help="with --watch: serve the sync metrics at http://HOST:PORT/metrics",
    )
    p.add_argument(
        "--ownership-label",
        default="team",
        metavar="NAME",
        help="the label that names an alert's team (default: team)",
    )
    p.add_argument(
        "--promtool",
        metavar="PATH",
        help="promtool to check rules with (default: promtool on PATH, if any)",
    )
    p.add_argument("--no-tests", action="store_true", help="do not run *.reflextests.yml")
    p.add_argument(
        "--cache-dir",
        default=DEFAULT_CACHE,
        metavar="DIR",
        help=f"where fetched repositories are kept (default: {DEFAULT_CACHE})",
    )
    p.add_argument(
        "--replay",
        metavar="DURATION",
        help="with --check: replay this much alert history (e.g. 7d) through the checked "
        "revision's reflexes and say what they would have done (docs/replay.md)",
    )
    p.add_argument(
        "--replay-prometheus", metavar="URL", help="with --replay: the Prometheus to read"
    )
    p.add_argument(
        "--replay-base",
        metavar="REF",
        help="with --replay: compare with this revision (the pull request's target)",
    )
    p.add_argument(
        "--replay-markdown",
        type=Path,
        metavar="FILE",
        help="with --replay: also write the summary as Markdown, to post on the pull request",
    )
    p.add_argument("--json", action="store_true", help="print each result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from alertreflex.core.durations import parse_duration
    from alertreflex.logs import configure_logging
    from alertreflex.sync.promtool import PromtoolError, find_promtool
    from alertreflex.sync.source import GitSource, SourceError
    from alertreflex.sync.syncer import Syncer
    from alertreflex.sync.targets import AlertreflexTarget, PrometheusTarget, Target

    interval = None
    try:
        if args.watch is not None:
            interval = parse_duration(args.watch)
            if interval <= 0:
                raise ValueError("--watch must be positive")
        source = GitSource(args.repo, args.ref, Path(os.path.expanduser(args.cache_dir)))
    except (ValueError, SourceError) as exc:
        print(f"alertreflex sync: {exc}", file=sys.stderr)
        return USAGE
    if not args.check and (args.rules_dir is None or args.reflexes_file is None):
        print("alertreflex sync: --rules-dir and --reflexes-file are required", file=sys.stderr)
        return USAGE
    if args.check and (interval is not None or args.prometheus_url or args.alertreflex_url):
        print(
            "alertreflex sync: --check writes and reloads nothing: no --watch, "
            "--prometheus-url or --alertreflex-url",
            file=sys.stderr,
        )
        return USAGE
    replay_for = None
    if args.replay is not None:
        try:
            replay_for = parse_duration(args.replay)
            if replay_for <= 0:
                raise ValueError("--replay must be positive")
        except ValueError as exc:
            print(f"alertreflex sync: {exc}", file=sys.stderr)
            return USAGE
        if not args.check or not args.replay_prometheus:
            print(
                "alertreflex sync: --replay needs --check and --replay-prometheus",
                file=sys.stderr,
            )
            return USAGE
    elif args.replay_prometheus or args.replay_base or args.replay_markdown:
        print("alertreflex sync: --replay-* options need --replay", file=sys.stderr)
        return USAGE
    if args.metrics_listen and interval is None:
        print("alertreflex sync: --metrics-listen needs --watch", file=sys.stderr)
        return USAGE
    try:
        # Files and programs the options name: missing ones are invalid input.
        promtool = find_promtool(args.promtool)
        token = (
            args.alertreflex_token_file.read_text().strip() if args.alertreflex_token_file else None
        )
    except (PromtoolError, OSError) as exc:
        print(f"alertreflex sync: {exc}", file=sys.stderr)
        return FAILED
    if promtool is None:
        print(
            "alertreflex sync: promtool not found: rule files get alertreflex's checks "
            "only (apt-get install prometheus)",
            file=sys.stderr,
        )
    targets: list[Target] = []
    if args.prometheus_url:
        targets.append(PrometheusTarget(args.prometheus_url, args.rules_dir))
    if args.alertreflex_url:
        targets.append(AlertreflexTarget(args.alertreflex_url, args.reflexes_file, token))

    def show(result: SyncResult) -> None:
        if args.json:
            print(json.dumps(result.to_json()), flush=True)
            return
        out = sys.stdout if result.ok else sys.stderr
        print(f"{result.result.upper()}: {result.message}", file=out)
        for line in result.problems:
            print(f"  {line}", file=out)
        for line in result.changed:
            print(f"  {line}", file=out)
        for line in result.confirmations:
            print(f"  {line}", file=out)
        for line in result.warnings:
            print(f"  warning: {line}", file=out)
        out.flush()

    syncer = Syncer(
        source,
        args.rules_dir or Path("."),  # unused by --check
        args.reflexes_file or Path("."),
        targets,
        label=args.ownership_label,
        promtool=promtool,
        run_tests=not args.no_tests,
    )
    if interval is None:
        configure_logging("critical")  # the report below says it all
        result = syncer.check() if args.check else syncer.run_once(force=True)
        show(result)
        if not result.ok:
            return FAILED
        if replay_for is not None and result.revision is not None:
            return _replay(args, result.revision, replay_for)
        return OK
    configure_logging("info", "json" if args.json else "logfmt")
    return _watch(syncer, interval, args.metrics_listen)


def _replay(args: argparse.Namespace, revision: str, seconds: float) -> int:
    """``--replay``: the checked revision's reflexes on the last ``seconds`` of alert
    history, compared with ``--replay-base`` when given."""
    import json
    import time

    from alertreflex.replay.compare import Range, from_prometheus, output, replay
    from alertreflex.replay.history import HistoryError
    from alertreflex.replay.revisions import RevisionError, config_at

    cache = Path(os.path.expanduser(args.cache_dir))
    checked = args.ref or "HEAD"
    refs = [args.replay_base, checked] if args.replay_base else [checked]
    end = time.time()
    try:
        configs = []
        for ref in refs:
            commit, cfg = config_at(args.repo, ref, cache, label=args.ownership_label)
            if ref == checked and commit != revision:
                raise RevisionError(f"{ref} moved from {revision[:12]} to {commit[:12]} meanwhile")
            configs.append((f"{ref} ({commit[:12]})", cfg))
        r = Range(end - seconds, end)
        docs = replay(configs, from_prometheus(args.replay_prometheus, r), r)
    except (RevisionError, HistoryError) as exc:
        print(f"alertreflex sync: --replay: {exc}", file=sys.stderr)
        return FAILED
    if args.json:
        print(json.dumps({"replay": json.loads(output(docs, "json"))}))
    else:
        print(output(docs))
    if args.replay_markdown is not None:
        try:
            args.replay_markdown.write_text(output(docs, "markdown") + "\n")
        except OSError as exc:
            print(f"alertreflex sync: --replay-markdown: {exc}", file=sys.stderr)
            return FAILED
    return OK


def _watch(syncer: Syncer, interval: float, metrics_listen: str | None) -> int:
    """Run until SIGTERM or SIGINT, logging each run that says something new."""
    from prometheus_client import CollectorRegistry, start_http_server

    from alertreflex.sync.metrics import SyncMetrics

    registry = CollectorRegistry()
    syncer.metrics = SyncMetrics(registry)
    if metrics_listen:
        host, _, port = metrics_listen.rpartition(":")
        try:
            start_http_server(int(port), addr=host or "127.0.0.1", registry=registry)
        except ValueError as exc:
            print(f"alertreflex sync: --metrics-listen {metrics_listen}: {exc}", file=sys.stderr)
            return USAGE
        except OSError as exc:  # the address is taken, or not this machine's
            print(f"alertreflex sync: --metrics-listen {metrics_listen}: {exc}", file=sys.stderr)
            return FAILED
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    syncer.watch(interval, stop)
    return OK
