"""The metrics reference: every metric alertreflex exports, read from a registry on
which the classes that define them have registered their metrics: alertreflex's own,
then the standard ``process_*`` and ``python_*`` ones of prometheus_client's
collectors, in a table of their own."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from alertreflex.engine.metrics import Metrics
from alertreflex.sync.metrics import SyncMetrics
from alertreflex.web.connections import ConnectionMetrics
from alertreflex_docs import html

# What the exposition calls a family: a counter's samples end in _total, an info's
# in _info; a histogram adds _bucket, _sum and _count.
_SUFFIX = {"counter": "_total", "info": "_info"}


@dataclass(frozen=True)
class MetricDoc:
    name: str  # as exposed: alertreflex_runs_total
    type: str
    labels: tuple[str, ...]
    help: str


def registry() -> CollectorRegistry:
    """A fresh registry holding the metrics of the server (its HTTP connections
    included) and of ``sync --watch``."""
    reg = CollectorRegistry()
    Metrics(reg)
    SyncMetrics(reg)
    ConnectionMetrics(reg)
    return reg


def metrics(reg: CollectorRegistry | None = None) -> list[MetricDoc]:
    reg = reg if reg is not None else registry()
    # Label names are known to the collectors (prometheus_client keeps them in
    # ``_labelnames``); a family without samples yet does not show them otherwise.
    declared: dict[str, tuple[str, ...]] = {}
    for collector in list(reg._collector_to_names):
        name = getattr(collector, "_name", None)
        if name is not None:
            declared[name] = tuple(getattr(collector, "_labelnames", ()))
    found = []
    for family in reg.collect():
        labels = list(declared.get(family.name, ()))
        for sample in family.samples:
            labels += [k for k in sample.labels if k not in labels and k not in ("le", "quantile")]
        found.append(
            MetricDoc(
                family.name + _SUFFIX.get(family.type, ""),
                family.type,
                tuple(labels),
                " ".join(family.documentation.split()),
            )
        )
    return sorted(found, key=lambda m: m.name)


# Families that are not alertreflex's own: prometheus_client's standard collectors.
_STANDARD_PREFIXES = ("process_", "python_")

_STANDARD_INTRO = (
    "Beside these, `/metrics` has the standard series of prometheus_client's collectors,"
    " as every Prometheus client library exports them: the process's CPU, memory, open"
    " files and start time (`process_*`, read from `/proc`), the Python version"
    " (`python_info`) and the garbage collector's work (`python_gc_*`)."
)


def _table(found: list[MetricDoc]) -> str:
    rows = []
    for m in found:
        name = html.key(m.name, "_")
        if m.type == "histogram":
            name += "<br>and its " + ", ".join(html.code(s) for s in ("_bucket", "_sum", "_count"))
        rows.append(
            (
                html.anchor_id("metric", m.name),
                [
                    name,
                    html.text(m.type),
                    ", ".join(html.code(label) for label in m.labels) or "—",
                    html.text(m.help),
                ],
            )
        )
    return html.table(("Metric", "Type", "Labels", "Help"), rows)


def reference() -> str:
    found = metrics()
    standard = [m for m in found if m.name.startswith(_STANDARD_PREFIXES)]
    own = [m for m in found if m not in standard]
    return _table(own) + _STANDARD_INTRO + _table(standard)
