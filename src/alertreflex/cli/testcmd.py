"""``alertreflex test``: which reflexes an alert triggers, with fully rendered steps.

Nothing is executed: this is the dry run a reviewer wants to see in a pull request.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from alertreflex.actions.base import Action, load_action_types, params_models
from alertreflex.cli._common import add_command
from alertreflex.config.loader import Config, ConfigError, load_config
from alertreflex.core.fingerprint import fingerprint
from alertreflex.core.matchers import MatcherError, MatchOp, parse_matchers
from alertreflex.core.models import (
    NOTIFICATION_ADAPTER,
    NotificationIn,
    Trigger,
    alert_context,
    notification_context,
)
from alertreflex.core.templates import TemplateError
from alertreflex.engine.dispatcher import QueuedRun
from alertreflex.engine.redact import Redactor
from alertreflex.engine.runner import render_step, template_context


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


def _payload_from_labels(text: str, status: str) -> NotificationIn:
    matchers = parse_matchers(text)
    bad = [str(m) for m in matchers if m.op is not MatchOp.EQUAL]
    if bad:
        raise MatcherError(text, f'--labels takes only name="value" pairs, not {", ".join(bad)}')
    labels = {m.name: m.value for m in matchers}
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return NOTIFICATION_ADAPTER.validate_python(
        {
            "version": "4",
            "status": status,
            "receiver": "alertreflex-test",
            "groupLabels": {},
            "commonLabels": labels,
            "externalURL": "",
            "alerts": [
                {
                    "status": status,
                    "labels": labels,
                    "annotations": {},
                    "startsAt": now,
                    "endsAt": now if status == "resolved" else "0001-01-01T00:00:00Z",
                    "fingerprint": fingerprint(labels),
                    "generatorURL": "",
                }
            ],
        },
        strict=False,
    )


def evaluate(
    n: NotificationIn, cfg: Config, actions: dict[str, Action[Any]], status: str | None = None
) -> list[dict[str, Any]]:
    """For each alert: the reflexes it matches and their rendered steps."""
    redactor = Redactor(cfg.secrets)
    out = []
    for a in n.alerts:
        trigger = Trigger(status or a.status)
        alert_ctx = alert_context(a)
        alert_ctx["status"] = str(trigger)
        matched = []
        for reflex in cfg.index.match(a.labels):
            run = QueuedRun(
                id="test-run",
                reflex=reflex.name,
                team=reflex.team,
                trigger=trigger,
                fingerprint=a.fingerprint,
                starts_at=a.starts_at,
                context={"alert": alert_ctx, "notification": notification_context(n)},
                not_before=0,
                accepted_at=0,
            )
            ctx = template_context(run, reflex, cfg.secrets)
            steps = []
            for step in reflex.steps(trigger):
                rec: dict[str, Any] = {
                    "name": step.name,
                    "action": step.action,
                    "continue_on_error": step.continue_on_error,
                }
                try:
                    params, shown = render_step(step, actions[step.action], ctx)
                    rec["params"] = redactor.tree(shown)
                    rec["describe"] = redactor.text(actions[step.action].describe(params))
                except (TemplateError, ValueError) as exc:
                    rec["error"] = str(exc)
                steps.append(rec)
            matched.append(
                {
                    "reflex": reflex.name,
                    "team": reflex.team,
                    "trigger": str(trigger),
                    "dry_run": reflex.dry_run,
                    "steps": steps,
                }
            )
        out.append(
            {
                "labels": dict(a.labels),
                "fingerprint": a.fingerprint,
                "status": str(trigger),
                "reflexes": matched,
            }
        )
    return out


def run(args: argparse.Namespace) -> int:
    types = load_action_types()
    try:
        cfg = load_config(args.config, params_models(types), read_secrets=False)
    except ConfigError as exc:
        print(f"invalid config:\n{exc}", file=sys.stderr)
        return 1
    try:
        if args.labels is not None:
            n = _payload_from_labels(args.labels, args.status or "firing")
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
