"""The sync's metrics, on alertreflex's registry or a standalone one (``--watch``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class SyncMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.runs = Counter(
            "alertreflex_sync_runs",
            "Sync runs by result: delivered, unchanged, invalid (the revision's files), "
            "failed (fetching, writing or a reload).",
            ["result"],
            registry=registry,
        )
        for result in ("delivered", "unchanged", "invalid", "failed"):
            self.runs.labels(result)
        self.last_successful = Gauge(
            "alertreflex_sync_last_run_successful",
            "1 if the last sync run delivered or found nothing new, 0 if it failed.",
            registry=registry,
        )
        self.last_success = Gauge(
            "alertreflex_sync_last_success_timestamp_seconds",
            "When a sync run last ended well.",
            registry=registry,
        )
        self.info = Gauge(
            "alertreflex_sync_revision_info",
            "The revision delivered last (delivered) and the one the last run failed on "
            "(failed, empty after a success).",
            ["delivered", "failed"],
            registry=registry,
        )

    def record(self, result: str, now: float, delivered: str, failed: str) -> None:
        self.runs.labels(result).inc()
        ok = result in ("delivered", "unchanged")
        self.last_successful.set(1 if ok else 0)
        if ok:
            self.last_success.set(now)
        self.info.clear()
        self.info.labels(delivered, failed).set(1)
