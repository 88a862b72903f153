"""One replay: read the history once, run every config through it, and say what
each would do (and, for two, what changes). ``alertreflex replay`` and
``alertreflex sync --check --replay`` both end here."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from alertreflex.actions.base import Action, load_action_types
from alertreflex.config.loader import Config
from alertreflex.engine.preview import StepRenderer, alert_payload, notification_of
from alertreflex.replay import report
from alertreflex.replay.history import Episode, Prometheus
from alertreflex.replay.simulate import Assumptions, SimRun, simulate


@dataclass
class Range:
    start: float
    end: float
    interval: float | None = None  # the rule evaluation interval; None: from the samples
    external_labels: bool = False
    assumptions: Assumptions = field(default_factory=Assumptions)
    tz: tzinfo = UTC


def from_prometheus(url: str, r: Range) -> list[Episode]:
    """The episodes of ``r`` in the Prometheus at ``url``; raises HistoryError."""
    prometheus = Prometheus(url)
    try:
        extra = prometheus.external_labels() if r.external_labels else None
        return prometheus.episodes(r.start, r.end, interval=r.interval, external_labels=extra)
    finally:
        prometheus.close()


def replay(
    configs: list[tuple[str, Config]], episodes: list[Episode], r: Range
) -> list[dict[str, Any]]:
    """The report of each named config on the same ``episodes``."""
    actions: dict[str, Action[Any]] = {name: cls() for name, cls in load_action_types().items()}
    docs = []
    for name, cfg in configs:
        doc = report.summarize(
            simulate(cfg, episodes, r.end, r.assumptions),
            start=r.start,
            end=r.end,
            episodes=len(episodes),
            assumptions=r.assumptions,
            reflexes={x.name: x.team for x in cfg.reflexes.values()},
            tz=r.tz,
            render=_renderer(cfg, actions),
        )
        docs.append({"config": name, **doc})
    return docs


def output(docs: list[dict[str, Any]], form: str = "text") -> str:
    """One report (text, json or markdown), or for two the change and the second's."""
    if len(docs) == 1:
        (doc,) = docs
        if form == "json":
            return json.dumps(doc, indent=2)
        return report.markdown(doc) if form == "markdown" else report.text(doc)
    before, after = docs
    change = report.diff(before, after)
    if form == "json":
        return json.dumps({"before": before, "after": after, "diff": change}, indent=2)
    if form == "markdown":
        return report.diff_markdown(change, before["config"], after["config"], after)
    return report.diff_text(change, before["config"], after["config"]) + "\n\n" + report.text(after)


def _renderer(cfg: Config, actions: dict[str, Action[Any]]) -> report.Render:
    renderer = StepRenderer(cfg, actions)

    def render(run: SimRun) -> list[dict[str, Any]]:
        start = datetime.fromtimestamp(run.episode.start, UTC)
        n = notification_of(
            alert_payload(run.episode.labels, status=run.trigger.value, starts_at=start)
        )
        return renderer.render(cfg.reflexes[run.reflex], n.alerts[0], n, run.trigger)

    return render
