"""Does Alertmanager still list an alert? Asked when a reflex's ``delay`` ends.

Alertmanager's own view beats waiting for its resolved notification, which comes
only after ``resolve_timeout`` or Prometheus' next evaluation and group_interval.
"""

from __future__ import annotations

from typing import Any

import structlog

log = structlog.get_logger("alertreflex.amcheck")

TIMEOUT = 5.0


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


async def still_listed(base_url: str, labels: dict[str, str], fingerprint: str) -> bool | None:
    """True if Alertmanager lists the alert (any state), False if not, None if it
    could not be asked (the caller decides without it)."""
    params: list[tuple[str, Any]] = [("filter", f"{k}={_quote(v)}") for k, v in labels.items()]
    url = f"{base_url.rstrip('/')}/api/v2/alerts"
    # Imported here: only reflexes with an Alertmanager check need it, and httpx
    # costs every other process a few MiB of RSS.
    import httpx

    try:
        async with httpx.AsyncClient(timeout=TIMEOUT, trust_env=False) as client:
            resp = await client.get(url, params=params)
            resp.raise_for_status()
            alerts = resp.json()
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("alertmanager_check_failed", url=url, error=str(exc))
        return None
    if not isinstance(alerts, list):
        return None
    return any(isinstance(a, dict) and a.get("fingerprint") == fingerprint for a in alerts)
