"""The service's Prometheus metrics, on a registry of their own (one per engine, so
tests get a fresh registry each), with the standard ``process_*`` and ``python_*``
series every Prometheus client exports."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)

from alertreflex import __version__

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
_RUN_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


NOTIFICATION_STATUSES = (
    "accepted",
    "invalid",
    "unauthorized",
    "too_large",
    "queue_full",
    "store_error",
)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        # The standard collectors prometheus_client puts on its global registry, here on
        # ours: CPU, memory, open files and start time from /proc (a restart shows as a
        # new process_start_time_seconds), the interpreter's version, the GC's work.
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        Info("alertreflex_build", "Version of alertreflex.", registry=r).info(
            {"version": __version__}
        )
        self.replica = Info(
            "alertreflex_replica",
            "This process among the replicas of its store: its name (serve --replica, by "
            "default the host name) and the store's kind (sqlite or postgresql).",
            registry=r,
        )
        self.notifications = Counter(
            "alertreflex_notifications",
            "Webhook notifications by how they were handled: "
            "accepted, invalid, unauthorized, too_large, queue_full, store_error.",
            ["status"],
            registry=r,
        )
        # Exported at 0 from the start: rate() cannot see a series' first sample, so
        # the first rejection after a restart would escape the alerts and dashboard.
        for status in NOTIFICATION_STATUSES:
            self.notifications.labels(status)
        self.http_refused = Counter(
            "alertreflex_http_refused",
            "HTTP requests refused before any handler, by reason: host (a Host name not "
            "served, see DNS rebinding) or login_throttled (too many failed logins).",
            ["reason"],
            registry=r,
        )
        for reason in ("host", "login_throttled"):
            self.http_refused.labels(reason)
        self.alerts = Counter(
            "alertreflex_alerts_received",
            "Alerts in accepted notifications, by alert status.",
            ["status"],
            registry=r,
        )
        self.duplicates = Counter(
            "alertreflex_duplicate_notifications",
            "Accepted notifications that changed nothing: repeats and duplicate deliveries.",
            registry=r,
        )
        self.runs = Counter(
            "alertreflex_runs",
            "Runs that ended, by reflex, trigger and outcome.",
            ["reflex", "trigger", "outcome"],
            registry=r,
        )
        self.skips = Counter(
            "alertreflex_runs_skipped",
            "Runs skipped, by reflex and reason.",
            ["reflex", "reason"],
            registry=r,
        )
        self.run_duration = Histogram(
            "alertreflex_run_duration_seconds",
            "Duration of executed runs.",
            ["reflex"],
            buckets=_RUN_BUCKETS,
            registry=r,
        )
        self.queued = Gauge(
            "alertreflex_queued_runs", "Runs accepted and waiting to start.", registry=r
        )
        self.running = Gauge("alertreflex_running_runs", "Runs executing now.", registry=r)
        self.queue_limit = Gauge(
            "alertreflex_queued_runs_limit",
            "max_queued_runs: past it the webhook answers 503.",
            registry=r,
        )
        self.paced = Counter(
            "alertreflex_intake_paced",
            "New notifications the webhook held while runs waited for a free slot "
            "(settings.intake_pacing).",
            registry=r,
        )
        self.paced_seconds = Counter(
            "alertreflex_intake_paced_seconds",
            "Time new notifications were held by intake pacing, summed.",
            registry=r,
        )
        self.ack_latency = Histogram(
            "alertreflex_webhook_duration_seconds",
            "Time from receiving a webhook to answering it (accepted notifications).",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.action_start_latency = Histogram(
            "alertreflex_action_start_delay_seconds",
            "Time from accepting an alert to its run's first step starting (undelayed runs).",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.reload_ok = Gauge(
            "alertreflex_config_last_reload_successful",
            "Whether the last config (re)load succeeded.",
            registry=r,
        )
        self.reload_ts = Gauge(
            "alertreflex_config_last_reload_success_timestamp_seconds",
            "When the config was last loaded successfully.",
            registry=r,
        )
        self.reflexes = Gauge("alertreflex_reflexes", "Reflexes in the running config.", registry=r)
        self.paused = Gauge(
            "alertreflex_paused",
            "1 while an operator has paused alertreflex: no new run acts.",
            registry=r,
        )
        self.disabled = Gauge(
            "alertreflex_reflex_disabled",
            "1 per reflex disabled by an operator (kind pause) or its circuit breaker.",
            ["reflex", "kind"],
            registry=r,
        )
        self.awaiting = Gauge(
            "alertreflex_runs_awaiting_approval",
            "Runs waiting for an operator to approve or reject them.",
            registry=r,
        )
        self.pruned = Counter(
            "alertreflex_pruned",
            "What retention removed: runs (their history: context, steps, artifacts; "
            "the row stays), notifications, episodes (forgotten with their runs).",
            ["what"],
            registry=r,
        )
        self.store_writable = Gauge(
            "alertreflex_store_writable",
            "1 while the store takes writes; 0 from a failed write (a run's progress, a "
            "notification) until one succeeds again. /-/ready answers 503 meanwhile.",
            registry=r,
        )
        self.store_writable.set(1)
        self.store_write_failures = Counter(
            "alertreflex_store_write_failures",
            "Writes to the store that failed, each retry included.",
            registry=r,
        )
        self.storm = Gauge(
            "alertreflex_storm_guard_tripped",
            "1 while a storm guard stops firing runs: scope is a reflex, or global.",
            ["scope"],
            registry=r,
        )
