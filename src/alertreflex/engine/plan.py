"""Turn a validated notification into what the store must write: pure, no I/O."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alertreflex.config.loader import Config
from alertreflex.core.models import NotificationIn, Trigger, alert_context, notification_context
from alertreflex.store.base import AlertRecord, Ingest, NewRun


def plan_ingest(
    n: NotificationIn,
    body: bytes,
    config: Config,
    *,
    now: float,
    capacity: int,
    new_id: Callable[[], str],
) -> Ingest:
    notif_ctx = notification_context(n)
    alerts: list[AlertRecord] = []
    runs: list[NewRun] = []
    matches = 0
    for a in n.alerts:
        starts_at = a.starts_at
        alerts.append(
            AlertRecord(
                fingerprint=a.fingerprint,
                starts_at=starts_at,
                status=a.status,
                labels=a.labels,
                annotations=a.annotations,
                ends_at=a.ends_at,
                generator_url=a.generatorURL,
            )
        )
        matched = config.index.match(a.labels)
        if not matched:
            continue
        matches += len(matched)
        trigger = Trigger(a.status)
        alert_ctx = None
        for reflex in matched:
            if not reflex.steps(trigger):
                continue
            if alert_ctx is None:
                alert_ctx = alert_context(a)
            resolved = trigger is Trigger.RESOLVED
            runs.append(
                NewRun(
                    id=new_id(),
                    reflex=reflex.name,
                    team=reflex.team,
                    fingerprint=a.fingerprint,
                    starts_at=starts_at,
                    trigger=trigger,
                    not_before=now + (reflex.resolve_delay if resolved else reflex.delay),
                    context={"alert": alert_ctx, "notification": notif_ctx},
                    flap_window=0.0 if resolved else reflex.resolve_delay,
                )
            )
    return Ingest(
        notification_id=new_id(),
        received_at=now,
        receiver=n.receiver,
        status=n.status,
        group_key=n.groupKey,
        body=body,
        alerts=alerts,
        runs=runs,
        capacity=capacity,
        matched=matches,
    )


def plan_restore(
    *,
    reflex: str,
    team: str,
    fingerprint: str,
    starts_at: str,
    context: dict[str, Any],
    not_before: float,
    new_id: Callable[[], str],
) -> NewRun:
    """The restore run of an episode: after a max_duration, or at shutdown."""
    return NewRun(
        id=new_id(),
        reflex=reflex,
        team=team,
        fingerprint=fingerprint,
        starts_at=starts_at,
        trigger=Trigger.RESTORE,
        not_before=not_before,
        context=context,
    )
