"""Preview what an alert would trigger: matching reflexes and fully rendered steps.

Pure apart from reading the config: nothing is executed. Used by ``alertreflex test``,
its ``--explain`` (:mod:`alertreflex.engine.explain`) and the reflex unit tests
(:mod:`alertreflex.engine.reflextests`), so that all three render steps exactly as a
run would.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from alertreflex.actions.base import Action
from alertreflex.config.loader import Config, Reflex
from alertreflex.core.fingerprint import fingerprint
from alertreflex.core.matchers import MatcherError, MatchOp, parse_matchers
from alertreflex.core.models import (
    NOTIFICATION_ADAPTER,
    AlertIn,
    NotificationIn,
    Trigger,
    alert_context,
    notification_context,
)
from alertreflex.core.templates import TemplateError
from alertreflex.engine.dispatcher import QueuedRun
from alertreflex.engine.redact import Redactor
from alertreflex.engine.runner import render_step, template_context

# Alertmanager's "no end yet" for firing alerts.
_NO_END = "0001-01-01T00:00:00Z"


def _rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def labels_text(labels: Mapping[str, str]) -> str:
    """Labels as people read them in output: ``{a="b", c="d"}``, sorted by name."""
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def alert_payload(
    labels: Mapping[str, str],
    *,
    status: str = "firing",
    annotations: Mapping[str, str] | None = None,
    starts_at: datetime | None = None,
) -> dict[str, Any]:
    """One alert as Alertmanager would send it, its fingerprint computed from the labels."""
    start = starts_at or datetime.now(UTC)
    return {
        "status": status,
        "labels": dict(labels),
        "annotations": dict(annotations or {}),
        "startsAt": _rfc3339(start),
        # A resolved alert ends when it is looked at; the start is the best guess here.
        "endsAt": _rfc3339(max(start, datetime.now(UTC))) if status == "resolved" else _NO_END,
        "fingerprint": fingerprint(labels),
        "generatorURL": "",
    }


def notification_of(alert: dict[str, Any]) -> NotificationIn:
    """A webhook notification holding just ``alert`` (see :func:`alert_payload`)."""
    return NOTIFICATION_ADAPTER.validate_python(
        {
            "version": "4",
            "status": alert["status"],
            "receiver": "alertreflex-test",
            "groupLabels": {},
            "commonLabels": alert["labels"],
            "commonAnnotations": alert["annotations"],
            "externalURL": "",
            "alerts": [alert],
        },
        strict=False,
    )


def payload_from_labels(text: str, status: str) -> NotificationIn:
    matchers = parse_matchers(text)
    bad = [str(m) for m in matchers if m.op is not MatchOp.EQUAL]
    if bad:
        raise MatcherError(text, f'--labels takes only name="value" pairs, not {", ".join(bad)}')
    return notification_of(alert_payload({m.name: m.value for m in matchers}, status=status))


class StepRenderer:
    """Renders a reflex's steps for one alert as its run would, executing nothing.

    Secrets are not read offline (``load_config(read_secrets=False)``); a template
    that uses one then sees its redacted form ``<secret:NAME>`` instead of failing,
    which is also what the output would show for the real value.
    """

    def __init__(self, cfg: Config, actions: Mapping[str, Action[Any]]) -> None:
        self.actions = actions
        self.secrets = {name: f"<secret:{name}>" for name in cfg.settings.secrets}
        self.secrets.update(cfg.secrets)
        self.redactor = Redactor(cfg.secrets)

    def render(
        self, reflex: Reflex, alert: AlertIn, n: NotificationIn, trigger: Trigger
    ) -> list[dict[str, Any]]:
        """Each step of ``reflex`` for ``trigger``: name, action, and its rendered
        ``params`` and ``describe`` line, or the ``error`` that rendering raised."""
        alert_ctx = alert_context(alert)
        alert_ctx["status"] = str(trigger)
        run = QueuedRun(
            id="test-run",
            reflex=reflex.name,
            team=reflex.team,
            trigger=trigger,
            fingerprint=alert.fingerprint,
            starts_at=alert.starts_at,
            context={"alert": alert_ctx, "notification": notification_context(n)},
            not_before=0,
            accepted_at=0,
        )
        ctx = template_context(run, reflex, self.secrets)
        steps = []
        for step in reflex.steps(trigger):
            rec: dict[str, Any] = {
                "name": step.name,
                "action": step.action,
                "continue_on_error": step.continue_on_error,
            }
            action = self.actions[step.action]
            try:
                params, shown = render_step(step, action, ctx)
                rec["params"] = self.redactor.tree(shown)
                rec["describe"] = self.redactor.text(action.describe(params))
            except (TemplateError, ValueError) as exc:
                rec["error"] = str(exc)
            steps.append(rec)
        return steps


def evaluate(
    n: NotificationIn,
    cfg: Config,
    actions: Mapping[str, Action[Any]],
    status: str | None = None,
) -> list[dict[str, Any]]:
    """For each alert: the reflexes it matches and their rendered steps."""
    renderer = StepRenderer(cfg, actions)
    out = []
    for a in n.alerts:
        trigger = Trigger(status or a.status)
        matched = [
            {
                "reflex": reflex.name,
                "team": reflex.team,
                "trigger": str(trigger),
                "dry_run": reflex.dry_run,
                "steps": renderer.render(reflex, a, n, trigger),
            }
            for reflex in cfg.index.match(a.labels)
        ]
        out.append(
            {
                "labels": dict(a.labels),
                "fingerprint": a.fingerprint,
                "status": str(trigger),
                "reflexes": matched,
            }
        )
    return out
