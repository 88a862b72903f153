"""Preview what an alert would trigger: matching reflexes and fully rendered steps.

Pure apart from reading the config: nothing is executed. Used by ``alertreflex test``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from alertreflex.actions.base import Action
from alertreflex.config.loader import Config
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


def payload_from_labels(text: str, status: str) -> NotificationIn:
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
