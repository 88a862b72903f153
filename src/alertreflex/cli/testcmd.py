"""``alertreflex test``: which reflexes an alert triggers, with fully rendered steps.

Nothing is executed: this is the dry run a reviewer wants to see in a pull request.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from alertreflex.cli._common import add_command


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "test",
        "Show which reflexes an alert would trigger and their rendered steps; runs nothing.",
        "alertreflex test --config examples/alertreflex.yml "
        '--labels \'{alertname="BucketTooFull_ORANGE",team="warehouse"}\'',
    )
    p.add_argument("--config", required=True, metavar="PATH")
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
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported here so that `alertreflex --help` and the other commands start fast.
    from pydantic import ValidationError

    from alertreflex.actions.base import Action, load_action_types, params_models
    from alertreflex.config.loader import ConfigError, load_config
    from alertreflex.core.matchers import MatcherError
    from alertreflex.core.models import NOTIFICATION_ADAPTER
    from alertreflex.engine.preview import evaluate, payload_from_labels

    types = load_action_types()
    try:
        cfg = load_config(args.config, params_models(types), read_secrets=False)
    except ConfigError as exc:
        print(f"invalid config:\n{exc}", file=sys.stderr)
        return 1
    try:
        if args.labels is not None:
            n = payload_from_labels(args.labels, args.status or "firing")
        else:
            raw = (
                sys.stdin.buffer.read() if args.payload == "-" else Path(args.payload).read_bytes()
            )
            n = NOTIFICATION_ADAPTER.validate_json(raw)
    except (MatcherError, ValidationError, OSError) as exc:
        print(f"alertreflex test: {exc}", file=sys.stderr)
        return 2
    actions: dict[str, Action[Any]] = {name: cls() for name, cls in types.items()}
    results = evaluate(n, cfg, actions, args.status)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    failed = False
    for res in results:
        labels = ", ".join(f'{k}="{v}"' for k, v in sorted(res["labels"].items()))
        print(f"alert {{{labels}}} ({res['status']}):")
        if not res["reflexes"]:
            print("  matches no reflex")
        for m in res["reflexes"]:
            note = " [dry_run]" if m["dry_run"] else ""
            print(
                f"  reflex {m['reflex']} (team {m['team']}){note}: "
                f"{len(m['steps'])} {m['trigger']} step(s)"
            )
            for i, s in enumerate(m["steps"]):
                if "error" in s:
                    failed = True
                    print(f"    {i}. {s['name']}: ERROR {s['error']}")
                else:
                    print(f"    {i}. {s['describe']}")
    return 1 if failed else 0
